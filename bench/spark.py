"""Wall time of the example pipeline on DuckDB and on local Spark, and where Spark's time goes.

    .venv/bin/python bench/spark.py [--runs 3] [--master local[2]] [--json results.json]

Copies the example project to a temporary folder and runs `daily_sales` in this process: on
DuckDB, then on Spark (master mode, Spark Connect on 127.0.0.1). Reports the Spark driver's
start, the first Connect session, the first (cold) Spark run and the following (warm) ones,
each with its per-step times from the ledger. Needs the Spark extra and Java 17+.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flowdeck.engine.workspace import Workspace  # noqa: E402


def copy_example(target: Path, master: str) -> Path:
    """The example project, with Spark set to ``master``."""
    for name in ("flowdeck.yaml", "pipelines", "data/sample", "landing"):
        source, destination = ROOT / name, target / name
        if source.is_dir():
            shutil.copytree(source, destination, ignore=shutil.ignore_patterns(".flowdeck"))
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    with open(target / "flowdeck.yaml", "a", encoding="utf-8") as handle:
        handle.write(f"\nspark:\n  master: \"{master}\"\n")
    return target


def timed_run(project: Path, engine: str) -> dict[str, object]:
    """One run of daily_sales: its wall time and the ledger's per-step seconds."""
    workspace = Workspace.open(project)
    started = time.perf_counter()
    record, _ = workspace.submit("daily_sales", options={"engine": engine})
    status = workspace.execute(record.run_id)
    wall = time.perf_counter() - started
    steps = {step.step: round(step.duration or 0.0, 3) for step in workspace.ledger.steps_of(record.run_id)}
    workspace.close()
    if status != "succeeded":
        raise SystemExit(f"the {engine} run failed: see `flowdeck --project {project} show {record.run_id}`")
    return {"wall_seconds": round(wall, 3), "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per engine (the first Spark run is the cold one)")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    arguments = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="flowdeck-bench-spark-"))
    try:
        project = copy_example(folder / "project", arguments.master)
        duckdb_runs = [timed_run(project, "duckdb") for _ in range(arguments.runs)]

        from flowdeck.engine.backends.spark.session import connect, local_server

        settings = Workspace.open(project).project.config.spark
        server = local_server(settings)
        started = time.perf_counter()
        session = connect(settings)
        session.sql("SELECT 1").collect()
        first_session = time.perf_counter() - started
        session.stop()
        spark_runs = [timed_run(project, "spark") for _ in range(arguments.runs)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    warm = [run["wall_seconds"] for run in spark_runs[1:]] or [spark_runs[0]["wall_seconds"]]
    results = {
        "master": arguments.master,
        "duckdb_run_seconds_median": statistics.median(run["wall_seconds"] for run in duckdb_runs),
        "spark_driver_start_seconds": round(server.started_seconds, 3),
        "spark_first_session_and_query_seconds": round(first_session, 3),
        "spark_cold_run_seconds": spark_runs[0]["wall_seconds"],
        "spark_warm_run_seconds_median": statistics.median(warm),
        "duckdb_runs": duckdb_runs,
        "spark_runs": spark_runs,
    }
    print(json.dumps(results, indent=2))
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
