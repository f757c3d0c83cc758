"""How `/metrics`, `stats`, `runs` and `prune --dry-run` cost on a ledger of a million runs.

Bulk-loads a project's ledger (created and migrated by flowdeck itself, then filled with plain
INSERTs in large transactions, so the ledger's own triggers run as they would) with ``--runs``
runs spread over ``--days`` days: 20 pipelines, mostly scheduled, 4 % failed, three steps and
three events a run, a schedule tick per scheduled run. Then it times each operation in this
process (the engine call the command makes: what grows with history) and as the real command
or request (a `flowdeck` subprocess; the daemon's HTTP endpoint), median of ``--repeat``.

    .venv/bin/python bench/ledger_scale.py --runs 1000000 [--dir /tmp/ledger-1m] [--keep]

Reusing ``--dir`` with ``--keep`` skips loading when the ledger is already there.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

PIPELINES = [f"pipeline_{index:02d}" for index in range(20)]
FLOWDECK = str(Path(sys.executable).with_name("flowdeck"))
BATCH = 20_000


def make_project(root: Path, days: float) -> None:
    """A project with the 20 pipelines the ledger speaks of (one trivial step each), and retention as a
    daemon pruning daily keeps it: everything but the oldest day of the history is within policy."""
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    keep = f"{int(days) - 1}d"
    (root / "flowdeck.yaml").write_text(
        "name: ledger-scale\ndaemon:\n  http: {port: 0}\n"
        f"retention: {{runs: {keep}, events: {keep}, file_records: {keep}, audit: {int(days) + 30}d}}\n")
    for name in PIPELINES:
        folder = root / "pipelines" / name
        folder.mkdir(exist_ok=True)
        (folder / "pipeline.yaml").write_text(f"steps:\n  - name: {name}_t\n    kind: transform\n    sql: t.sql\n")
        (folder / "t.sql").write_text("SELECT 1 AS one\n")


def _runs(count: int, days: float, now: float) -> Iterator[tuple[tuple, list[tuple], list[tuple], tuple | None, tuple | None]]:
    """Each run as (run row, step rows, event rows, failed step's metrics, schedule tick)."""
    start = now - days * 86400
    spacing = days * 86400 / count
    for index in range(count):
        created = start + index * spacing
        pipeline = PIPELINES[index % len(PIPELINES)]
        trigger = "schedule" if index % 20 < 16 else ("manual" if index % 20 < 19 else "file")
        run_id = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime(created))}-{index:07x}"
        key = f"schedule:{pipeline}:{created:.0f}:{index}" if trigger == "schedule" else f"{trigger}:{run_id}"
        kind = index % 100
        status = "failed" if kind < 4 else "abandoned" if kind == 4 else "canceled" if kind == 5 else "succeeded"
        live = index >= count - 10  # the newest ten are still queued or running
        if live:
            status = "running" if index % 2 else "queued"
        started = created + 0.5 if status != "queued" else None
        seconds = 5.0 + (index * 7919) % 600
        ended = None if live else (started or created) + seconds
        error = {"failed": "Binder Error: column x not found", "abandoned": "its process (pid 1) is gone"}.get(status)
        run = (run_id, pipeline, trigger, key, status, "{}", "{}", "etl", None, created, started, ended,
               ended or started, 4242, "etl1", 0, error, 2)
        steps = []
        for position, (step, step_kind) in enumerate((("extract", "extract"), ("transform", "transform"),
                                                     ("export", "load"))):
            step_status = "succeeded"
            if status == "failed" and position == 1:
                step_status = "failed"
            elif status == "failed" and position == 2 or status in ("abandoned", "canceled") and position:
                step_status = "canceled"
            elif live:
                step_status = "running" if position == 0 and status == "running" else "pending"
            step_started = (started or created) + position * seconds / 3 if step_status != "pending" else None
            step_ended = step_started + seconds / 3 if step_started and step_status != "running" else None
            rows = 10_000 + index % 5000 if step_status == "succeeded" else None
            steps.append((run_id, f"{pipeline}_{step}", step_kind, f"{pipeline}_{step}", position, step_status, 1,
                          step_started, step_ended, rows, "Binder Error" if step_status == "failed" else None))
        events = [(run_id, created, "run.queued", None, "info", "run queued", None)]
        if started:
            events.append((run_id, started, "run.started", None, "info", "run started", None))
        if ended:
            events.append((run_id, ended, f"run.{status}", None, "info", f"run {status}", None))
        metrics = (run_id, f"{pipeline}_transform", None, None, None, "sql") if status == "failed" else None
        tick = (pipeline, created, "submitted", run_id, None, created) if trigger == "schedule" else None
        yield run, steps, events, metrics, tick


def load(root: Path, count: int, days: float) -> None:
    """Create the ledger with flowdeck, then fill it."""
    from flowdeck.state import Ledger

    ledger_path = root / ".flowdeck" / "ledger.sqlite"
    Ledger(ledger_path).close()  # schema, migrations, WAL: as flowdeck makes them
    db = sqlite3.connect(ledger_path, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")  # a bench load; flowdeck itself writes with synchronous=FULL
    columns = [row[1] for row in db.execute("PRAGMA table_info(runs)")]
    run_columns = ("run_id, pipeline, trigger_kind, trigger_key, status, params_json, options_json, requested_by, "
                   "parent_run_id, created_at, started_at, ended_at, heartbeat_at, owner_pid, owner_host, "
                   "cancel_requested, error, version")
    assert all(name.strip() in columns for name in run_columns.split(","))
    began = time.monotonic()
    batch: list = []
    for number, item in enumerate(_runs(count, days, time.time()), start=1):
        batch.append(item)
        if len(batch) == BATCH or number == count:
            db.execute("BEGIN")
            db.executemany(f"INSERT INTO runs ({run_columns}) VALUES ({', '.join('?' * 18)})", [b[0] for b in batch])
            db.executemany("INSERT INTO steps (run_id, step, kind, output, position, status, attempts, started_at, "
                           "ended_at, rows_out, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           [step for b in batch for step in b[1]])
            db.executemany("INSERT INTO events (run_id, ts, kind, step, level, message, payload_json) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?)", [event for b in batch for event in b[2]])
            db.executemany("INSERT INTO step_metrics (run_id, step, rows_in, bytes_in, bytes_out, error_kind) "
                           "VALUES (?, ?, ?, ?, ?, ?)", [b[3] for b in batch if b[3]])
            db.executemany("INSERT INTO schedule_ticks (pipeline, slot, status, run_id, reason, ts) "
                           "VALUES (?, ?, ?, ?, ?, ?)", [b[4] for b in batch if b[4]])
            db.execute("COMMIT")
            batch = []
            if number % 200_000 == 0:
                print(f"  loaded {number:,} runs in {time.monotonic() - began:.0f} s", flush=True)
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    size = ledger_path.stat().st_size / 1e9
    print(f"loaded {count:,} runs in {time.monotonic() - began:.0f} s; ledger {size:.2f} GB")


def timed(what: Callable[[], object], repeat: int) -> tuple[float, float, list[float]]:
    """Median wall time, median CPU time (this process and its children) and all wall times, in seconds."""
    walls, cpus = [], []
    for _ in range(repeat):
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        began, cpu = time.perf_counter(), time.process_time()
        what()
        walls.append(time.perf_counter() - began)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(time.process_time() - cpu + (after.ru_utime + after.ru_stime)
                    - (children.ru_utime + children.ru_stime))
    return statistics.median(walls), statistics.median(cpus), walls


def measure(root: Path, repeat: int, days: float) -> dict[str, tuple[float, float, list[float]]]:
    """Each operation in-process and as a command or request."""
    from flowdeck.engine.daemon.metrics import DaemonMetrics
    from flowdeck.engine.governance.retention import prune
    from flowdeck.engine.workspace import Workspace

    results: dict[str, tuple[float, float, list[float]]] = {}
    workspace = Workspace.open(root)
    ledger = workspace.ledger
    metrics = DaemonMetrics(ledger)
    now = time.time()
    results["/metrics: collect and render"] = timed(metrics.render, repeat)
    results["stats: Workspace.stats() (30 days)"] = timed(workspace.stats, repeat)
    results["stats --days 0 (all history)"] = timed(lambda: workspace.stats(days=None), repeat)
    results["runs: Ledger.list_runs(limit=20)"] = timed(lambda: ledger.list_runs(limit=20), repeat)
    results["runs --status failed"] = timed(lambda: ledger.list_runs(status="failed", limit=20), repeat)
    results["prune --dry-run (policy: oldest day due)"] = timed(
        lambda: prune(workspace.project, ledger, dry_run=True), repeat)
    results["prune --dry-run (90/30-day policy: 75% due)"] = timed(
        lambda: ledger.prune(runs_before=now - 90 * 86400, events_before=now - 30 * 86400, audit_before=None,
                             lineage_before=now - 90 * 86400, dry_run=True), repeat)
    workspace.close()
    env = {**os.environ, "NO_COLOR": "1"}
    for name, args in (("stats", ["stats"]), ("runs", ["runs"]), ("prune --dry-run", ["prune", "--dry-run"])):
        results[f"`flowdeck {name}` (whole command)"] = timed(
            lambda args=args: subprocess.run([FLOWDECK, "--project", str(root), *args], env=env, check=True,
                                             capture_output=True), repeat)
    empty = Path(tempfile.mkdtemp(prefix="ledger-empty-"))
    try:  # the same commands on a project with no history: what the command costs whatever the ledger holds
        make_project(empty, days)
        for name, args in (("stats", ["stats"]), ("runs", ["runs"]), ("prune --dry-run", ["prune", "--dry-run"])):
            results[f"`flowdeck {name}` on an empty ledger"] = timed(
                lambda args=args: subprocess.run([FLOWDECK, "--project", str(empty), *args], env=env, check=True,
                                                 capture_output=True), repeat)
    finally:
        shutil.rmtree(empty, ignore_errors=True)
    results["`flowdeck --help` (start-up alone)"] = timed(
        lambda: subprocess.run([FLOWDECK, "--help"], env=env, check=True, capture_output=True), repeat)
    results["GET /metrics of the running daemon"] = _scrape(root, repeat)
    return results


def _scrape(root: Path, repeat: int) -> tuple[float, list[float]]:
    """Scrape the real daemon, more than a second apart (so every scrape computes, none is served from cache)."""
    log = open(root / "daemon-bench.log", "ab")
    daemon = subprocess.Popen([FLOWDECK, "--project", str(root), "daemon"], stdout=log, stderr=log)
    try:
        ledger = root / ".flowdeck" / "ledger.sqlite"
        address = None
        deadline = time.monotonic() + 120
        while address is None and time.monotonic() < deadline:
            with sqlite3.connect(ledger, timeout=30) as db:
                row = db.execute("SELECT http_address FROM daemon_lease WHERE pid = ? AND stopped_at IS NULL",
                                 (daemon.pid,)).fetchone()
            address = row[0] if row and row[0] else None
            time.sleep(0.2)
        assert address, "the daemon did not start"

        def scrape() -> None:
            with urllib.request.urlopen(f"http://{address}/metrics", timeout=120) as response:
                response.read()
            time.sleep(1.1)

        median, _, times = timed(scrape, repeat)
        return median - 1.1, float("nan"), [t - 1.1 for t in times]
    finally:
        daemon.terminate()
        daemon.wait(60)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=365.0, help="the runs are spread over this many days")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", type=Path, help="project folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the project and its ledger")
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="ledger-scale-"))
    try:
        make_project(root, args.days)
        if not (root / ".flowdeck" / "ledger.sqlite").exists():
            load(root, args.runs, args.days)
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"{'':48s} {'wall (median)':>14s} {'CPU (median)':>13s}   all walls, ms")
        for what, (wall, cpu, walls) in measure(root, args.repeat, args.days).items():
            print(f"{what:48s} {wall * 1000:11.1f} ms {cpu * 1000:10.1f} ms   "
                  f"({', '.join(f'{t * 1000:.0f}' for t in walls)})")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
