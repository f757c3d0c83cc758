"""What is installed: every plugin of every group, with its package, version and, for a broken one, why."""

from __future__ import annotations

from typing import Any

from flowdeck.engine.plugins.registry import REGISTRIES, PluginInfo


def installed_plugins() -> list[PluginInfo]:
    """Every entry point of the four groups, working or broken, group by group."""
    return [info for registry in REGISTRIES for info in registry.infos()]


def plugin_schema(info: PluginInfo) -> dict[str, Any] | None:
    """The JSON Schema of a working plugin's config model (what ``flowdeck plugins --json`` shows), else None."""
    registry = next(registry for registry in REGISTRIES if registry.group == info.group)
    declared = registry.declarations().get(info.name)
    return declared.config.model_json_schema() if declared is not None else None
