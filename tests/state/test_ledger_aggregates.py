"""The running aggregates behind /metrics and `flowdeck stats`, and retention's counting: they agree with
the runs they summarize (before and after a prune), and reading them never scans the history.

The reference answers are the plain GROUP BY queries over the runs themselves.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from flowdeck.state import Ledger
from flowdeck.state.schema import RUN_DURATION_BOUNDS

DAY = 86400.0
NOW = time.time()
HISTORY_TABLES = ("runs", "steps", "events", "schedule_ticks", "outbox", "lineage", "audit_log", "check_results",
                  "step_attempts", "exports", "step_metrics")


def _insert_history(path: Path, count: int, days: float) -> None:
    """``count`` finished runs over the last ``days`` days, inserted as a bulk load would (the triggers run)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    for index in range(count):
        created = NOW - days * DAY + index * days * DAY / count
        run_id = f"old-{index:05d}"
        pipeline = ("alpha", "beta", "gamma")[index % 3]
        status = ("succeeded", "succeeded", "failed", "abandoned", "canceled", "succeeded")[index % 6]
        seconds = 0.5 + (index * 37) % 4000
        started, ended = created + 1, created + 1 + seconds
        db.execute("INSERT INTO runs (run_id, pipeline, trigger_kind, trigger_key, status, created_at, started_at) "
                   "VALUES (?, ?, ?, ?, 'running', ?, ?)",
                   (run_id, pipeline, ("schedule", "manual")[index % 2], f"k:{run_id}", created, started))
        for position, (step, kind) in enumerate((("extract", "extract"), ("shape", "transform"))):
            step_status = "failed" if status == "failed" and position == 1 else "succeeded"
            db.execute("INSERT INTO steps (run_id, step, kind, position, status, started_at, ended_at, rows_out) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (run_id, f"{pipeline}_{step}", kind, position, step_status, started + position,
                        started + position + seconds / (position + 2), 100 + index))
        if status == "failed" and index % 12 == 2:
            db.execute("INSERT INTO step_metrics (run_id, step, error_kind) VALUES (?, ?, 'sql')",
                       (run_id, f"{pipeline}_shape"))
        db.execute("UPDATE runs SET status = ?, ended_at = ? WHERE run_id = ?", (status, ended, run_id))
        db.execute("INSERT INTO events (run_id, ts, kind, message) VALUES (?, ?, 'run.queued', 'queued')",
                   (run_id, created))
        if index % 2 == 0:
            db.execute("INSERT INTO schedule_ticks (pipeline, slot, status, run_id, ts) VALUES (?, ?, ?, ?, ?)",
                       (pipeline, created, ("submitted", "skipped", "missed")[index % 3], run_id, created))
    db.execute("COMMIT")
    db.close()


def _live_runs(ledger: Ledger) -> None:
    """Runs that go through the ledger's own transitions today: succeeded, failed with a kind, abandoned,
    canceled while queued, still running, still queued."""
    for outcome in ("succeeded", "failed", "abandoned", "canceled", "running", "queued"):
        run, _ = ledger.create_run("alpha" if outcome != "failed" else "delta", trigger_kind="manual")
        if outcome == "canceled":
            ledger.request_cancel(run.run_id)
            continue
        if outcome == "queued":
            continue
        ledger.claim_run(run.run_id)
        ledger.add_steps(run.run_id, [("alpha_extract", "extract", "x"), ("alpha_shape", "transform", "y")])
        ledger.step_started(run.run_id, "alpha_extract")
        ledger.step_finished(run.run_id, "alpha_extract", "succeeded", rows=42)
        if outcome == "failed":
            ledger.step_started(run.run_id, "alpha_shape")
            ledger.record_step_metrics(run.run_id, "alpha_shape", error_kind="check")
            ledger.step_finished(run.run_id, "alpha_shape", "failed", error="boom")
            ledger.finish_run(run.run_id, "failed", "boom")
        elif outcome == "abandoned":
            ledger.mark_abandoned(run.run_id, "its process is gone")
        elif outcome == "succeeded":
            ledger.step_started(run.run_id, "alpha_shape")
            ledger.step_finished(run.run_id, "alpha_shape", "succeeded", rows=7)
            ledger.finish_run(run.run_id, "succeeded")


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    path = tmp_path / "ledger.sqlite"
    Ledger(path).close()
    _insert_history(path, 600, days=20)
    with Ledger(path) as opened:
        _live_runs(opened)
        yield opened


def _rows(ledger: Ledger, sql: str, args: tuple = ()) -> list[tuple]:
    return [tuple(row) for row in ledger._query(sql, args)]


def _reference_stats(ledger: Ledger, since: float | None) -> tuple[dict, list, list]:
    where, args = ("WHERE runs.created_at >= ?", (since,)) if since is not None else ("WHERE 1", ())
    counts: dict[str, dict[str, int]] = {}
    for pipeline, status, count in _rows(ledger, f"SELECT pipeline, status, COUNT(*) FROM runs {where} GROUP BY 1, 2",
                                         args):
        counts.setdefault(pipeline, {})[status] = count
    kinds = _rows(ledger, f"""SELECT IFNULL((SELECT error_kind FROM step_metrics m WHERE m.run_id = runs.run_id
                                               AND m.error_kind IS NOT NULL LIMIT 1),
                                            CASE runs.status WHEN 'abandoned' THEN 'abandoned' ELSE 'run error' END),
                                     COUNT(*) FROM runs {where} AND runs.status IN ('failed', 'abandoned')
                              GROUP BY 1 ORDER BY 2 DESC, 1""", args)
    steps = _rows(ledger, f"""SELECT runs.pipeline, steps.step, COUNT(*), AVG(steps.ended_at - steps.started_at),
                                     MAX(steps.ended_at - steps.started_at)
                              FROM steps JOIN runs USING (run_id) {where} AND steps.status = 'succeeded'
                              GROUP BY 1, 2 ORDER BY 4 DESC LIMIT 10""", args)
    return counts, kinds, steps


def _stats(ledger: Ledger, since: float | None) -> tuple[dict, list, list]:
    steps = [(pipeline, h.step, h.runs, pytest.approx(h.mean_seconds), pytest.approx(h.max_seconds))
             for pipeline, h in ledger.slowest_steps(None, since)]
    return ledger.status_counts(None, since), ledger.error_kinds(None, since), steps


def _reference_totals(ledger: Ledger) -> dict[str, object]:
    finished = "status IN ('succeeded', 'failed', 'canceled', 'abandoned')"
    durations: dict[tuple[str, str], tuple[list[int], int, float]] = {}
    for pipeline, status, seconds in _rows(ledger, f"SELECT pipeline, status, ended_at - started_at FROM runs "
                                                   f"WHERE {finished} AND started_at IS NOT NULL AND ended_at IS NOT NULL"):
        cumulative, count, total = durations.get((pipeline, status), ([0] * len(RUN_DURATION_BOUNDS), 0, 0.0))
        durations[(pipeline, status)] = ([c + (seconds <= bound) for c, bound in zip(cumulative, RUN_DURATION_BOUNDS)],
                                         count + 1, total + seconds)
    return {
        "runs": sorted(_rows(ledger, "SELECT pipeline, trigger_kind, status, COUNT(*) FROM runs GROUP BY 1, 2, 3")),
        "durations": [(p, s, c, n, pytest.approx(t)) for (p, s), (c, n, t) in sorted(durations.items())],
        "last_success": dict(_rows(ledger, "SELECT pipeline, MAX(ended_at) FROM runs WHERE status = 'succeeded' "
                                           "GROUP BY 1")),
        "rows": _rows(ledger, "SELECT runs.pipeline, steps.kind, SUM(steps.rows_out) FROM steps JOIN runs USING "
                              "(run_id) WHERE steps.status = 'succeeded' GROUP BY 1, 2 ORDER BY 1, 2"),
        "ticks": _rows(ledger, "SELECT pipeline, status, COUNT(*) FROM schedule_ticks GROUP BY 1, 2 ORDER BY 1, 2"),
    }


def _totals(ledger: Ledger) -> dict[str, object]:
    return {
        "runs": sorted((p, t, s, n) for p, t, s, n in ledger.run_totals() if n),
        "durations": ledger.run_duration_buckets(),
        "last_success": ledger.last_success_times(),
        "rows": ledger.rows_processed(),
        "ticks": ledger.tick_counts(),
    }


def test_running_totals_agree_with_the_runs(ledger: Ledger) -> None:
    assert _totals(ledger) == _reference_totals(ledger)


@pytest.mark.parametrize("days", [None, 3.5, 10.25, 30])
def test_stats_from_daily_rollups_agree_with_the_runs(ledger: Ledger, days: float | None) -> None:
    since = None if days is None else NOW - days * DAY
    assert _stats(ledger, since) == _reference_stats(ledger, since)


def test_a_dry_run_counts_what_prune_removes_and_the_aggregates_follow(ledger: Ledger) -> None:
    totals_before = _totals(ledger)
    cutoffs = {"runs_before": NOW - 7.3 * DAY, "events_before": NOW - 5 * DAY, "audit_before": None,
               "lineage_before": NOW - 5 * DAY}
    counted = ledger.prune(**cutoffs, dry_run=True)
    assert ledger._query("SELECT COUNT(*) FROM runs")[0][0] == 606  # a dry run removes nothing
    removed = ledger.prune(**cutoffs)
    assert counted == removed and removed["runs"] > 100 and removed["steps"] > 200
    for days in (None, 3.5, 10.25):  # stats follow what the ledger holds
        since = None if days is None else NOW - days * DAY
        assert _stats(ledger, since) == _reference_stats(ledger, since)
    assert _totals(ledger) == totals_before  # counters never go down


# what ANALYZE says of a ledger of a million runs (bench/ledger_scale.py): the planner must choose
# well with these, not only with the few rows a test holds
MILLION_RUNS_STATISTICS = [
    ("runs", "runs_by_end", "1000000 1 1"), ("runs", "runs_by_pipeline_status", "1000000 50000 27778 1"),
    ("runs", "runs_by_status", "1000000 166667 1"), ("runs", "runs_by_pipeline", "1000000 50000 1"),
    ("runs", "runs_by_created", "1000000 1"), ("runs", "runs_by_parent", "1000000 1000000"),
    ("runs", "sqlite_autoindex_runs_1", "1000000 1"), ("runs", "sqlite_autoindex_runs_2", "1000000 1"),
    ("steps", "sqlite_autoindex_steps_1", "3000000 3 1"), ("events", "events_by_ts", "2999985 1"),
    ("events", "events_by_run", "2999985 3 1"), ("schedule_ticks", "schedule_ticks_by_run", "800000 1"),
    ("schedule_ticks", "sqlite_autoindex_schedule_ticks_1", "800000 50000 1"),
    ("step_metrics", "sqlite_autoindex_step_metrics_1", "40000 1 1"),
    ("run_days", "sqlite_autoindex_run_days_1", "9526 27 2 1"),
    ("step_days", "sqlite_autoindex_step_days_1", "21960 60 3 1"),
    ("error_days", "sqlite_autoindex_error_days_1", "1830 5 1 1"),
    ("run_totals", "sqlite_autoindex_run_totals_1", "36 2 2 1"),
]


def test_metrics_stats_runs_and_a_dry_run_read_no_history_table_whole(ledger: Ledger) -> None:
    ledger._db.execute("ANALYZE")
    ledger._db.execute("DELETE FROM sqlite_stat1")
    ledger._db.executemany("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)", MILLION_RUNS_STATISTICS)
    ledger._db.execute("ANALYZE sqlite_schema")  # reload the statistics
    statements: list[str] = []
    ledger._db.set_trace_callback(statements.append)
    ledger.run_totals(), ledger.run_duration_buckets(), ledger.last_success_times(), ledger.rows_processed()
    ledger.tick_counts(), ledger.notification_counts(), ledger.firing_counts()
    for since in (None, NOW - 30 * DAY + 3600):
        ledger.status_counts(None, since), ledger.error_kinds(None, since), ledger.slowest_steps(None, since)
    ledger.list_runs(limit=20), ledger.list_runs(status="failed", limit=20), ledger.list_runs(pipeline="beta")
    ledger.runs_in_status("queued", "running"), ledger.runs_in_status("running")
    ledger.prune(runs_before=NOW - 7 * DAY, events_before=NOW - 5 * DAY, audit_before=NOW - 5 * DAY,
                 lineage_before=NOW - 5 * DAY, dry_run=True)
    ledger._db.set_trace_callback(None)
    ledger._db.execute("CREATE TEMP TABLE IF NOT EXISTS prune_runs (run_id TEXT PRIMARY KEY)")
    scans = []
    for statement in statements:
        if not statement.lstrip().upper().startswith("SELECT"):
            continue
        for row in ledger._db.execute(f"EXPLAIN QUERY PLAN {statement}"):
            detail = row[3]
            bounded = " USING " in detail and " LIMIT " in statement.upper()  # in index order, stopping early
            if detail.startswith("SCAN ") and detail.split()[1] in HISTORY_TABLES and not bounded:
                scans.append(f"{detail}  <-  {' '.join(statement.split())[:160]}")
    assert not scans, "\n".join(scans)
