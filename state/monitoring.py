"""Run monitoring in the ledger: per-step measures, resource and progress samples, history aggregates.

Samples arrive in batches from a run's monitor thread (one transaction per batch), so a run
sampled every second writes the ledger once every few seconds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from flowdeck.state.status import RunStatus

PER_RUN_MEASURES = ("step_metrics", "resource_samples", "progress_samples")  # rows that live and die with their run


@dataclass(frozen=True)
class StepMetrics:
    """What one step read and wrote, and what kind of error stopped it (if one did)."""

    run_id: str
    step: str
    rows_in: int | None
    bytes_in: int | None
    bytes_out: int | None
    error_kind: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> StepMetrics:
        """Build from a ``step_metrics`` row."""
        return cls(**{key: row[key] for key in row.keys()})


@dataclass(frozen=True)
class ResourceSample:
    """The run process at one moment: CPU (percent of one core), resident memory, bytes read and written so far."""

    ts: float
    cpu_percent: float | None
    rss_bytes: int | None
    read_bytes: int | None
    write_bytes: int | None
    threads: int | None

    def to_json(self) -> dict[str, Any]:
        """The JSON object of a sample."""
        return {"ts": self.ts, "cpu_percent": self.cpu_percent, "rss_bytes": self.rss_bytes,
                "read_bytes": self.read_bytes, "write_bytes": self.write_bytes, "threads": self.threads}


@dataclass(frozen=True)
class ProgressSample:
    """DuckDB's estimate of how far the query of a running step is, in percent."""

    step: str
    ts: float
    percent: float


@dataclass(frozen=True)
class StepHistory:
    """How long one step of a pipeline took over its recent successful runs."""

    step: str
    runs: int
    mean_seconds: float
    max_seconds: float
    last_seconds: float


class MonitoringLedger:
    """The ledger's monitoring tables (mixed into ``Ledger``, which supplies the connection)."""

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:  # supplied by Ledger
        raise NotImplementedError

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:  # supplied by Ledger
        raise NotImplementedError

    def record_samples(self, run_id: str, resources: Sequence[ResourceSample],
                       progress: Sequence[ProgressSample]) -> None:
        """Store a batch of samples of one run in one transaction."""
        if not resources and not progress:
            return
        with self._write() as db:
            db.executemany(
                "INSERT INTO resource_samples (run_id, ts, cpu_percent, rss_bytes, read_bytes, write_bytes, threads) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(run_id, s.ts, s.cpu_percent, s.rss_bytes, s.read_bytes, s.write_bytes, s.threads) for s in resources],
            )
            db.executemany(
                "INSERT INTO progress_samples (run_id, step, ts, percent) VALUES (?, ?, ?, ?)",
                [(run_id, s.step, s.ts, s.percent) for s in progress],
            )

    def record_step_metrics(self, run_id: str, step: str, *, rows_in: int | None = None, bytes_in: int | None = None,
                            bytes_out: int | None = None, error_kind: str | None = None) -> None:
        """Store (or replace) what a step read and wrote."""
        with self._write() as db:
            db.execute(
                "INSERT INTO step_metrics (run_id, step, rows_in, bytes_in, bytes_out, error_kind) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (run_id, step) DO UPDATE SET rows_in = excluded.rows_in, bytes_in = excluded.bytes_in, "
                "bytes_out = excluded.bytes_out, error_kind = excluded.error_kind",
                (run_id, step, rows_in, bytes_in, bytes_out, error_kind),
            )

    # -- reading -------------------------------------------------------------------------------

    def step_metrics(self, run_id: str) -> dict[str, StepMetrics]:
        """A run's step measures by step name."""
        return {row["step"]: StepMetrics.from_row(row)
                for row in self._query("SELECT * FROM step_metrics WHERE run_id = ?", (run_id,))}

    def resource_samples(self, run_id: str, *, max_points: int = 600) -> list[ResourceSample]:
        """A run's resource samples in time order, thinned evenly to at most ``max_points``."""
        rows = self._query(
            "SELECT ts, cpu_percent, rss_bytes, read_bytes, write_bytes, threads FROM resource_samples "
            "WHERE run_id = ? ORDER BY ts", (run_id,))
        return [ResourceSample(*tuple(row)) for row in _thin(rows, max_points)]

    def progress_samples(self, run_id: str) -> list[ProgressSample]:
        """A run's query-progress samples, by step then time."""
        rows = self._query("SELECT step, ts, percent FROM progress_samples WHERE run_id = ? ORDER BY step, ts", (run_id,))
        return [ProgressSample(*tuple(row)) for row in rows]

    def latest_progress(self, run_id: str) -> dict[str, ProgressSample]:
        """The newest progress sample of each step of a run (for progress bars)."""
        rows = self._query(
            """SELECT step, MAX(ts) AS ts, percent FROM progress_samples WHERE run_id = ? GROUP BY step""", (run_id,))
        return {row["step"]: ProgressSample(row["step"], row["ts"], row["percent"]) for row in rows}

    def finished_durations(self, pipeline: str, *, status: RunStatus | None = RunStatus.SUCCEEDED, limit: int = 50,
                           before: float | None = None) -> list[tuple[str, float]]:
        """(run id, seconds) of the pipeline's latest finished runs, newest first."""
        clauses = ["pipeline = ?", "ended_at IS NOT NULL", "started_at IS NOT NULL"]
        args: list[Any] = [pipeline]
        if status:
            clauses.append("status = ?")
            args.append(status)
        if before is not None:
            clauses.append("ended_at < ?")
            args.append(before)
        rows = self._query(f"SELECT run_id, ended_at - started_at FROM runs WHERE {' AND '.join(clauses)} "
                           "ORDER BY ended_at DESC LIMIT ?", (*args, limit))
        return [(row[0], float(row[1])) for row in rows]

    def status_counts(self, pipeline: str | None = None,
                      since: float | None = None) -> dict[str, dict[RunStatus, int]]:
        """pipeline → status → number of runs (created since ``since``)."""
        clauses, args = _filters(pipeline, since)
        rows = self._query(f"SELECT pipeline, status, COUNT(*) FROM runs {clauses} GROUP BY 1, 2", args)
        counts: dict[str, dict[RunStatus, int]] = {}
        for row in rows:
            counts.setdefault(row[0], {})[RunStatus(row[1])] = int(row[2])
        return counts

    def error_kinds(self, pipeline: str | None = None, since: float | None = None) -> list[tuple[str, int]]:
        """How often each kind of error ended a run (failed step's kind, or `abandoned`), most frequent first."""
        clauses, args = _filters(pipeline, since, prefix="runs.")
        extra = " AND " if clauses else " WHERE "
        rows = self._query(
            f"""SELECT IFNULL((SELECT error_kind FROM step_metrics m WHERE m.run_id = runs.run_id
                                 AND m.error_kind IS NOT NULL LIMIT 1),
                              CASE runs.status WHEN 'abandoned' THEN 'abandoned' ELSE 'run error' END) AS kind,
                       COUNT(*)
                FROM runs {clauses}{extra}runs.status IN ('failed', 'abandoned') GROUP BY 1 ORDER BY 2 DESC, 1""",
            args)
        return [(row[0], int(row[1])) for row in rows]

    def slowest_steps(self, pipeline: str | None = None, since: float | None = None,
                      limit: int = 10) -> list[tuple[str, StepHistory]]:
        """(pipeline, step history) of the steps with the longest mean time in succeeded runs."""
        clauses, args = _filters(pipeline, since, prefix="runs.")
        extra = " AND " if clauses else " WHERE "
        rows = self._query(
            f"""SELECT runs.pipeline, steps.step, COUNT(*), AVG(steps.ended_at - steps.started_at),
                       MAX(steps.ended_at - steps.started_at),
                       (SELECT s2.ended_at - s2.started_at FROM steps s2 JOIN runs r2 USING (run_id)
                         WHERE r2.pipeline = runs.pipeline AND s2.step = steps.step AND s2.status = 'succeeded'
                         ORDER BY s2.ended_at DESC LIMIT 1)
                FROM steps JOIN runs USING (run_id) {clauses}{extra}steps.status = 'succeeded'
                     AND steps.started_at IS NOT NULL AND steps.ended_at IS NOT NULL
                GROUP BY 1, 2 ORDER BY 4 DESC LIMIT ?""",
            (*args, limit))
        return [(row[0], StepHistory(row[1], int(row[2]), float(row[3]), float(row[4]), float(row[5] or 0.0)))
                for row in rows]


def _filters(pipeline: str | None, since: float | None, prefix: str = "") -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if pipeline:
        clauses.append(f"{prefix}pipeline = ?")
        args.append(pipeline)
    if since is not None:
        clauses.append(f"{prefix}created_at >= ?")
        args.append(since)
    return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), args


def _thin(rows: list[sqlite3.Row], max_points: int) -> Iterator[sqlite3.Row]:
    """Every k-th row so that at most ``max_points`` remain (always keeping the last)."""
    if len(rows) <= max_points:
        yield from rows
        return
    step = len(rows) / max_points
    picked = {int(index * step) for index in range(max_points - 1)} | {len(rows) - 1}
    for index in sorted(picked):
        yield rows[index]
