"""Plugins: step kinds, connectors, alert channels and backends that installed packages add through entry points.

- ``declare``: what a plugin declares (``StepKind``, ``ConnectorKind``, ``ChannelKind``,
  ``BackendKind``): its name, its pydantic config model and the functions that do its work;
- ``registry``: one registry a group (``flowdeck.step_kinds``, ``flowdeck.connectors``,
  ``flowdeck.channels``, ``flowdeck.backends``), discovered on first use, a broken plugin kept
  with the reason instead of raised;
- ``pluggable``: the config models' hook, so ``validate``, ``flowdeck schema`` and the
  configuration reference take a plugin's config model as if it were built in;
- ``inventory``: what ``flowdeck plugins`` lists.

Discovery reads installed packages' metadata, so it happens only when something asks for a
name flowdeck does not build in (or for the list): a project that uses no plugin never pays it.
"""
