"""Rows of the ledger as typed, immutable records, and their stable JSON form."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from flowdeck.state.status import RUN_FINISHED, RunStatus, StepStatus


def iso(ts: float | None) -> str | None:
    """A unix time as an ISO 8601 UTC string (what ``--json`` prints)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def elapsed(started_at: float | None, ended_at: float | None) -> float | None:
    """Seconds from a start to its end, or to now while it is still going; None before it starts."""
    if started_at is None:
        return None
    return (ended_at or time.time()) - started_at


def rounded(seconds: float | None) -> float | None:
    """Seconds to the millisecond, as ``--json`` prints them."""
    return None if seconds is None else round(seconds, 3)


@dataclass(frozen=True)
class RunOwner:
    """The process a run is claimed for: its pid, host, and start time (so a later process given the
    same pid is not mistaken for it)."""

    pid: int
    host: str
    process_started: str | None


@dataclass(frozen=True)
class RunRecord:
    """One run of a pipeline."""

    run_id: str
    pipeline: str
    trigger_kind: str
    trigger_key: str
    status: RunStatus
    params: dict[str, Any]
    options: dict[str, Any]
    requested_by: str | None
    parent_run_id: str | None
    created_at: float
    started_at: float | None
    ended_at: float | None
    heartbeat_at: float | None
    owner_pid: int | None
    owner_host: str | None
    owner_started: str | None
    cancel_requested: bool
    error: str | None
    version: int
    environment: str = "prod"  # where the run writes: prod's warehouse, or a development environment's

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RunRecord:
        """Build from a ``runs`` row."""
        return cls(
            run_id=row["run_id"],
            pipeline=row["pipeline"],
            trigger_kind=row["trigger_kind"],
            trigger_key=row["trigger_key"],
            status=RunStatus(row["status"]),
            params=json.loads(row["params_json"]),
            options=json.loads(row["options_json"]),
            requested_by=row["requested_by"],
            parent_run_id=row["parent_run_id"],
            created_at=row["created_at"],
            started_at=row["started_at"],
            ended_at=row["ended_at"],
            heartbeat_at=row["heartbeat_at"],
            owner_pid=row["owner_pid"],
            owner_host=row["owner_host"],
            owner_started=row["owner_started"],
            cancel_requested=bool(row["cancel_requested"]),
            error=row["error"],
            version=row["version"],
            environment=row["environment"] if "environment" in row.keys() else "prod",  # a ledger not yet migrated
        )

    @property
    def finished(self) -> bool:
        """Whether the run has reached a final state."""
        return self.status in RUN_FINISHED

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (or to now, while running)."""
        return elapsed(self.started_at, self.ended_at)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object of a run (``flowdeck runs --json``)."""
        return {
            "run_id": self.run_id,
            "pipeline": self.pipeline,
            "environment": self.environment,
            "status": self.status,
            "trigger": self.trigger_kind,
            "trigger_key": self.trigger_key,
            "params": self.params,
            "requested_by": self.requested_by,
            "parent_run_id": self.parent_run_id,
            "options": self.options,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "duration_seconds": rounded(self.duration),
            "error": self.error,
        }


@dataclass(frozen=True)
class StepRecord:
    """One step of one run."""

    run_id: str
    step: str
    kind: str
    output: str | None
    position: int
    status: StepStatus
    attempts: int
    started_at: float | None
    ended_at: float | None
    rows_out: int | None
    error: str | None
    reused_from: str | None = None
    engine: str | None = None
    fingerprint: str | None = None
    reuse_reason: str | None = None  # "unchanged": nothing it depends on changed; "prod": read from prod's table
    #                                    (a development environment); None with reused_from: a resume

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> StepRecord:
        """Build from a ``steps`` row."""
        return cls(**{key: row[key] for key in row.keys() if key != "status"}, status=StepStatus(row["status"]))

    @property
    def duration(self) -> float | None:
        """Seconds the step ran (so far, while running)."""
        return elapsed(self.started_at, self.ended_at)

    @property
    def unchanged(self) -> bool:
        """Whether the step was not run because nothing that determines its output had changed (here, or since
        prod's version, which a development environment then reads)."""
        return self.reuse_reason in (UNCHANGED, FROM_PROD)

    @property
    def from_prod(self) -> bool:
        """Whether a development environment reads this step's output from prod's warehouse."""
        return self.reuse_reason == FROM_PROD

    @property
    def shown_status(self) -> str:
        """The status as people and ``show --json`` read it: ``unchanged`` for a step its fingerprint spared."""
        return UNCHANGED if self.unchanged else str(self.status)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object of a step (``flowdeck show --json``)."""
        return {
            "step": self.step,
            "kind": self.kind,
            "output": self.output,
            "status": self.shown_status,
            "attempts": self.attempts,
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "duration_seconds": rounded(self.duration),
            "rows": self.rows_out,
            "error": self.error,
            "reused_from": self.reused_from,
            "from_prod": self.from_prod,
            "engine": self.engine,
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt of one step: retries of transient failures each get their own."""

    run_id: str
    step: str
    attempt: int
    status: StepStatus
    started_at: float
    ended_at: float | None
    transient: bool | None
    retry_in: float | None
    error: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> AttemptRecord:
        """Build from a ``step_attempts`` row."""
        transient = row["transient"]
        return cls(
            run_id=row["run_id"], step=row["step"], attempt=row["attempt"], status=StepStatus(row["status"]),
            started_at=row["started_at"], ended_at=row["ended_at"],
            transient=None if transient is None else bool(transient), retry_in=row["retry_in"], error=row["error"],
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON object of an attempt (``flowdeck show --json``, under each step)."""
        return {
            "attempt": self.attempt,
            "status": self.status,
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "transient": self.transient,
            "retry_in_seconds": self.retry_in,
            "error": self.error,
        }


UNCHANGED = "unchanged"
"""The shown status (and ``steps.reuse_reason``) of a step reused because its fingerprint had not changed."""
FROM_PROD = "prod"
"""``steps.reuse_reason`` of a step a development environment reads from prod: its fingerprint is prod's
current version's, so the environment reads prod's table rather than build its own (shown ``unchanged (prod)``)."""


@dataclass(frozen=True)
class StepVersion:
    """The fingerprint of one step's output and what it was computed from (``detail``: the components'
    hashes, the normalised SQL, the configuration; see engine/plan/fingerprint.py), as recorded
    with a publish or a succeeded step."""

    fingerprint: str
    pipeline: str
    step: str
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The JSON object a commit marker carries (under ``state["version"]``)."""
        return {"fingerprint": self.fingerprint, "pipeline": self.pipeline, "step": self.step, "detail": self.detail}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepVersion:
        """Read back what ``to_json`` wrote."""
        return cls(fingerprint=str(data["fingerprint"]), pipeline=str(data["pipeline"]), step=str(data["step"]),
                   detail=dict(data.get("detail") or {}))


@dataclass(frozen=True)
class PromotedStep:
    """A step whose table a promote made prod's (``Ledger.record_promote``)."""

    step: str
    kind: str
    output: str
    rows: int | None
    fingerprint: str | None


@dataclass(frozen=True)
class PromoteRun:
    """A promote of an environment as one pipeline's run in the ledger: the tables of that pipeline it published."""

    run_id: str
    pipeline: str
    steps: tuple[PromotedStep, ...]


@dataclass(frozen=True)
class InputFile:
    """A file an extract step read: where, how big, and its content hash."""

    path: str
    size: int
    mtime_ns: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        """The JSON object of an input file."""
        return {"path": self.path, "size": self.size, "mtime_ns": self.mtime_ns, "sha256": self.sha256}


@dataclass(frozen=True)
class Watermark:
    """The highest value of a column an incremental step has read from its delta source."""

    column: str
    value: str
    value_type: str


@dataclass(frozen=True)
class Interval:
    """A half-open range [start, end) of a time column an incremental step has processed."""

    column: str
    start: str
    end: str


@dataclass(frozen=True)
class CommitRecord:
    """A commit marker: one publish (or rollback) of one table, and the incremental state it carried.

    ``data_run_id`` is the run whose data the table holds after the commit (the publishing run,
    or the run a rollback restored); ``base_run_id`` the data an incremental publish merged into
    (None when the table was replaced whole).
    """

    warehouse_id: str
    seq: int
    run_id: str
    step: str
    output: str
    kind: str
    data_run_id: str
    base_run_id: str | None
    rows: int | None
    checksum: str
    committed_at: float
    requested_by: str | None = None
    reconciled: bool = False
    files: tuple[InputFile, ...] = ()
    watermark: Watermark | None = None
    intervals: tuple[Interval, ...] = ()
    version: StepVersion | None = None  # what the published output was made from (None: rollbacks, older commits)
    fingerprint: str | None = None  # the version's fingerprint, as stored in the commits row

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> CommitRecord:
        """Build from a ``commits`` row (without its state rows)."""
        return cls(
            warehouse_id=row["warehouse_id"], seq=row["seq"], run_id=row["run_id"], step=row["step"],
            output=row["output"], kind=row["kind"], data_run_id=row["data_run_id"], base_run_id=row["base_run_id"],
            rows=row["rows"], checksum=row["checksum"], committed_at=row["committed_at"],
            requested_by=row["requested_by"], reconciled=bool(row["reconciled"]),
            fingerprint=row["fingerprint"] if "fingerprint" in row.keys() else None,
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON object of a commit."""
        return {
            "seq": self.seq,
            "run_id": self.run_id,
            "step": self.step,
            "output": self.output,
            "kind": self.kind,
            "data_run_id": self.data_run_id,
            "base_run_id": self.base_run_id,
            "rows": self.rows,
            "checksum": self.checksum,
            "committed_at": iso(self.committed_at),
            "requested_by": self.requested_by,
            "reconciled": self.reconciled,
        }


@dataclass(frozen=True)
class ExportRecord:
    """A file a load step wrote, complete, with its checksum."""

    run_id: str
    step: str
    path: str
    format: str
    rows: int
    bytes: int
    sha256: str
    ts: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ExportRecord:
        """Build from an ``exports`` row."""
        return cls(**{key: row[key] for key in row.keys()})

    def to_json(self) -> dict[str, Any]:
        """The JSON object of an export."""
        return {"step": self.step, "path": self.path, "format": self.format, "rows": self.rows,
                "bytes": self.bytes, "sha256": self.sha256, "ts": iso(self.ts)}


@dataclass(frozen=True)
class EventRecord:
    """One entry of the append-only event stream."""

    event_id: int
    run_id: str | None
    ts: float
    kind: str
    step: str | None
    level: str
    message: str
    payload: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> EventRecord:
        """Build from an ``events`` row."""
        payload = row["payload_json"]
        return cls(
            event_id=row["event_id"],
            run_id=row["run_id"],
            ts=row["ts"],
            kind=row["kind"],
            step=row["step"],
            level=row["level"],
            message=row["message"],
            payload=json.loads(payload) if payload else None,
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON object of an event (``flowdeck logs --json``)."""
        return {
            "event_id": self.event_id,
            "run_id": self.run_id,
            "ts": iso(self.ts),
            "kind": self.kind,
            "step": self.step,
            "level": self.level,
            "message": self.message,
            "payload": self.payload,
        }


@dataclass(frozen=True)
class CheckRecord:
    """The outcome of one data-quality check in one run."""

    run_id: str
    step: str
    check_name: str
    severity: str
    status: str
    failing_rows: int
    message: str | None
    sample: list[dict[str, Any]]
    ts: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> CheckRecord:
        """Build from a ``check_results`` row."""
        return cls(
            run_id=row["run_id"],
            step=row["step"],
            check_name=row["check_name"],
            severity=row["severity"],
            status=row["status"],
            failing_rows=row["failing_rows"],
            message=row["message"],
            sample=json.loads(row["sample_json"]) if row["sample_json"] else [],
            ts=row["ts"],
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON object of a check result."""
        return {
            "step": self.step,
            "check": self.check_name,
            "severity": self.severity,
            "status": self.status,
            "failing_rows": self.failing_rows,
            "message": self.message,
            "sample": self.sample,
        }


@dataclass(frozen=True)
class DaemonLease:
    """Who runs (or last ran) the project's daemon, where it listens, and what it last reported."""

    holder_id: str
    pid: int
    host: str
    started_at: float
    heartbeat_at: float
    stopped_at: float | None
    http_address: str | None
    report: dict[str, Any]

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> DaemonLease:
        """Build from a ``daemon_lease`` row."""
        return cls(
            holder_id=row["holder_id"],
            pid=row["pid"],
            host=row["host"],
            started_at=row["started_at"],
            heartbeat_at=row["heartbeat_at"],
            stopped_at=row["stopped_at"],
            http_address=row["http_address"],
            report=json.loads(row["report_json"]) if row["report_json"] else {},
        )


@dataclass(frozen=True)
class ScheduleTick:
    """What the daemon did with one slot of one pipeline's schedule."""

    pipeline: str
    slot: float
    status: Literal["submitted", "skipped", "missed", "failed"]
    run_id: str | None
    reason: str | None
    ts: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ScheduleTick:
        """Build from a ``schedule_ticks`` row."""
        return cls(**{key: row[key] for key in row.keys()})

    def to_json(self) -> dict[str, Any]:
        """The JSON object of a tick (``flowdeck status --json``)."""
        return {"slot": iso(self.slot), "status": self.status, "run_id": self.run_id, "reason": self.reason}


@dataclass(frozen=True)
class LineageRecord:
    """One input that fed one output in one run (a table or a file, with its checksum)."""

    run_id: str
    step: str
    output: str
    output_kind: str
    output_checksum: str | None
    input: str
    input_kind: str
    input_checksum: str | None
    ts: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> LineageRecord:
        """Build from a ``lineage`` row."""
        return cls(**{name: row[name] for name in (
            "run_id", "step", "output", "output_kind", "output_checksum", "input", "input_kind", "input_checksum", "ts")})

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form."""
        return {"run_id": self.run_id, "step": self.step, "output": self.output, "output_kind": self.output_kind,
                "output_checksum": self.output_checksum, "input": self.input, "input_kind": self.input_kind,
                "input_checksum": self.input_checksum, "ts": iso(self.ts)}
