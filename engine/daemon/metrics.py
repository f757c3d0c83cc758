"""Prometheus metrics of the daemon: run facts read from the ledger at each scrape, plus the
few things only the daemon sees (file events, schedule delay).

Counters of runs come from the running totals the ledger keeps (its triggers update them in
the transaction of each change) rather than from in-memory counters, so they survive a daemon
restart, agree with `flowdeck runs`, never go down when old runs are pruned, and cost the same
to read with a million runs as with ten. Labels are low-cardinality
(pipeline, trigger, status, step kind); never run ids, file names or error text.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from flowdeck.state import Ledger
from flowdeck.state.schema import RUN_DURATION_BOUNDS
from flowdeck.state.status import RUN_FINISHED

RUN_DURATION_BUCKETS = RUN_DURATION_BOUNDS  # fixed by the ledger, which sorts finished runs into them
SCHEDULE_DELAY_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600)


class LedgerCollector:
    """Reads run counts, durations, queue depth and freshness from the ledger's running totals at scrape time."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def collect(self) -> Iterator[Metric]:
        """Yield the metric families (called by prometheus-client on each scrape)."""
        counts = self.ledger.run_totals()
        runs = CounterMetricFamily("flowdeck_runs", "Finished runs, by pipeline, trigger and final status.",
                                   labels=["pipeline", "trigger", "status"])
        in_progress: dict[str, int] = {}
        queued = 0
        for pipeline, trigger, status, count in counts:
            if status in RUN_FINISHED:
                runs.add_metric([pipeline, trigger, status], count)
            elif status == "running":
                in_progress[pipeline] = in_progress.get(pipeline, 0) + count
            elif status == "queued":
                queued += count
        yield runs

        by_environment = CounterMetricFamily(
            "flowdeck_environment_runs", "Finished runs, by environment (prod, dev, ...), pipeline and final status.",
            labels=["environment", "pipeline", "status"])
        for environment, pipeline, status, count in self.ledger.environment_run_totals():
            by_environment.add_metric([environment, pipeline, status], count)
        yield by_environment

        running = GaugeMetricFamily("flowdeck_runs_in_progress", "Runs executing now, by pipeline.", labels=["pipeline"])
        for pipeline in sorted({pipeline for pipeline, *_ in counts}):
            running.add_metric([pipeline], in_progress.get(pipeline, 0))
        yield running
        yield GaugeMetricFamily("flowdeck_run_queue_depth", "Runs queued, waiting for a worker.", value=queued)

        durations = HistogramMetricFamily("flowdeck_run_duration_seconds", "Duration of finished runs.",
                                          labels=["pipeline", "status"])
        for pipeline, status, cumulative, count, total in self.ledger.run_duration_buckets():
            buckets = [(_bound(bound), value) for bound, value in zip(RUN_DURATION_BUCKETS, cumulative)]
            durations.add_metric([pipeline, status], buckets + [("+Inf", count)], total)
        yield durations

        success = GaugeMetricFamily("flowdeck_last_success_timestamp_seconds",
                                    "When each pipeline's latest successful run ended (Unix time).", labels=["pipeline"])
        for pipeline, ended in sorted(self.ledger.last_success_times().items()):
            success.add_metric([pipeline], ended)
        yield success

        rows = CounterMetricFamily("flowdeck_rows_processed", "Rows written by succeeded steps, by pipeline and step kind.",
                                   labels=["pipeline", "stage"])
        for pipeline, kind, count in self.ledger.rows_processed():
            rows.add_metric([pipeline, kind], count)
        yield rows

        ticks = CounterMetricFamily("flowdeck_schedule_ticks", "Schedule slots handled, by pipeline and outcome.",
                                    labels=["pipeline", "outcome"])
        for pipeline, outcome, count in self.ledger.tick_counts():
            ticks.add_metric([pipeline, outcome], count)
        yield ticks

        alerts = GaugeMetricFamily("flowdeck_alerts_firing", "Alerts firing now, by rule and severity.",
                                   labels=["rule", "severity"])
        for rule, severity, count in self.ledger.firing_counts():
            alerts.add_metric([rule, severity], count)
        yield alerts

        notifications = CounterMetricFamily("flowdeck_alert_notifications",
                                            "Notifications in the outbox, by channel and state (pending, sending, "
                                            "sent, failed = given up).", labels=["channel", "state"])
        for channel, state, count in self.ledger.notification_counts():
            notifications.add_metric([channel, state], count)
        yield notifications

        lease = self.ledger.daemon_lease()
        if lease is not None:
            yield GaugeMetricFamily("flowdeck_daemon_heartbeat_timestamp_seconds",
                                    "When the daemon last renewed its lease (Unix time).", value=lease.heartbeat_at)


def _bound(bound: float) -> str:
    return str(float(bound))


class DaemonMetrics:
    """The daemon's metric registry."""

    def __init__(self, ledger: Ledger) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(LedgerCollector(ledger))
        # by environment too: a pipeline's prod and dev triggers may watch one folder, each taking every file
        self.file_events = Counter("flowdeck_file_events", "Files seen by file triggers, by environment, pipeline "
                                   "and outcome (accepted, duplicate, archived, error).",
                                   ["environment", "pipeline", "outcome"], registry=self.registry)
        self.schedule_delay = Histogram("flowdeck_schedule_delay_seconds", "From a schedule slot to its run starting, "
                                        "by environment and pipeline.", ["environment", "pipeline"],
                                        buckets=SCHEDULE_DELAY_BUCKETS, registry=self.registry)
        self.problems = GaugeHolder()
        info = GaugeMetricFamily("flowdeck_build_info", "flowdeck version.", labels=["version"])
        info.add_metric([version("flowdeck")], 1)
        self._static: list[Any] = [info]
        self.registry.register(_Static(self._static, self.problems))

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


class GaugeHolder:
    """The number of problems the daemon reports (bad config, unusable folders)."""

    value = 0


class _Static:
    def __init__(self, families: list[Any], problems: GaugeHolder) -> None:
        self.families = families
        self.problems = problems

    def collect(self) -> Iterator[Metric]:
        yield from self.families
        yield GaugeMetricFamily("flowdeck_daemon_problems", "Problems the daemon reports (see /readyz).",
                                value=self.problems.value)
