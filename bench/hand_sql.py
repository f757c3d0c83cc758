"""The benchmark pipeline as hand-written DuckDB SQL in one process: the limit flowdeck is measured against.

    python bench/hand_sql.py DATABASE OUT.parquet ORDERS_CSV CUSTOMERS_CSV

Runs the same .sql files as the flowdeck pipeline (bench/project/pipelines/orders_daily/),
as ``CREATE OR REPLACE TABLE ... AS`` into a file database, then exports with ``COPY``:
what a person would write by hand, with no staging, checks or bookkeeping.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import duckdb

PIPELINE = Path(__file__).resolve().parent / "project" / "pipelines" / "orders_daily"


def sql_of(name: str, params: dict[str, str]) -> str:
    """The step's SQL with each ``$param`` replaced by a string literal."""
    text = (PIPELINE / f"{name}.sql").read_text(encoding="utf-8")
    for key, value in params.items():
        text = text.replace(f"${key}", "'" + value.replace("'", "''") + "'")
    return text


def main(argv: list[str]) -> int:
    """Run the three steps; print the seconds each took on stderr."""
    database, out, orders_csv, customers_csv = argv
    params = {"orders_csv": orders_csv, "customers_csv": customers_csv}
    timings: list[str] = []
    started = time.perf_counter()
    connection = duckdb.connect(database)
    for table in ("stg_orders", "daily_revenue"):
        begun = time.perf_counter()
        connection.execute(f"CREATE OR REPLACE TABLE {table} AS\n{sql_of(table, params)}")
        timings.append(f"{table} {time.perf_counter() - begun:.2f}s")
    begun = time.perf_counter()
    connection.execute(f"COPY (SELECT * FROM daily_revenue) TO '{out}' (FORMAT parquet)")
    timings.append(f"export {time.perf_counter() - begun:.2f}s")
    connection.close()
    print(f"hand SQL: {', '.join(timings)}; total {time.perf_counter() - started:.2f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
