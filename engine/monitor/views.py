"""Monitoring data ready to show: one run's measures over time, and pipelines' history and trends.

Built from the ledger for `flowdeck show`, `flowdeck stats`, `flowdeck report` and the console
(progress bars, sparklines, the dashboard); nothing here draws.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from flowdeck.state import (
    CheckRecord,
    EventRecord,
    Ledger,
    ProgressSample,
    ResourceSample,
    RunRecord,
    StepHistory,
    StepMetrics,
    StepRecord,
    StepStatement,
)
from flowdeck.state.records import AttemptRecord
from flowdeck.state.records import iso
from flowdeck.state.status import RUN_FAILURES, RunStatus, StepStatus


@dataclass(frozen=True)
class StepView:
    """One step of a run with its measures: rows in and out, bytes, time, throughput, live progress."""

    record: StepRecord
    metrics: StepMetrics | None
    progress: float | None  # DuckDB's latest estimate (percent) while the step runs

    @property
    def seconds(self) -> float | None:
        """How long it ran (so far, while running)."""
        return self.record.duration

    @property
    def rows_in(self) -> int | None:
        """Rows it read (its upstream steps' output, or the rows an extract read)."""
        return self.metrics.rows_in if self.metrics else None

    @property
    def rows_out(self) -> int | None:
        """Rows it wrote."""
        return self.record.rows_out

    @property
    def bytes_in(self) -> int | None:
        """Bytes of files it read."""
        return self.metrics.bytes_in if self.metrics else None

    @property
    def bytes_out(self) -> int | None:
        """Bytes of files it wrote."""
        return self.metrics.bytes_out if self.metrics else None

    @property
    def rows_per_second(self) -> float | None:
        """Rows written (or read, for steps that write none) per second."""
        rows = self.rows_out if self.rows_out is not None else self.rows_in
        seconds = self.seconds
        if rows is None or not seconds or self.record.status != StepStatus.SUCCEEDED:
            return None
        return rows / max(seconds, 1e-3)

    @property
    def bytes_per_second(self) -> float | None:
        """File bytes moved per second."""
        moved = (self.bytes_in or 0) + (self.bytes_out or 0)
        seconds = self.seconds
        if not moved or not seconds or self.record.status != StepStatus.SUCCEEDED:
            return None
        return moved / max(seconds, 1e-3)

    def to_json(self) -> dict[str, Any]:
        """The step's JSON object with its measures (``flowdeck show --json``)."""
        rate = self.rows_per_second
        byte_rate = self.bytes_per_second
        return {
            **self.record.to_json(),
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "rows_per_second": None if rate is None else round(rate, 1),
            "bytes_per_second": None if byte_rate is None else round(byte_rate, 1),
            "progress_percent": self.progress,
            "error_kind": self.metrics.error_kind if self.metrics else None,
        }


@dataclass(frozen=True)
class RunMetrics:
    """A run, its steps with their measures, and the process's resource use over time."""

    run: RunRecord
    steps: list[StepView]
    resources: list[ResourceSample]
    progress: dict[str, list[ProgressSample]]
    checks: list[CheckRecord] = field(default_factory=list)

    def series(self, name: str) -> list[float]:
        """A resource series for a chart: ``cpu_percent``, ``rss_bytes``, ``read_bytes`` or ``write_bytes``."""
        return [float(getattr(sample, name)) for sample in self.resources if getattr(sample, name) is not None]

    @property
    def peak_rss_bytes(self) -> int | None:
        """The most memory the run process held."""
        values = self.series("rss_bytes")
        return int(max(values)) if values else None

    @property
    def mean_cpu_percent(self) -> float | None:
        """Average CPU use (100 = one core busy)."""
        values = self.series("cpu_percent")
        return round(statistics.fmean(values), 1) if values else None

    @property
    def max_cpu_percent(self) -> float | None:
        """Highest CPU use sampled."""
        values = self.series("cpu_percent")
        return max(values) if values else None

    def io_bytes(self, name: str) -> int | None:
        """Bytes read (``read_bytes``) or written (``write_bytes``) by the process during the run."""
        values = self.series(name)
        return int(values[-1] - values[0]) if len(values) >= 2 else None

    def to_json(self) -> dict[str, Any]:
        """The run's measures as JSON."""
        return {
            "steps": [step.to_json() for step in self.steps],
            "resources": {
                "samples": len(self.resources),
                "peak_rss_bytes": self.peak_rss_bytes,
                "mean_cpu_percent": self.mean_cpu_percent,
                "max_cpu_percent": self.max_cpu_percent,
                "read_bytes": self.io_bytes("read_bytes"),
                "write_bytes": self.io_bytes("write_bytes"),
                "series": [sample.to_json() | {"ts": iso(sample.ts)} for sample in self.resources],
            },
            "progress": {step: [{"ts": iso(s.ts), "percent": s.percent} for s in samples]
                         for step, samples in self.progress.items()},
        }


def run_metrics(ledger: Ledger, run: RunRecord, *, max_points: int = 600) -> RunMetrics:
    """Everything measured about one run, from the ledger."""
    metrics = ledger.step_metrics(run.run_id)
    latest = ledger.latest_progress(run.run_id) if not run.finished else {}
    steps = [StepView(record=step, metrics=metrics.get(step.step),
                      progress=(latest[step.step].percent
                                if step.status == StepStatus.RUNNING and step.step in latest else None))
             for step in ledger.steps_of(run.run_id)]
    progress: dict[str, list[ProgressSample]] = {}
    for sample in ledger.progress_samples(run.run_id):
        progress.setdefault(sample.step, []).append(sample)
    return RunMetrics(run=run, steps=steps, resources=ledger.resource_samples(run.run_id, max_points=max_points),
                      progress=progress, checks=ledger.checks_of(run.run_id))


STEP_LOG_LINES = 2000  # a step's own log lines shown; `flowdeck logs` has them all


@dataclass(frozen=True)
class StepDetail:
    """Everything about one step of one run, ready to show (the console's step view, `show --step`)."""

    run: RunRecord
    view: StepView
    events: list[EventRecord]  # the step's own log lines, oldest first (capped)
    checks: list[CheckRecord]  # with their failing-row samples
    statements: list[StepStatement]  # the SQL each attempt ran, as its engine received it
    attempts: list[AttemptRecord]
    # Why the run ran (or reused) this step, from its fingerprint (engine/plan/changes.py): "changed: SQL
    # changed", "unchanged: ..."; recorded with its start (or its reuse). None for runs before fingerprints.
    plan_reason: str | None = None

    @property
    def record(self) -> StepRecord:
        """The step's ledger row."""
        return self.view.record

    @property
    def last_statements(self) -> list[StepStatement]:
        """The SQL of the step's latest attempt (what its error, if any, is about)."""
        if not self.statements:
            return []
        latest = max(statement.attempt for statement in self.statements)
        return [statement for statement in self.statements if statement.attempt == latest]

    def to_json(self) -> dict[str, Any]:
        """The JSON document of `flowdeck show RUN --step STEP --json`."""
        return {
            "run_id": self.run.run_id, "pipeline": self.run.pipeline, "params": self.run.params,
            "step": self.view.to_json(),
            "checks": [check.to_json() for check in self.checks],
            "statements": [statement.to_json() for statement in self.statements],
            "attempts": [attempt.to_json() for attempt in self.attempts],
            "log": [event.to_json() for event in self.events],
            "plan_reason": self.plan_reason,
        }


def step_detail(ledger: Ledger, run: RunRecord, step: str) -> StepDetail | None:
    """One step of ``run`` with its log lines, checks, SQL and attempts; None if the run has no such step."""
    metrics = run_metrics(ledger, run, max_points=2)
    view = next((candidate for candidate in metrics.steps if candidate.record.step == step), None)
    if view is None:
        return None
    events = ledger.events(run_id=run.run_id, step=step, limit=STEP_LOG_LINES)
    return StepDetail(run=run, view=view, events=events,
                      checks=[check for check in metrics.checks if check.step == step],
                      statements=ledger.step_statements(run.run_id, step),
                      attempts=[attempt for attempt in ledger.attempts_of(run.run_id) if attempt.step == step],
                      plan_reason=next((str(event.payload["plan"]) for event in events
                                        if event.payload and event.payload.get("plan")), None))


# ---------------------------------------------------------------------------------------------
# history and trends


@dataclass(frozen=True)
class RunPoint:
    """One finished run in a trend: when, how it ended, how long it took."""

    run_id: str
    status: RunStatus
    started_at: float
    seconds: float


@dataclass(frozen=True)
class PipelineStats:
    """A pipeline's run counts, duration trend and percentiles."""

    pipeline: str
    counts: dict[RunStatus, int]
    recent: list[RunPoint]  # oldest first

    @property
    def total(self) -> int:
        """Runs counted."""
        return sum(self.counts.values())

    @property
    def success_rate(self) -> float | None:
        """Succeeded / finished (succeeded, failed, abandoned), in percent."""
        finished = sum(self.counts.get(status, 0) for status in (RunStatus.SUCCEEDED, *RUN_FAILURES))
        return round(100.0 * self.counts.get(RunStatus.SUCCEEDED, 0) / finished, 1) if finished else None

    def durations(self, status: RunStatus | None = RunStatus.SUCCEEDED) -> list[float]:
        """Durations of the recent runs (oldest first), of one status or all."""
        return [point.seconds for point in self.recent if status is None or point.status == status]

    def percentile(self, fraction: float) -> float | None:
        """A percentile of successful runs' durations (0.5: median, 0.95: p95)."""
        values = sorted(self.durations())
        if not values:
            return None
        return values[min(len(values) - 1, int(round(fraction * (len(values) - 1))))]

    def to_json(self) -> dict[str, Any]:
        """The JSON object of a pipeline's stats (``flowdeck stats --json``)."""
        return {
            "pipeline": self.pipeline, "runs": self.total, "counts": self.counts, "success_rate": self.success_rate,
            "p50_seconds": _round(self.percentile(0.5)), "p95_seconds": _round(self.percentile(0.95)),
            "recent": [{"run_id": p.run_id, "status": p.status, "started_at": iso(p.started_at),
                        "seconds": round(p.seconds, 3)} for p in self.recent],
        }


@dataclass(frozen=True)
class StatsReport:
    """History and trends over a period: per pipeline, errors by kind, slowest steps."""

    since: float | None
    pipelines: list[PipelineStats]
    error_kinds: list[tuple[str, int]]
    slowest_steps: list[tuple[str, StepHistory]]

    def to_json(self) -> dict[str, Any]:
        """The JSON document of ``flowdeck stats --json``."""
        return {
            "since": iso(self.since),
            "pipelines": [stats.to_json() for stats in self.pipelines],
            "errors_by_kind": [{"kind": kind, "runs": count} for kind, count in self.error_kinds],
            "slowest_steps": [{"pipeline": pipeline, "step": h.step, "runs": h.runs,
                               "mean_seconds": round(h.mean_seconds, 3), "max_seconds": round(h.max_seconds, 3),
                               "last_seconds": round(h.last_seconds, 3)} for pipeline, h in self.slowest_steps],
        }


def stats_report(ledger: Ledger, pipeline: str | None = None, *, days: float | None = 30.0,
                 recent: int = 50) -> StatsReport:
    """Counts, duration trends, error kinds and slowest steps, for one pipeline or all."""
    since = time.time() - days * 86400 if days else None
    counts = ledger.status_counts(pipeline, since)
    names = sorted(counts) if pipeline is None else [pipeline]
    pipelines: list[PipelineStats] = []
    for name in names:
        runs = [run for run in ledger.list_runs(pipeline=name, limit=recent)
                if run.finished and run.started_at and run.ended_at and (since is None or run.created_at >= since)]
        points = [RunPoint(run.run_id, run.status, run.started_at or 0.0, (run.ended_at or 0.0) - (run.started_at or 0.0))
                  for run in reversed(runs)]
        pipelines.append(PipelineStats(pipeline=name, counts=counts.get(name, {}), recent=points))
    return StatsReport(since=since, pipelines=pipelines, error_kinds=ledger.error_kinds(pipeline, since),
                       slowest_steps=ledger.slowest_steps(pipeline, since))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
