"""Micro-batch latency: from a file landing to its data published, through a real daemon.

    python bench/file_batches.py [--files 1000] [--seconds 60] [--max-files 100] [--max-wait 10] [--settle 0.5]

Starts `flowdeck daemon` on a fresh project in a temporary folder whose pipeline has a batched
file trigger (`batch: {max_files, max_wait}`, archived after success), then lands ``--files``
small CSV files at an even pace over ``--seconds`` (each written beside and renamed into place,
as a producer should). A file's latency is from its rename to the end of the run whose batch
holds it (the run publishes its tables before it ends). Prints the runs, the batch sizes and the
latency percentiles, and checks that every file is in exactly one run and every run succeeded.

Target (issue 19): p95 under max_wait + 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

FLOWDECK = Path(sys.executable).with_name("flowdeck")


def make_project(root: Path, *, max_files: int, max_wait: float, settle: float) -> None:
    """A project whose one pipeline extracts what landed and counts it."""
    files = {
        "flowdeck.yaml": """
            name: bench-batches
            daemon:
              workers: 1
              http: {port: 0}
            """,
        "pipelines/landed/pipeline.yaml": f"""
            triggers:
              - folder: landing
                patterns: ["*.csv"]
                settle: {int(settle * 1000)}ms
                batch: {{max_files: {max_files}, max_wait: {int(max_wait * 1000)}ms}}
                archive: archive
            steps:
              - name: landed_raw
                kind: extract
                source: {{path: "landing/*.csv"}}
              - name: landed_total
                kind: transform
                sql: total.sql
            """,
        "pipelines/landed/total.sql": "SELECT count(*) AS rows_seen, sum(amount) AS amount FROM landed_raw\n",
    }
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    (root / "landing").mkdir()


def lease_address(ledger: Path, pid: int, timeout: float = 60.0) -> None:
    """Wait until the daemon holds its lease (it is watching then)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ledger.exists():
            with sqlite3.connect(ledger, timeout=30) as db:
                try:
                    if db.execute("SELECT 1 FROM daemon_lease WHERE pid = ? AND stopped_at IS NULL", (pid,)).fetchone():
                        return
                except sqlite3.OperationalError:
                    pass
        time.sleep(0.2)
    raise SystemExit("the daemon did not start")


def file_runs(ledger: Path) -> list[tuple[str, float, float | None, list[str]]]:
    """(status, created_at, ended_at, files) of each file-triggered run."""
    with sqlite3.connect(ledger, timeout=30) as db:
        rows = db.execute("SELECT status, created_at, ended_at, options_json FROM runs "
                          "WHERE trigger_kind = 'file' ORDER BY created_at").fetchall()
    return [(status, created, ended, [entry["file"] for entry in json.loads(options).get("files", [])])
            for status, created, ended, options in rows]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--max-files", type=int, default=100)
    parser.add_argument("--max-wait", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=0.5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="flowdeck-bench-batches-") as folder:
        root = Path(folder)
        make_project(root, max_files=args.max_files, max_wait=args.max_wait, settle=args.settle)
        ledger = root / ".flowdeck" / "ledger.sqlite"
        log = open(root / "daemon.log", "wb")
        daemon = subprocess.Popen([str(FLOWDECK), "--project", str(root), "daemon"], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=log)
        try:
            lease_address(ledger, daemon.pid)
            landed: dict[str, float] = {}
            started = time.monotonic()
            for index in range(args.files):
                due = started + index * args.seconds / args.files
                time.sleep(max(0.0, due - time.monotonic()))
                name = f"part-{index:05}.csv"
                partial = root / "landing" / f".{name}.tmp"
                partial.write_text(f"id,amount\n{index},{index % 97}\n")
                os.rename(partial, root / "landing" / name)
                landed[f"landing/{name}"] = time.time()
            print(f"landed {args.files} files in {time.monotonic() - started:.1f}s", flush=True)
            deadline = time.monotonic() + args.max_wait + 300
            while time.monotonic() < deadline:
                runs = file_runs(ledger)
                taken = sum(len(files) for _, _, _, files in runs)
                if taken == args.files and all(status not in ("queued", "running") for status, *_ in runs):
                    break
                time.sleep(0.5)
            else:
                print("timed out waiting for every file's run", file=sys.stderr)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=120)
            log.close()
        runs = file_runs(ledger)

    batched = [file for _, _, _, files in runs for file in files]
    statuses = {status for status, *_ in runs}
    latencies = [ended - landed[file] for status, _, ended, files in runs if ended is not None for file in files]
    queue_waits = [created - landed[file] for _, created, _, files in runs for file in files]
    print(f"runs: {len(runs)} ({', '.join(sorted(statuses))}); batch sizes: "
          f"min {min(len(f) for *_, f in runs)}, median {statistics.median(len(f) for *_, f in runs)}, "
          f"max {max(len(f) for *_, f in runs)}")
    print(f"every file in exactly one run: {sorted(batched) == sorted(landed)}")
    print(f"landing → run queued: median {statistics.median(queue_waits):.2f}s, p95 {percentile(queue_waits, 0.95):.2f}s")
    p95 = percentile(latencies, 0.95)
    target = args.max_wait + 2
    print(f"landing → published: median {statistics.median(latencies):.2f}s, p95 {p95:.2f}s, "
          f"max {max(latencies):.2f}s (target p95 < {target:.1f}s: {'ok' if p95 < target else 'MISSED'})")
    return 0 if sorted(batched) == sorted(landed) and statuses == {"succeeded"} else 1


if __name__ == "__main__":
    raise SystemExit(main())
