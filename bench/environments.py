"""What a development environment costs over the 5M-order workload: prod built once, then `--env dev` with the
last transform changed (docs/environments.md).

    python bench/environments.py [--rows 5000000] [--runs 3]

1. prod: `flowdeck run orders_daily` once, on a copy of the bench project (bench/env_project, removed after).
2. The last transform (`daily_revenue`) gets one more column; `flowdeck run orders_daily --env dev` is timed,
   from an empty dev environment each time (its folder removed between runs): wall and CPU seconds of the
   whole process (interpreter start, plan, attach prod, build the one step), with the load average, and
   the run's own duration from the ledger.
3. The bytes the environment adds: its folder on disk after the run, against prod's warehouse; and prod's
   warehouse file is checked unchanged (size and modification time; its sha256 once).

The workload is bench/run.py's (generated on first use, or hard-linked from another checkout with
`--workload DIR`). Figures are recorded in bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import FLOWDECK, HERE, WORKLOAD, child_env, ensure_workload, timed  # noqa: E402

PROJECT_COPY = HERE / "env_project"  # beside bench/project, so its ../workload paths hold
TARGET_SECONDS = 1.0
TARGET_BYTES = 1_000_000


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under ``folder``."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def link_workload(source: Path) -> None:
    """Hard-link a generated workload from another checkout (nothing is copied or written there)."""
    WORKLOAD.mkdir(exist_ok=True)
    for path in source.iterdir():
        if path.is_file() and not (WORKLOAD / path.name).exists():
            os.link(path, WORKLOAD / path.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=3, help="dev builds timed (each from an empty environment)")
    parser.add_argument("--workload", type=Path, help="hard-link the workload from this folder instead of generating")
    arguments = parser.parse_args(argv)
    if arguments.workload:
        link_workload(arguments.workload)
    ensure_workload(arguments.rows)
    shutil.rmtree(PROJECT_COPY, ignore_errors=True)
    shutil.copytree(HERE / "project", PROJECT_COPY, ignore=shutil.ignore_patterns(".flowdeck"))
    env = child_env()
    command = [str(FLOWDECK), "--project", str(PROJECT_COPY), "run", "orders_daily"]
    try:
        prod_build = timed(command, env=env, cwd=PROJECT_COPY)
        prod = PROJECT_COPY / ".flowdeck" / "warehouse.duckdb"
        before = (prod.stat().st_size, prod.stat().st_mtime_ns, sha256_of(prod))
        sql = PROJECT_COPY / "pipelines" / "orders_daily" / "daily_revenue.sql"
        sql.write_text(sql.read_text().replace("AS avg_order_value", "AS avg_order_value,\n    max(o.amount) AS "
                                               "largest_order", 1))
        dev = PROJECT_COPY / ".flowdeck" / "envs" / "dev"
        samples, sizes, durations, loads = [], [], [], []
        for _ in range(arguments.runs):
            shutil.rmtree(dev, ignore_errors=True)
            loads.append(os.getloadavg()[0])
            samples.append(timed([*command, "--env", "dev"], env=env, cwd=PROJECT_COPY))
            sizes.append(folder_bytes(dev))
            with sqlite3.connect(PROJECT_COPY / ".flowdeck" / "ledger.sqlite") as ledger:
                started, ended = ledger.execute("SELECT started_at, ended_at FROM runs WHERE environment = 'dev' "
                                                "ORDER BY created_at DESC LIMIT 1").fetchone()
                built = [row[0] for row in ledger.execute(
                    "SELECT step FROM steps WHERE run_id = (SELECT run_id FROM runs WHERE environment = 'dev' "
                    "ORDER BY created_at DESC LIMIT 1) AND status = 'succeeded' AND reused_from IS NULL")]
            durations.append(ended - started)
        after = (prod.stat().st_size, prod.stat().st_mtime_ns, sha256_of(prod))
        result = {
            "rows": arguments.rows,
            "prod_build": {"wall": round(prod_build.wall, 3), "cpu": round(prod_build.cpu, 3)},
            "prod_warehouse_bytes": before[0],
            "prod_unchanged": before == after,
            "dev_built_steps": built,
            "dev_wall": [round(sample.wall, 3) for sample in samples],
            "dev_cpu": [round(sample.cpu, 3) for sample in samples],
            "dev_wall_median": round(statistics.median(sample.wall for sample in samples), 3),
            "dev_cpu_median": round(statistics.median(sample.cpu for sample in samples), 3),
            "dev_run_seconds_median": round(statistics.median(durations), 3),
            "dev_bytes": sizes,
            "load_average_1m": [round(load, 2) for load in loads],
        }
    finally:
        shutil.rmtree(PROJECT_COPY, ignore_errors=True)
    print(json.dumps(result, indent=2))
    wall_ok = result["dev_wall_median"] < TARGET_SECONDS
    bytes_ok = max(result["dev_bytes"]) < TARGET_BYTES
    print(f"dev build: {result['dev_wall_median']} s wall (target < {TARGET_SECONDS} s: {'met' if wall_ok else 'NOT met'}), "
          f"{max(result['dev_bytes']):,} bytes added (target < {TARGET_BYTES:,}: {'met' if bytes_ok else 'NOT met'}); "
          f"prod unchanged: {result['prod_unchanged']}", file=sys.stderr)
    return 0 if result["prod_unchanged"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
