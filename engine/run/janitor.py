"""The janitor: put the ledger right and sweep what dead runs left behind, in one sequence.

``tidy`` is that sequence, the same for a run starting and for ``flowdeck cleanup``: mark runs
whose process died abandoned, reconcile the ledger from the warehouse's commit markers, then
remove staging tables, half-written export files and temporary folders of runs that are over.
A run's leftovers carry its id, so they are removed only once the ledger says the run is over
(finished, or abandoned because its process died). A run tidies at its start, sweeping the
exports of its own pipeline; ``clean_up`` tidies everything on demand and reports it.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path

from flowdeck.engine.backends.base import Backend, run_tag
from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.project.checksums import shown_path
from flowdeck.engine.project.config.steps import DatabaseTarget, LoadStep
from flowdeck.engine.project.project import Project
from flowdeck.engine.run import tempfiles
from flowdeck.engine.run.backend_factory import OnWait, open_backend
from flowdeck.engine.run.liveness import reap_dead_runs
from flowdeck.engine.run.reconcile import reconcile_ledger
from flowdeck.engine.sql.params import path_params
from flowdeck.engine.steps.publish import PARTIAL_MARK
from flowdeck.state import Ledger
from flowdeck.state.records import CommitRecord
from flowdeck.state.status import RUN_LIVE


@dataclass
class CleanupReport:
    """What a sweep found and removed (``flowdeck cleanup --json``)."""

    abandoned: list[str] = field(default_factory=list)
    reconciled: list[str] = field(default_factory=list)
    staging_tables: list[str] = field(default_factory=list)
    partial_files: list[str] = field(default_factory=list)
    temp_files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    recovered: list[CommitRecord] = field(default_factory=list, repr=False)  # what ``reconciled`` describes

    @property
    def removed_anything(self) -> bool:
        """Whether the sweep changed anything."""
        return any((self.abandoned, self.reconciled, self.staging_tables, self.partial_files, self.temp_files))

    @property
    def swept(self) -> list[str]:
        """The leftovers removed: staging tables, partial exports, temporary folders."""
        return self.staging_tables + self.partial_files + self.temp_files

    def counts(self) -> dict[str, int]:
        """How many of each thing were found (for the audit entry); kinds with none left out."""
        return {name: len(items) for name, items in self.to_json().items() if items}

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


def tidy(project: Project, ledger: Ledger, backend: Backend | None, pipelines: list[str]) -> CleanupReport:
    """The janitor's sequence: reap dead runs, reconcile the ledger from the commit markers, then
    sweep staging tables, the half-written exports of ``pipelines`` and temporary folders of runs
    that are over. ``backend`` must be a writer (it holds the DuckDB warehouse meanwhile); None for a
    run that opens no warehouse because its seal shows it untouched (``backends/duckdb/seal.py``: the
    ledger knows its every commit and no staging table is left in it), so there is nothing in it to
    reconcile or sweep."""
    reaped = reap_dead_runs(ledger)
    recovered = reconcile_ledger(ledger, backend) if backend is not None else []
    report = CleanupReport(
        abandoned=sorted({run.run_id for run in reaped}),
        reconciled=[f"{c.output}: {c.kind} by {c.step} of run {c.run_id} (commit {c.seq})" for c in recovered],
        recovered=recovered,
    )
    live = live_run_ids(ledger)
    if backend is not None:
        sweep_staging(backend, live, report)
    sweep_partials(project, pipelines, live, report)
    sweep_temp(project, live, report)
    return report


def clean_up(project: Project, ledger: Ledger, on_wait: OnWait | None = None) -> CleanupReport:
    """``flowdeck cleanup``: tidy the whole project, waiting for the warehouse; record what it removed."""
    backend = open_backend(project, "maintain", on_wait=on_wait)
    try:
        report = tidy(project, ledger, backend, project.pipeline_names())
    finally:
        backend.close()
    if report.removed_anything:
        ledger.log(None, "cleanup: " + ", ".join(f"{count} {name.replace('_', ' ')}"
                                                 for name, count in report.counts().items()),
                   kind="cleanup", payload=report.to_json())
    return report


def live_run_ids(ledger: Ledger) -> set[str]:
    """Runs that may still be using their leftovers."""
    return {run.run_id for run in ledger.runs_in_status(*RUN_LIVE)}


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
                report.partial_files.append(shown_path(path, project.root))
            except OSError as error:
                report.problems.append(f"{path}: {error.strerror or error}")


def sweep_temp(project: Project, live: set[str], report: CleanupReport) -> None:
    """Remove the private temporary folders (DuckDB's spill files) of runs that are not live."""
    for folder in tempfiles.sweep(project.temp_dir, live):
        report.temp_files.append(shown_path(folder, project.root))


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

