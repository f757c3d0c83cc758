"""Sweep what dead runs left behind: staging tables, half-written export files, temporary folders.

A run's leftovers carry its id, so they are removed only once the ledger says the run is over
(finished, or abandoned because its process died). Runs sweep at their start; ``flowdeck
cleanup`` sweeps everything on demand and reports it.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path

from flowdeck.engine.backends.base import Backend, run_tag
from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.project.config.steps import DatabaseTarget, LoadStep
from flowdeck.engine.project.project import Project
from flowdeck.engine.run import tempfiles
from flowdeck.engine.sql.params import path_params
from flowdeck.engine.steps.publish import PARTIAL_MARK
from flowdeck.state import Ledger

LIVE_STATUSES = ("queued", "running")


@dataclass
class CleanupReport:
    """What a sweep found and removed (``flowdeck cleanup --json``)."""

    abandoned: list[str] = field(default_factory=list)
    reconciled: list[str] = field(default_factory=list)
    staging_tables: list[str] = field(default_factory=list)
    partial_files: list[str] = field(default_factory=list)
    temp_files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def removed_anything(self) -> bool:
        """Whether the sweep changed anything."""
        return any((self.abandoned, self.reconciled, self.staging_tables, self.partial_files, self.temp_files))

    def to_json(self) -> dict[str, list[str]]:
        """The documented JSON object."""
        return {
            "abandoned_runs": self.abandoned,
            "reconciled_commits": self.reconciled,
            "staging_tables": self.staging_tables,
            "partial_files": self.partial_files,
            "temp_files": self.temp_files,
            "problems": self.problems,
        }


def live_run_ids(ledger: Ledger) -> set[str]:
    """Runs that may still be using their leftovers."""
    return {run.run_id for run in ledger.runs_in_status(*LIVE_STATUSES)}


def sweep_staging(backend: Backend, live: set[str], report: CleanupReport) -> None:
    """Drop staging tables of runs that are not live."""
    tags = {run_tag(run_id) for run_id in live}
    for leftover in backend.staging_leftovers():
        if leftover.run_tag in tags:
            continue
        try:
            backend.drop_leftover(leftover)
            report.staging_tables.append(leftover.name)
        except FlowdeckError as error:  # best effort: one stuck object must not stop the rest
            report.problems.append(f"{leftover.name}: {error.what}")


def sweep_partials(project: Project, pipelines: list[str], live: set[str], report: CleanupReport) -> None:
    """Remove half-written export files (``.NAME.fdpartial-RUN``) of runs that are not live."""
    for folder in sorted(_export_folders(project, pipelines)):
        for name in glob.glob(str(folder / f".*{PARTIAL_MARK}*")):
            path = Path(name)
            owner = path.name.rsplit(PARTIAL_MARK, 1)[-1]
            if owner in live:
                continue
            try:
                path.unlink()
                report.partial_files.append(_shown(project, path))
            except OSError as error:
                report.problems.append(f"{path}: {error.strerror or error}")


def sweep_temp(project: Project, live: set[str], report: CleanupReport) -> None:
    """Remove the private temporary folders (DuckDB's spill files) of runs that are not live."""
    for folder in tempfiles.sweep(project.temp_dir, live):
        report.temp_files.append(_shown(project, folder))


def _export_folders(project: Project, pipelines: list[str]) -> set[Path]:
    folders: set[Path] = set()
    for name in pipelines:
        try:
            source = project.pipeline(name)
        except FlowdeckError:
            continue  # an invalid pipeline writes nothing
        for step in source.config.steps:
            if not isinstance(step, LoadStep) or isinstance(step.to, DatabaseTarget):
                continue  # a database load leaves nothing beside its target: its transaction does
            template = step.to.path
            for param in path_params(template):
                template = template.replace("{" + param + "}", "*")
            for folder in glob.glob(str(project.resolve_path(template).parent)):
                folders.add(Path(folder))
    return folders


def _shown(project: Project, path: Path) -> str:
    return str(path.relative_to(project.root)) if path.is_relative_to(project.root) else str(path)

