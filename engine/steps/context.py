"""What a step is given and what it gives back: ``StepContext``, ``StepResult`` and the recorders
through which steps report checks, lineage and progress to the run (the ledger, by way of the executor)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from flowdeck.engine.backends.base import Backend, CommitMarker
from flowdeck.engine.project.project import Project
from flowdeck.engine.steps.check_queries import CheckQuery
from flowdeck.state import Ledger
from flowdeck.state.records import ExportRecord, StepVersion


class CheckRecorder(Protocol):
    """Where check outcomes go (the ledger, through the executor)."""

    def __call__(self, step: str, query: CheckQuery, status: str, failing: int, message: str,
                 sample: list[dict[str, Any]]) -> None: ...


class LineageRecorder(Protocol):
    """Where a step says which inputs fed its output (the ledger, through the executor)."""

    def __call__(self, step: str, *, output: str, output_kind: str, output_checksum: str | None,
                 inputs: Sequence[tuple[str, str, str | None]]) -> None: ...


def _ignore(*_: Any, **__: Any) -> None:
    return None


@dataclass
class StepContext:
    """Everything a step needs: the project, the backend, the run, its parameters and options."""

    project: Project
    backend: Backend
    run_id: str
    params: dict[str, Any]
    record_check: CheckRecorder
    ledger: Ledger
    record_lineage: LineageRecorder = field(default=_ignore)
    log: Callable[..., None] = field(default=_ignore)  # log(step, message, level=..., payload=...)
    warehouse_id: str = "none"
    reprocess: bool = False
    pipeline: str = ""
    versions: dict[str, StepVersion] = field(default_factory=dict)  # step → the fingerprint it runs with

    def progress(self, step: str, verb: str) -> Callable[[int, int], None]:
        """A progress report ``(rows, batches)`` written as a ``step.progress`` event: ``N rows <verb> so far``."""

        def report(rows: int, batches: int) -> None:
            self.log(step, f"{rows:,} rows {verb} so far", kind="step.progress", payload={"rows": rows, "batches": batches})

        return report


@dataclass
class StepResult:
    """What a step did: its rows, the commit it made, the file it wrote, a note for people."""

    rows: int | None
    commit: CommitMarker | None = None
    export: ExportRecord | None = None
    note: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
