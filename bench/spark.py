"""Wall time of the example pipeline on DuckDB and on local Spark, and where Spark's time goes.

    .venv/bin/python bench/spark.py [--runs 3] [--master local[2]] [--json results.json]

Copies the example project to a temporary folder and measures, on Spark in master mode
(Spark Connect on 127.0.0.1):

- in this process: `daily_sales` on DuckDB, then the Spark driver's start, the first Connect
  session, the first (cold) Spark run and the following (warm) ones, each with its per-step
  times from the ledger;
- a step's fixed overhead: a pipeline of trivial chained transforms (`SELECT x + 1 AS x FROM
  previous`) run warm, so what is measured is the per-step cost, not the data;

Every run is forced (`--force`): otherwise a rerun's steps are all `unchanged` by fingerprint
and nothing runs.
- as an operator meets it: `flowdeck run daily_sales --engine spark` as a new process, with a
  `flowdeck spark serve` keeping Spark warm (``--no-serve``: without one, where each run starts
  its own Spark driver).

Needs the Spark extra and Java 17+. The machine's load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flowdeck.engine.workspace import Workspace  # noqa: E402

OVERHEAD_STEPS = 6


def copy_example(target: Path, master: str) -> Path:
    """The example project, with Spark set to ``master``, and a pipeline of trivial steps."""
    for name in ("flowdeck.yaml", "pipelines", "data/sample", "landing"):
        source, destination = ROOT / name, target / name
        if source.is_dir():
            shutil.copytree(source, destination, ignore=shutil.ignore_patterns(".flowdeck"))
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    with open(target / "flowdeck.yaml", "a", encoding="utf-8") as handle:
        handle.write(f"\nspark:\n  master: \"{master}\"\n")
    trivial = target / "pipelines" / "overhead"
    trivial.mkdir()
    steps = ["steps:"]
    for index in range(OVERHEAD_STEPS):
        (trivial / f"s{index}.sql").write_text("SELECT 1 AS x\n" if index == 0 else f"SELECT x + 1 AS x FROM s{index - 1}\n")
        steps.append(f"  - {{name: s{index}, kind: transform, sql: s{index}.sql}}")
    (trivial / "pipeline.yaml").write_text("\n".join(steps) + "\n")
    return target


def load() -> str:
    """The load averages (1, 5, 15 minutes), as `uptime` shows them."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def timed_run(project: Path, pipeline: str, engine: str) -> dict[str, Any]:
    """One run in this process: its wall time and the ledger's per-step seconds."""
    workspace = Workspace.open(project)
    started = time.perf_counter()
    # forced: unforced, fingerprints would keep every step of a rerun `unchanged` (nothing measured)
    record, _ = workspace.submit(pipeline, options={"engine": engine, "force": True})
    status = workspace.execute(record.run_id)
    wall = time.perf_counter() - started
    steps = {step.step: round(step.duration or 0.0, 3) for step in workspace.ledger.steps_of(record.run_id)}
    workspace.close()
    if status != "succeeded":
        raise SystemExit(f"the {engine} run failed: see `flowdeck --project {project} show {record.run_id}`")
    return {"wall_seconds": round(wall, 3), "steps": steps, "load": load()}


def flowdeck(project: Path, *arguments: str) -> list[str]:
    """The command line of the flowdeck CLI of this checkout on ``project``."""
    return [sys.executable, "-m", "flowdeck.console.cli.main", "--project", str(project), *arguments]


def cli_runs(project: Path, runs: int, *, serve: bool) -> dict[str, Any]:
    """`flowdeck run daily_sales --engine spark` as new processes, with or without a warm server."""
    server: subprocess.Popen[bytes] | None = None
    results: dict[str, Any] = {"served": serve}
    try:
        if serve:
            started = time.perf_counter()
            server = subprocess.Popen(flowdeck(project, "spark", "serve"), stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL)
            assert server.stdout is not None
            server.stdout.readline()  # the line it prints once the server listens
            results["serve_ready_seconds"] = round(time.perf_counter() - started, 3)
        walls = []
        for _ in range(runs):
            started = time.perf_counter()
            done = subprocess.run(flowdeck(project, "run", "daily_sales", "--engine", "spark", "--force"),
                                  capture_output=True, text=True)
            walls.append({"wall_seconds": round(time.perf_counter() - started, 3), "load": load()})
            if done.returncode != 0:
                raise SystemExit(f"the CLI run failed:\n{done.stdout}\n{done.stderr}")
        results["runs"] = walls
        results["warm_run_seconds_median"] = statistics.median(run["wall_seconds"] for run in walls[1:] or walls)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=60)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per engine (the first Spark run is the cold one)")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--no-serve", action="store_true", help="CLI runs without `flowdeck spark serve`")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    arguments = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="flowdeck-bench-spark-"))
    results: dict[str, Any] = {"master": arguments.master, "load_at_start": load()}
    try:
        project = copy_example(folder / "project", arguments.master)
        duckdb_runs = [timed_run(project, "daily_sales", "duckdb") for _ in range(arguments.runs)]

        from flowdeck.engine.backends.spark.session import connect, local_server

        settings = Workspace.open(project).project.config.spark
        server = local_server(settings)
        started = time.perf_counter()
        session = connect(settings)
        session.sql("SELECT 1").collect()
        first_session = time.perf_counter() - started
        session.stop()
        spark_runs = [timed_run(project, "daily_sales", "spark") for _ in range(arguments.runs)]
        overhead_runs = [timed_run(project, "overhead", "spark") for _ in range(arguments.runs)]
        per_step = [seconds for run in overhead_runs[1:] or overhead_runs for seconds in run["steps"].values()]
        warm = [run["wall_seconds"] for run in spark_runs[1:]] or [spark_runs[0]["wall_seconds"]]
        results.update({
            "duckdb_run_seconds_median": statistics.median(run["wall_seconds"] for run in duckdb_runs),
            "spark_driver_start_seconds": round(server.started_seconds, 3),
            "spark_first_session_and_query_seconds": round(first_session, 3),
            "spark_cold_run_seconds": spark_runs[0]["wall_seconds"],
            "spark_warm_run_seconds_median": statistics.median(warm),
            "spark_step_fixed_overhead_seconds_median": round(statistics.median(per_step), 3),
            "duckdb_runs": duckdb_runs,
            "spark_runs": spark_runs,
            "overhead_runs": overhead_runs,
        })
        results["cli"] = cli_runs(project, arguments.runs, serve=not arguments.no_serve)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    results["load_at_end"] = load()
    print(json.dumps(results, indent=2))
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
