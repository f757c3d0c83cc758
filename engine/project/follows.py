"""The ``after:`` triggers checked across pipelines: each names a pipeline that exists, and none closes a cycle."""

from __future__ import annotations

from flowdeck.engine.errors import ConfigError, FlowdeckError
from flowdeck.engine.project.config.pipeline import AfterTrigger
from flowdeck.engine.project.project import PipelineSource, Project, config_error_at, did_you_mean
from flowdeck.engine.project.yamlfile import YamlPath


def after_problems(project: Project, source: PipelineSource) -> list[ConfigError]:
    """Every problem of ``source``'s ``after:`` triggers: unknown pipelines (with the nearest name), a
    trigger listed twice, and a pipeline that would follow itself, directly or through others."""
    problems: list[ConfigError] = []
    if not source.config.after_triggers:
        return problems  # the common case costs nothing, not even listing the pipelines
    names = project.pipeline_names()
    seen: set[tuple[str, ...]] = set()
    for index, trigger in enumerate(source.config.triggers):
        if not isinstance(trigger, AfterTrigger):
            continue
        written_as_list = isinstance(_written(source, index).get("after"), list)  # `after: orders` has no items
        identity = tuple(sorted(trigger.after))
        if identity in seen:
            problems.append(config_error_at(source, ("triggers", index, "after"),
                                            f"another `after:` trigger already follows {', '.join(trigger.after)}",
                                            hint="keep one of the two"))
            continue
        seen.add(identity)
        for position, upstream in enumerate(trigger.after):
            at: YamlPath = ("triggers", index, "after", position) if written_as_list else \
                ("triggers", index, "after")
            if upstream == source.name:
                problems.append(config_error_at(source, at, f"pipeline `{source.name}` cannot run after itself",
                                                hint="an `after:` trigger lists other pipelines"))
            elif upstream not in names:
                problems.append(config_error_at(
                    source, at, f"`after:` names `{upstream}`, which is not a pipeline of this project",
                    hint=did_you_mean(upstream, [name for name in names if name != source.name])
                    or "create it under pipelines/ first"))
            else:
                cycle = _path_back(project, upstream, source.name, names)
                if cycle is not None:
                    shown = " → ".join([source.name, *cycle])
                    problems.append(config_error_at(
                        source, at, f"`after:` makes a cycle: {shown} (each runs after the next, so none would start)",
                        hint="remove one of these `after:` entries"))
    return problems


def _written(source: PipelineSource, index: int) -> dict[str, object]:
    """The trigger at ``index`` as the YAML holds it (a mapping, once the file is valid)."""
    data = source.document.data
    triggers = data.get("triggers") if isinstance(data, dict) else None
    found = triggers[index] if isinstance(triggers, list) and index < len(triggers) else None
    return found if isinstance(found, dict) else {}


def _path_back(project: Project, start: str, target: str, names: list[str]) -> list[str] | None:
    """The pipelines from ``start`` through ``after:`` triggers back to ``target`` (ending with it), if any.

    Pipelines whose YAML is invalid are passed over: their own validation reports them.
    """
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    visited: set[str] = set()
    while stack:
        name, path = stack.pop()
        if name in visited:
            continue
        visited.add(name)
        try:
            triggers = project.pipeline(name).config.after_triggers
        except FlowdeckError:
            continue
        for upstream in sorted({upstream for trigger in triggers for upstream in trigger.after}, reverse=True):
            if upstream == target:
                return [*path, target]
            if upstream not in visited and upstream in names:
                stack.append((upstream, [*path, upstream]))
    return None


def followers_of(project: Project, name: str) -> list[str]:
    """The pipelines with an ``after:`` trigger listing ``name`` (valid ones), sorted."""
    found: list[str] = []
    for other in project.pipeline_names():
        try:
            triggers = project.pipeline(other).config.after_triggers
        except FlowdeckError:
            continue
        if any(name in trigger.after for trigger in triggers):
            found.append(other)
    return found
