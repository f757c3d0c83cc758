"""Rows per second of PostgreSQL → DuckDB (extract) and DuckDB → PostgreSQL (load) through flowdeck,
against the same transfer written directly with the ADBC driver; the target is within 1.2x.

Usage: .venv/bin/python bench/connectors.py [--rows 1000000] [--repeat 5]

It starts a throwaway PostgreSQL cluster (tests/connectors/postgres_server.py: needs the
PostgreSQL server binaries, as root it runs the server as the `postgres` user), runs each
transfer ``--repeat`` times and reports the median. Both sides run as processes of their own and
are timed two ways: the transfer (the script: from importing the driver to the end; flowdeck:
the step as the ledger recorded it, which also stages, checksums and publishes, or commits with
the load marker) and the whole process (Python start-up; for flowdeck also planning and the
ledger).
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
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "connectors"))

from postgres_server import Cluster, start_cluster, stop_cluster  # noqa: E402

FLOWDECK = str(Path(sys.executable).with_name("flowdeck"))
# No numeric column: flowdeck reads numeric(p, s) as DECIMAL where a plain script gets text, which
# would compare two different transfers.
SOURCE = ("CREATE TABLE sales AS SELECT g AS id, g % 1000 AS customer, ((g % 97) * 1.25)::double precision AS amount, "
          "timestamp '2024-01-01' + g * interval '1 second' AS sold_at, 'item ' || (g % 50) AS item, "
          "md5(g::text) AS note FROM generate_series(1, {rows}) g")


def pg_execute(cluster: Cluster, sql: str) -> None:
    import adbc_driver_postgresql.dbapi

    with adbc_driver_postgresql.dbapi.connect(cluster.uri(), autocommit=True) as connection, \
            connection.cursor() as cursor:
        cursor.execute(sql)


DIRECT_EXTRACT = """
import sys, time
started = time.perf_counter()
import adbc_driver_postgresql.dbapi, duckdb
with adbc_driver_postgresql.dbapi.connect(sys.argv[1]) as source, source.cursor() as cursor:
    cursor.execute("SELECT * FROM sales")
    with duckdb.connect(sys.argv[2]) as warehouse:
        warehouse.execute("SET enable_progress_bar = false")
        warehouse.register("incoming", cursor.fetch_record_batch())
        warehouse.execute("CREATE TABLE sales AS SELECT * FROM incoming")
print(time.perf_counter() - started)
"""
DIRECT_LOAD = """
import sys, time
started = time.perf_counter()
import adbc_driver_postgresql.dbapi, duckdb
with duckdb.connect(sys.argv[2], read_only=True) as warehouse:
    warehouse.execute("SET enable_progress_bar = false")
    reader = warehouse.sql("SELECT * FROM sales").to_arrow_reader(batch_size=64 * 1024)
    with adbc_driver_postgresql.dbapi.connect(sys.argv[1]) as target, target.cursor() as cursor:
        cursor.adbc_ingest("direct_copy", reader, mode="create")
        target.commit()
print(time.perf_counter() - started)
"""


def direct(script: str, cluster: Cluster, warehouse: Path) -> tuple[float, float]:
    """Run a transfer written directly with the ADBC driver, as a script of its own: (its own timing
    from its first import to the end of the transfer, seconds of the whole process)."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", script, cluster.uri(), str(warehouse)], capture_output=True,
                            text=True, check=True)
    return float(result.stdout), time.perf_counter() - started


def flowdeck_project(cluster: Cluster, folder: Path) -> Path:
    root = folder / "project"
    shutil.rmtree(root, ignore_errors=True)
    (root / "pipelines" / "extract").mkdir(parents=True)
    (root / "pipelines" / "load").mkdir(parents=True)
    (root / "flowdeck.yaml").write_text(textwrap.dedent(f"""
        name: bench
        connections:
          db: {{type: postgresql, uri: "postgresql://127.0.0.1:{cluster.port}/postgres", user: postgres,
                password: "${{secret:PG}}"}}
        """))
    (root / "pipelines" / "extract" / "pipeline.yaml").write_text(
        "steps:\n  - name: sales\n    kind: extract\n    source: {connection: db, table: sales}\n")
    (root / "pipelines" / "load" / "pipeline.yaml").write_text(
        "steps:\n  - name: ship\n    kind: load\n    table: sales\n"
        "    to: {connection: db, table: flowdeck_copy, mode: replace}\n")
    return root


def flowdeck_run(cluster: Cluster, root: Path, pipeline: str, step: str) -> tuple[float, float]:
    """(seconds of the step as the ledger recorded it, seconds of the whole command)."""
    import sqlite3

    env = {**os.environ, "FLOWDECK_SECRET_PG": cluster.password, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    started = time.perf_counter()
    result = subprocess.run([FLOWDECK, "--project", str(root), "run", pipeline], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"flowdeck run {pipeline} failed:\n{result.stdout}\n{result.stderr}")
    with sqlite3.connect(root / ".flowdeck" / "ledger.sqlite") as db:
        (payload,) = db.execute("SELECT payload_json FROM events WHERE step = ? AND kind = 'step.succeeded' "
                                "ORDER BY event_id DESC LIMIT 1", (step,)).fetchone()
    return float(json.loads(payload)["seconds"]), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="flowdeck-bench-connectors-"))
    cluster = start_cluster()
    try:
        pg_execute(cluster, SOURCE.format(rows=options.rows))
        pg_execute(cluster, "VACUUM ANALYZE sales")
        root = flowdeck_project(cluster, folder)
        results: dict[str, dict[str, list[float]]] = {
            name: {"direct": [], "script": [], "step": [], "command": []} for name in ("extract", "load")}
        warehouse = folder / "direct.duckdb"
        for _ in range(options.repeat):  # interleaved, so a busy moment hurts both sides alike
            warehouse.unlink(missing_ok=True)
            for name, script, pipeline, step_name in (("extract", DIRECT_EXTRACT, "extract", "sales"),
                                                       ("load", DIRECT_LOAD, "load", "ship")):
                if name == "load":
                    pg_execute(cluster, "DROP TABLE IF EXISTS direct_copy")
                transfer, process = direct(script, cluster, warehouse)
                step, command = flowdeck_run(cluster, root, pipeline, step_name)
                for key, value in (("direct", transfer), ("script", process), ("step", step), ("command", command)):
                    results[name][key].append(value)
        rows = options.rows
        print(json.dumps(results), file=sys.stderr)  # every sample, to judge the noise
        print(f"{rows:,} rows (2 integers, a double, a timestamp, 2 text columns), median of {options.repeat}; "
              f"{os.cpu_count()} CPUs, PostgreSQL on the same machine\n")
        print("| transfer | direct ADBC script: transfer | flowdeck: step | ratio | direct script: process "
              "| flowdeck run: process | ratio |")
        print("|---|---|---|---|---|---|---|")
        for name, label in (("extract", "PostgreSQL → DuckDB"), ("load", "DuckDB → PostgreSQL")):
            transfer, script, step, command = (statistics.median(results[name][key])
                                               for key in ("direct", "script", "step", "command"))
            print(f"| {label} | {rows / transfer:,.0f} rows/s ({transfer:.2f}s) | {rows / step:,.0f} rows/s "
                  f"({step:.2f}s) | {step / transfer:.2f}x | {rows / script:,.0f} rows/s ({script:.2f}s) | "
                  f"{rows / command:,.0f} rows/s ({command:.2f}s) | {command / script:.2f}x |")
    finally:
        stop_cluster(cluster)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
