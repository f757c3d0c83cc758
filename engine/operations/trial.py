"""Planning a pipeline as it would be with some of its files changed, on a scratch copy, writing nothing.

The new-pipeline assistant and the DAG editor validate what they are about to write with the
project's own planning (config models, SQL, the DAG) this way, and report each problem at the
file and line it will have in the project.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from flowdeck.engine.errors import FlowdeckError, Location

if TYPE_CHECKING:
    from flowdeck.engine.plan.planner import Plan
    from flowdeck.engine.project.project import Project


def plan_trial(project: Project, pipeline: str, files: dict[str, str], *,
               also_check: Callable[[Project, Plan], Iterable[FlowdeckError]] | None = None) -> Plan:
    """Plan ``pipeline`` as it would be with ``files`` (file names in its folder → text) replacing or adding
    to its own, on a scratch copy: the project's flowdeck.yaml, its other pipelines (linked, so tables they
    publish can be read) and this one's folder (its files linked, but for those given). ``also_check``
    runs on the scratch project and the plan for more problems. Nothing is written into the project.

    Raises what the planner (or ``also_check``) finds, located in the project's own files.
    """
    from flowdeck.engine.plan.planner import build_plan
    from flowdeck.engine.project.project import Project as ProjectType

    folder = project.pipeline_folder(pipeline)
    scratch = Path(tempfile.mkdtemp(prefix="flowdeck-trial-"))
    try:
        pipelines = scratch / "pipelines"
        pipelines.mkdir()
        for name in project.pipeline_names():
            if name != pipeline:
                (pipelines / name).symlink_to(project.pipelines_dir / name, target_is_directory=True)
        trial_folder = pipelines / pipeline
        trial_folder.mkdir()
        for entry in folder.iterdir() if folder.is_dir() else ():
            if entry.name not in files:
                (trial_folder / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
        for name, text in files.items():
            (trial_folder / name).write_text(text, encoding="utf-8")
        config = project.config.model_copy(update={"pipelines_dir": str(pipelines),
                                                   "runtime_dir": str(scratch / ".flowdeck")})
        trial = ProjectType(root=project.root, config=config)
        try:
            plan = build_plan(trial, pipeline)
            problems = list(also_check(trial, plan)) if also_check is not None else []
            if problems:
                first, *rest = problems
                raise type(first)(first.what, location=first.location, hint=first.hint, excerpt=first.excerpt,
                                  also=rest)
            return plan
        except FlowdeckError as error:
            raise _relocated(error, trial_folder, folder) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _relocated(error: FlowdeckError, scratch_folder: Path, folder: Path) -> FlowdeckError:
    """``error`` (and those it carries) pointing at the project's files instead of their scratch copies."""

    def moved(location: Location | None) -> Location | None:
        if location is not None and location.path.is_relative_to(scratch_folder):
            return replace(location, path=folder / location.path.relative_to(scratch_folder))
        return location

    return type(error)(error.what, location=moved(error.location), hint=error.hint, excerpt=error.excerpt,
                       also=[_relocated(other, scratch_folder, folder) for other in error.also])
