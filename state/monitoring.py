"""Run monitoring in the ledger: per-step measures, resource and progress samples, history aggregates.

Samples arrive in batches from a run's monitor thread (one transaction per batch), so a run
sampled every second writes the ledger once every few seconds.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from flowdeck.state.filters import Where
from flowdeck.state.status import RunStatus

PER_RUN_MEASURES = ("step_metrics", "resource_samples", "progress_samples", "step_statements")  # live and die with their run


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
    """The run process at one moment: CPU (percent of one core), resident memory, bytes read and written so far,
    and the bytes in the run's temporary folder (what DuckDB spilled to disk)."""

    ts: float
    cpu_percent: float | None
    rss_bytes: int | None
    read_bytes: int | None
    write_bytes: int | None
    threads: int | None
    temp_bytes: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object of a sample."""
        return {"ts": self.ts, "cpu_percent": self.cpu_percent, "rss_bytes": self.rss_bytes,
                "read_bytes": self.read_bytes, "write_bytes": self.write_bytes, "threads": self.threads,
                "temp_bytes": self.temp_bytes}


@dataclass(frozen=True)
class ProgressSample:
    """DuckDB's estimate of how far the query of a running step is, in percent."""

    step: str
    ts: float
    percent: float


@dataclass(frozen=True)
class StepStatement:
    """One SQL statement a step ran (``purpose``: stage, check, export ...), as its engine received it."""

    step: str
    attempt: int
    seq: int
    purpose: str
    engine: str
    sql: str
    ts: float

    def to_json(self) -> dict[str, Any]:
        """The JSON object of a statement."""
        return {"attempt": self.attempt, "purpose": self.purpose, "engine": self.engine, "sql": self.sql}


@dataclass(frozen=True)
class StepHistory:
    """How long one step of a pipeline took over its recent successful runs."""

    step: str
    runs: int
    mean_seconds: float
    max_seconds: float
    last_seconds: float


@dataclass(frozen=True)
class StepRun:
    """One successful execution of a step: its run, how long it took, rows in and file bytes read."""

    run_id: str
    seconds: float
    rows_in: int | None
    bytes_in: int | None


class MonitoringLedger:
    """The ledger's monitoring tables (mixed into ``Ledger``, which supplies the connection)."""

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:  # supplied by Ledger
        raise NotImplementedError

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:  # supplied by Ledger
        raise NotImplementedError

    _redact: Callable[[str], str]  # supplied by Ledger: the masker of secret values

    def record_samples(self, run_id: str, resources: Sequence[ResourceSample],
                       progress: Sequence[ProgressSample]) -> None:
        """Store a batch of samples of one run in one transaction."""
        if not resources and not progress:
            return
        with self._write() as db:
            db.executemany(
                "INSERT INTO resource_samples (run_id, ts, cpu_percent, rss_bytes, read_bytes, write_bytes, threads, "
                "temp_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, s.ts, s.cpu_percent, s.rss_bytes, s.read_bytes, s.write_bytes, s.threads, s.temp_bytes)
                 for s in resources],
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

    def record_step_statements(self, run_id: str, step: str, attempt: int, engine: str,
                               statements: Sequence[tuple[str, str]]) -> None:
        """Store the (purpose, sql) statements one attempt of a step ran, in order; secrets are masked."""
        if not statements:
            return
        now = time.time()
        with self._write() as db:
            start = db.execute("SELECT IFNULL(MAX(seq), 0) FROM step_statements WHERE run_id = ? AND step = ? "
                               "AND attempt = ?", (run_id, step, attempt)).fetchone()[0]
            db.executemany(
                "INSERT INTO step_statements (run_id, step, attempt, seq, purpose, engine, sql, ts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, step, attempt, start + index, purpose, engine, self._redact(sql), now)
                 for index, (purpose, sql) in enumerate(statements, start=1)],
            )

    # -- reading -------------------------------------------------------------------------------

    def step_statements(self, run_id: str, step: str | None = None) -> list[StepStatement]:
        """The SQL a run's steps ran (one step's, or all), by step, attempt and order."""
        where, args = ("run_id = ? AND step = ?", (run_id, step)) if step else ("run_id = ?", (run_id,))
        rows = self._query(f"SELECT step, attempt, seq, purpose, engine, sql, ts FROM step_statements WHERE {where} "
                           "ORDER BY step, attempt, seq", args)
        return [StepStatement(*tuple(row)) for row in rows]

    def step_metrics(self, run_id: str) -> dict[str, StepMetrics]:
        """A run's step measures by step name."""
        return {row["step"]: StepMetrics.from_row(row)
                for row in self._query("SELECT * FROM step_metrics WHERE run_id = ?", (run_id,))}

    def resource_samples(self, run_id: str, *, max_points: int = 600) -> list[ResourceSample]:
        """A run's resource samples in time order, thinned evenly to at most ``max_points``."""
        rows = self._query(
            "SELECT ts, cpu_percent, rss_bytes, read_bytes, write_bytes, threads, temp_bytes FROM resource_samples "
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
        where = Where(["pipeline = ?", "ended_at IS NOT NULL", "started_at IS NOT NULL"], [pipeline])
        if status:
            where.add("status = ?", status)
        if before is not None:
            where.add("ended_at < ?", before)
        rows = self._query(f"SELECT run_id, ended_at - started_at FROM runs {where.sql()} "
                           "ORDER BY ended_at DESC LIMIT ?", (*where.args, limit))
        return [(row[0], float(row[1])) for row in rows]

    def step_runs(self, pipeline: str, step: str, *, before: float | None = None, since: float | None = None,
                  limit: int = 50) -> list[StepRun]:
        """The step's executions in succeeded runs of the pipeline (reused ones left out), newest first:
        time, rows in and bytes read, for the performance hints' history."""
        where = Where(["runs.pipeline = ?", "steps.step = ?", "steps.status = 'succeeded'", "steps.reused_from IS NULL",
                       "steps.started_at IS NOT NULL", "steps.ended_at IS NOT NULL"], [pipeline, step])
        if before is not None:
            where.add("runs.created_at < ?", before)
        if since is not None:
            where.add("runs.created_at >= ?", since)
        rows = self._query(
            f"""SELECT steps.run_id, steps.ended_at - steps.started_at, m.rows_in, m.bytes_in
                FROM steps JOIN runs USING (run_id)
                LEFT JOIN step_metrics m ON m.run_id = steps.run_id AND m.step = steps.step
                {where.sql()} ORDER BY runs.created_at DESC LIMIT ?""", (*where.args, limit))
        return [StepRun(row[0], float(row[1]), row[2], row[3]) for row in rows]

    def status_counts(self, pipeline: str | None = None,
                      since: float | None = None) -> dict[str, dict[RunStatus, int]]:
        """pipeline → status → number of runs (created since ``since``)."""
        counts: dict[str, dict[RunStatus, int]] = {}
        for window, args in _windows(pipeline, since):
            if window.rollup:
                rows = self._query(f"SELECT pipeline, status, SUM(runs) FROM run_days {window.where} GROUP BY 1, 2",
                                   args)
            else:
                rows = self._query(f"SELECT pipeline, status, COUNT(*) FROM runs {window.where} GROUP BY 1, 2", args)
            for row in rows:
                if row[2]:
                    by_status = counts.setdefault(row[0], {})
                    status = RunStatus(row[1])
                    by_status[status] = by_status.get(status, 0) + int(row[2])
        return counts

    def error_kinds(self, pipeline: str | None = None, since: float | None = None) -> list[tuple[str, int]]:
        """How often each kind of error ended a run (failed step's kind, or `abandoned`), most frequent first."""
        kinds: dict[str, int] = {}
        for window, args in _windows(pipeline, since, prefix="runs."):
            if window.rollup:
                rows = self._query(f"SELECT kind, SUM(runs) FROM error_days {window.where} GROUP BY 1", args)
            else:
                rows = self._query(
                    f"""SELECT IFNULL((SELECT error_kind FROM step_metrics m WHERE m.run_id = runs.run_id
                                         AND m.error_kind IS NOT NULL LIMIT 1),
                                      CASE runs.status WHEN 'abandoned' THEN 'abandoned' ELSE 'run error' END),
                               COUNT(*)
                        FROM runs {window.where} AND runs.status IN ('failed', 'abandoned') GROUP BY 1""", args)
            for kind, count in rows:
                if count:
                    kinds[kind] = kinds.get(kind, 0) + int(count)
        return sorted(kinds.items(), key=lambda item: (-item[1], item[0]))

    def slowest_steps(self, pipeline: str | None = None, since: float | None = None,
                      limit: int = 10) -> list[tuple[str, StepHistory]]:
        """(pipeline, step history) of the steps with the longest mean time in succeeded runs."""
        found: dict[tuple[str, str], tuple[int, float, float]] = {}
        for window, args in _windows(pipeline, since, prefix="runs."):
            if window.rollup:
                rows = self._query(f"SELECT pipeline, step, SUM(runs), SUM(seconds), MAX(max_seconds) "
                                   f"FROM step_days {window.where} GROUP BY 1, 2", args)
            else:
                rows = self._query(
                    f"""SELECT runs.pipeline, steps.step, COUNT(*), SUM(steps.ended_at - steps.started_at),
                               MAX(steps.ended_at - steps.started_at)
                        FROM runs JOIN steps USING (run_id) {window.where} AND steps.status = 'succeeded'
                             AND steps.started_at IS NOT NULL AND steps.ended_at IS NOT NULL GROUP BY 1, 2""", args)
            for name, step, count, seconds, longest in rows:
                if not count:
                    continue
                runs, total, most = found.get((name, step), (0, 0.0, 0.0))
                found[(name, step)] = (runs + int(count), total + float(seconds), max(most, float(longest)))
        ranked = sorted(found.items(), key=lambda item: item[1][1] / item[1][0], reverse=True)[:limit]
        last = {(row[0], row[1]): float(row[2]) for row in self._query("SELECT pipeline, step, seconds FROM step_last")}
        return [(name, StepHistory(step, runs, total / runs, most, last.get((name, step), 0.0)))
                for (name, step), (runs, total, most) in ranked]


@dataclass(frozen=True)
class _Window:
    """Part of a period: whole UTC days read from the daily rollups, or a part-day read from the runs."""

    rollup: bool
    where: str


def _windows(pipeline: str | None, since: float | None, prefix: str = "") -> list[tuple[_Window, list[Any]]]:
    """The period from ``since`` to now as whole days of the daily rollups (they cost the same however
    many runs a day holds) plus, when ``since`` falls inside a day, the rest of that day read from the
    runs themselves (through their index by creation time), so the counts are exact. ``prefix``
    qualifies the runs' columns in the part-day query."""
    rollup: list[str] = []
    part: list[str] = []
    args: list[Any] = []
    if pipeline:
        rollup.append("pipeline = ?")
        part.append(f"{prefix}pipeline = ?")
        args.append(pipeline)
    if since is None:
        return [(_Window(True, _where(rollup)), args)]
    first_whole_day = math.ceil(since / 86400)
    windows = [(_Window(True, _where([*rollup, "day >= ?"])), [*args, first_whole_day])]
    if since < first_whole_day * 86400:
        part += [f"{prefix}created_at >= ?", f"{prefix}created_at < ?"]
        windows.append((_Window(False, _where(part)), [*args, since, first_whole_day * 86400.0]))
    return windows


def _where(clauses: list[str]) -> str:
    return f" WHERE {' AND '.join(clauses)}" if clauses else " WHERE 1"


def _thin(rows: list[sqlite3.Row], max_points: int) -> Iterator[sqlite3.Row]:
    """Every k-th row so that at most ``max_points`` remain (always keeping the last)."""
    if len(rows) <= max_points:
        yield from rows
        return
    step = len(rows) / max_points
    picked = {int(index * step) for index in range(max_points - 1)} | {len(rows) - 1}
    for index in sorted(picked):
        yield rows[index]
