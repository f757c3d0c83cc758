"""Messages the console's workers post; handlers on the app and screens turn them into widget state.

Workers never touch widgets: each builds a message with data ready to render and posts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:  # annotations only: the console's first paint must not wait for sqlglot or DuckDB
    from rich.console import RenderableType

    from flowdeck.engine.monitor.hints import Hint
    from flowdeck.engine.operations.dag_edit import DagSession
    from flowdeck.engine.monitor.views import RunMetrics, StatsReport, StepDetail
    from flowdeck.state import AlertRecord
    from flowdeck.engine.backends.base import QueryResult
    from flowdeck.engine.errors import FlowdeckError
    from flowdeck.engine.plan.describe import PipelineSummary
    from flowdeck.engine.project.editing import SaveResult
    from flowdeck.state import CheckRecord, EventRecord, RunRecord, StepRecord


@dataclass
class LedgerChanged(Message):
    """New events arrived in the ledger since ``previous_cursor`` (runs started anywhere)."""

    events: list[EventRecord]
    cursor: int
    previous_cursor: int


@dataclass
class EngineFailed(Message):
    """An engine call failed; shown as a readable dialog."""

    title: str
    error: FlowdeckError | None
    text: str


@dataclass
class PipelinesLoaded(Message):
    """The pipeline list."""

    summaries: list[PipelineSummary]


@dataclass
class DagLoaded(Message):
    """The DAG drawing of one pipeline (rich markup), or why there is none."""

    pipeline: str
    markup: str


@dataclass
class TestsRan(Message):
    """The SQL unit tests of a pipeline ran: the report to show, ready to render (plain text)."""

    pipeline: str
    title: str
    text: str


@dataclass
class RunsLoaded(Message):
    """Runs matching the runs screen's filter."""

    runs: list[RunRecord]


@dataclass
class RunDetailLoaded(Message):
    """A run, its steps and checks, and its events after the screen's cursor."""

    run: RunRecord
    steps: list[StepRecord]
    checks: list[CheckRecord]
    events: list[EventRecord]
    cursor: int
    reset_log: bool
    metrics: RunMetrics | None = None  # step measures, live query progress, CPU and memory over time
    hints: list[Hint] | None = None  # performance hints, once the run has finished (None: not read this time)


@dataclass
class StepDetailLoaded(Message):
    """One step of a run in full (error, log lines, checks, SQL)."""

    detail: StepDetail


@dataclass
class StatsLoaded(Message):
    """Run history and trends for the dashboard."""

    report: StatsReport


@dataclass
class AlertsLoaded(Message):
    """The alert list."""

    alerts: list[AlertRecord]


@dataclass
class AlertAcknowledged(Message):
    """An alert was acknowledged (or already was)."""

    alert_id: str
    newly: bool


@dataclass
class RunSubmitted(Message):
    """A run was queued and handed to a detached worker."""

    run: RunRecord
    worker_pid: int | None
    action: str  # launched, resumed, rerun


@dataclass
class LaunchPlanned(Message):
    """The launch dialog's ``request``-th plan, ready to show (or why there is none)."""

    request: int
    text: RenderableType


@dataclass
class RunCancelRequested(Message):
    """A cancel was requested (or the run had already finished)."""

    run: RunRecord


@dataclass
class TablesListed(Message):
    """The tables a pipeline publishes."""

    tables: list[str]


@dataclass
class PreviewWaiting(Message):
    """The warehouse is held by a writer; who, and for how long we have waited."""

    table: str
    text: str


@dataclass
class PreviewFailed(Message):
    """A table could not be read (not published yet, the warehouse busy too long), in words."""

    table: str
    what: str
    hint: str | None


@dataclass
class PreviewLoaded(Message):
    """The first rows of a table."""

    table: str
    result: QueryResult


@dataclass
class FilesListed(Message):
    """A pipeline's editable files and their text."""

    files: list[tuple[Path, str]]


@dataclass
class FilesReread(Message):
    """The editor's files as they are on disk now (None: removed), after they changed elsewhere."""

    files: list[tuple[Path, str | None]]


@dataclass
class FileChecked(Message):
    """Problems in one version (``generation``) of an edited file."""

    path: Path
    generation: int
    problems: list[FlowdeckError]


@dataclass
class FileSaved(Message):
    """A file was written (its old version kept as a backup)."""

    result: SaveResult
    text: str


@dataclass
class SaveRefused(Message):
    """A save was refused because the file has problems (the operator may force it)."""

    path: Path
    problems: list[FlowdeckError]


@dataclass
class DraftChecked(Message):
    """The new-pipeline form's answers (version ``generation``) as files, and what is wrong with them.

    ``fields`` holds problems of single answers by field name (shown beside the input);
    ``problems`` holds what the project's validation found in the files.
    """

    generation: int
    files: dict[str, str]
    fields: dict[str, str]
    problems: list[FlowdeckError]


@dataclass
class PipelineCreated(Message):
    """The assistant wrote a new pipeline's files."""

    name: str
    paths: list[Path]


@dataclass
class DagOpened(Message):
    """A pipeline's DAG was read into an editing session (engine/operations/dag_edit.py)."""

    session: DagSession


@dataclass
class DagChanged(Message):
    """A DAG change was accepted by the session's validation; ``note`` says what it was."""

    note: str


@dataclass
class DagSaved(Message):
    """The pending DAG changes were written: these files."""

    paths: list[Path]
