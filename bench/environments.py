"""What a development environment costs over the 5M-order workload: prod built once, then `--env dev` with the
last transform changed (docs/environments.md).

    python bench/environments.py [--rows 5000000] [--runs 3] [--warm]

1. prod: `flowdeck run orders_daily` once, on a copy of the bench project (bench/env_project, removed after).
2. Nothing changed: `flowdeck run orders_daily --env dev` from an empty environment reads every table from
   prod: what an environment costs by itself (process, plan, attaching prod, the views), in wall and CPU
   seconds and bytes on disk.
3. The last transform (`daily_revenue`: 5M orders joined and aggregated) gets one more column; the same
   command, again from an empty environment each time, builds that one step: wall and CPU seconds of the
   whole process, the run's own duration and the step's (from the ledger) against prod's build of it, and the bytes the
   environment holds then (its bookkeeping and the one table it built).
4. prod's warehouse file is checked unchanged (size, modification time, sha256).

The workload is bench/run.py's (generated on first use, or hard-linked from another checkout with
`--workload DIR`). Figures are recorded in bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
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
from warm import WarmServer  # noqa: E402

PROJECT_COPY = HERE / "env_project"  # beside bench/project, so its ../workload paths hold
TARGET_SECONDS = 1.0
TARGET_BYTES = 1_000_000
RUN = "(the run)"  # step_seconds' key for the run's own duration


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
    parser.add_argument("--warm", action="store_true", help="run the dev builds through a warm server (bench/warm.py)")
    arguments = parser.parse_args(argv)
    if arguments.workload:
        link_workload(arguments.workload)
    ensure_workload(arguments.rows)
    shutil.rmtree(PROJECT_COPY, ignore_errors=True)
    shutil.copytree(HERE / "project", PROJECT_COPY, ignore=shutil.ignore_patterns(".flowdeck"))
    env = child_env()
    command = [str(FLOWDECK), "--project", str(PROJECT_COPY), "run", "orders_daily",
               "--param", f"orders_csv={WORKLOAD / 'orders.csv'}", "--param", f"customers_csv={WORKLOAD / 'customers.csv'}"]
    ledger_path = PROJECT_COPY / ".flowdeck" / "ledger.sqlite"
    dev = PROJECT_COPY / ".flowdeck" / "envs" / "dev"
    try:
        prod_build = timed(command, env=env, cwd=PROJECT_COPY, quiet=False)
        prod_step = step_seconds(ledger_path, "prod")
        prod = PROJECT_COPY / ".flowdeck" / "warehouse.duckdb"
        before = (prod.stat().st_size, prod.stat().st_mtime_ns, sha256_of(prod))
        with contextlib.ExitStack() as stack:
            warm = stack.enter_context(WarmServer(FLOWDECK, env)) if arguments.warm else None
            unchanged = measure(command, env, dev, ledger_path, arguments.runs, warm)
            sql = PROJECT_COPY / "pipelines" / "orders_daily" / "daily_revenue.sql"
            sql.write_text(sql.read_text().replace("AS avg_order_value", "AS avg_order_value,\n    max(o.amount) AS "
                                                   "largest_order", 1))
            changed = measure(command, env, dev, ledger_path, arguments.runs, warm)
        after = (prod.stat().st_size, prod.stat().st_mtime_ns, sha256_of(prod))
        result = {
            "rows": arguments.rows,
            "warm": arguments.warm,
            "prod_build": {"wall": round(prod_build.wall, 3), "cpu": round(prod_build.cpu, 3),
                           "run_seconds": round(prod_step[RUN], 3),
                           "daily_revenue_seconds": round(prod_step["daily_revenue"], 3)},
            "prod_warehouse_bytes": before[0],
            "prod_unchanged": before == after,
            "dev_nothing_changed": unchanged,
            "dev_last_step_changed": changed,
        }
    finally:
        shutil.rmtree(PROJECT_COPY, ignore_errors=True)
    print(json.dumps(result, indent=2))
    for name in ("dev_nothing_changed", "dev_last_step_changed"):
        figures = result[name]
        wall_ok = figures["wall_median"] < TARGET_SECONDS
        bytes_ok = figures["bytes_max"] < TARGET_BYTES
        run_ok = figures["run_median"] < TARGET_SECONDS
        print(f"{name}: the process {figures['wall_median']} s wall, {figures['cpu_median']} s CPU (target < "
              f"{TARGET_SECONDS} s: {'met' if wall_ok else 'NOT met'}); the run itself (ledger) {figures['run_median']} s "
              f"({'under' if run_ok else 'not under'} {TARGET_SECONDS} s); {figures['bytes_max']:,} bytes (target < "
              f"{TARGET_BYTES:,}: {'met' if bytes_ok else 'NOT met'})", file=sys.stderr)
    print(f"prod unchanged: {result['prod_unchanged']}", file=sys.stderr)
    return 0 if result["prod_unchanged"] else 1


def step_seconds(ledger_path: Path, environment: str) -> dict[str, float]:
    """The steps the newest run of ``environment`` built, with their durations, and the run's own duration as
    the ledger records it (started to finished: the process's start-up and exit excluded) under ``RUN``;
    fails unless the run succeeded."""
    with sqlite3.connect(ledger_path) as ledger:
        run_id, status, started, ended = ledger.execute(
            "SELECT run_id, status, started_at, ended_at FROM runs WHERE environment = ? "
            "ORDER BY created_at DESC LIMIT 1", (environment,)).fetchone()
        if status != "succeeded":
            raise SystemExit(f"the {environment} run {run_id} {status}")
        return {RUN: ended - started, **{step: step_ended - step_started for step, step_started, step_ended in ledger.execute(
            "SELECT step, started_at, ended_at FROM steps WHERE run_id = ? AND status = 'succeeded' "
            "AND reused_from IS NULL", (run_id,))}}


def measure(command: list[str], env: dict[str, str], dev: Path, ledger_path: Path, runs: int,
            warm: WarmServer | None = None) -> dict[str, object]:
    """``runs`` builds of the dev environment, each from an empty one (through ``warm`` when given): wall, CPU,
    steps built, bytes, load."""
    samples, sizes, built, loads = [], [], [], []
    for _ in range(runs):
        shutil.rmtree(dev, ignore_errors=True)
        loads.append(os.getloadavg()[0])
        samples.append(timed([*command, "--env", "dev"], env=warm.env if warm else env, cwd=dev.parent.parent.parent,
                             quiet=False, cpu_elsewhere=warm.commands_cpu if warm else None))
        sizes.append(folder_bytes(dev))
        built.append(step_seconds(ledger_path, "dev"))
    return {
        "wall": [round(sample.wall, 3) for sample in samples],
        "cpu": [round(sample.cpu, 3) for sample in samples],
        "wall_median": round(statistics.median(sample.wall for sample in samples), 3),
        "cpu_median": round(statistics.median(sample.cpu for sample in samples), 3),
        "run_seconds": [round(run[RUN], 3) for run in built],
        "run_median": round(statistics.median(run[RUN] for run in built), 3),
        "built": {step: round(statistics.median(run[step] for run in built), 3) for step in built[0] if step != RUN},
        "bytes": sizes,
        "bytes_max": max(sizes),
        "load_average_1m": [round(load, 2) for load in loads],
    }


if __name__ == "__main__":
    raise SystemExit(main())
