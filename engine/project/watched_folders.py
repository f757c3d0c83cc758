"""A pipeline's file triggers checked together: a folder several environments watch is archived by prod's trigger only.

Each environment's trigger on a folder starts a run for every file that lands there, and each run
reads the folder when it runs. Moving a file away (``archive:``) is what the daemon does for prod,
once every other environment's trigger has read it (engine/daemon/watch.py). A development
environment's trigger that archived would move files prod has yet to read, and two triggers that
both archived would race for each file; both are refused here, naming the file and the line.
"""

from __future__ import annotations

from pathlib import Path

from flowdeck.engine.errors import ConfigError
from flowdeck.engine.project.config.pipeline import FileTrigger
from flowdeck.engine.project.project import PROD, PipelineSource, Project, config_error_at


def shared_folder_problems(project: Project, source: PipelineSource) -> list[ConfigError]:
    """A trigger outside prod with ``archive:`` on a folder a trigger of another environment also watches."""
    triggers = [(index, trigger) for index, trigger in enumerate(source.config.triggers)
                if isinstance(trigger, FileTrigger)]
    if len({trigger.env for _, trigger in triggers}) < 2:
        return []  # the common case: one environment watches its folders, as before environments
    by_folder: dict[Path, list[tuple[int, FileTrigger]]] = {}
    for index, trigger in triggers:
        by_folder.setdefault(project.resolve_path(trigger.folder), []).append((index, trigger))
    problems: list[ConfigError] = []
    for sharing in by_folder.values():
        for index, trigger in sharing:
            if trigger.archive is None or trigger.env == PROD:
                continue
            others = [(other_index, other) for other_index, other in sharing if other.env != trigger.env]
            if not others:
                continue
            other_index, other = others[0]
            line = source.document.location(("triggers", other_index)).line
            problems.append(config_error_at(
                source, ("triggers", index, "archive"),
                f"the `{trigger.env}` trigger on {trigger.folder} would archive (move away) files that the "
                f"`{other.env}` trigger on the same folder (line {line}) reads too",
                hint="remove `archive:` from this trigger: when several environments watch one folder, only prod's "
                "trigger archives, once every environment's run of the file has ended"))
    return problems
