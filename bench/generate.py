"""Generate the benchmark workload: millions of order rows as CSV and Parquet, deterministically.

    python bench/generate.py [--rows 5000000] [--out bench/workload]

Mirrors the workload of the performance anchors (shared/reference/perf-anchors.md): orders with
exact re-deliveries (2% of the rows), a long-tailed amount, a skewed status and country, and
customers of which about 1% are internal and 0.25% of the orders' customers are unknown.
Randomness is hash-based, so the same row count always gives byte-identical files.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
COUNTRIES = ["US", "GB", "DE", "FR", "JP", "CA", "AU", "IT", "ES", "NL", "SE", "BR", "MX",
             "IN", "PL", "BE", "CH", "AT", "DK", "NO", "FI", "IE", "PT", "NZ", "SG"]


def generate(out: Path, rows: int) -> dict[str, int]:
    """Write orders and customers (CSV and Parquet) into ``out``; return the row counts."""
    out.mkdir(parents=True, exist_ok=True)
    distinct_orders = rows - rows // 50  # 2% of the rows re-deliver an order exactly
    customers = max(rows // 25, 100)
    countries = "[" + ", ".join(f"'{code}'" for code in COUNTRIES) + "]"
    connection = duckdb.connect()
    # r(id, salt, n): a deterministic pseudo-random integer in [0, n)
    connection.execute("CREATE MACRO r(id, salt, n) AS CAST(hash(id, salt) % n AS BIGINT)")
    connection.execute(f"""
        CREATE TABLE customers AS
        SELECT
            id AS customer_id,
            'Customer ' || id AS name,
            'customer' || id || '@example.com' AS email,
            CASE WHEN r(id, 'seg', 100) = 0 THEN 'internal'
                 ELSE ['consumer', 'consumer', 'consumer', 'smb', 'smb', 'enterprise'][1 + r(id, 'seg2', 6)]
            END AS segment,
            {countries}[1 + least(r(id, 'cty', 1000), r(id, 'cty2', 1000)) * 25 // 1000] AS home_country,
            DATE '2018-01-01' + CAST(r(id, 'signup', 2400) AS INTEGER) AS signup_date
        FROM range(1, {customers} + 1) AS t(id)
    """)
    # a customer id past the last one has no customer row: 0.25% of the orders
    connection.execute(f"""
        CREATE TABLE orders_distinct AS
        SELECT
            id AS order_id,
            CASE WHEN r(id, 'orphan', 400) = 0 THEN {customers} + 1 + r(id, 'oc', 1000)
                 ELSE 1 + r(id, 'cust', {customers}) END AS customer_id,
            strftime(TIMESTAMP '2024-01-01' + to_seconds(r(id, 'ts', 31622400)),
                     '%Y-%m-%d %H:%M:%S') AS order_ts,
            CAST(round(2 + 998 * pow((r(id, 'amt', 1000000)) / 1000000.0, 3), 2) AS DECIMAL(12, 2)) AS amount,
            CASE WHEN r(id, 'st', 100) < 55 THEN 'delivered'
                 WHEN r(id, 'st', 100) < 70 THEN 'shipped'
                 WHEN r(id, 'st', 100) < 82 THEN 'paid'
                 WHEN r(id, 'st', 100) < 90 THEN 'cancelled'
                 WHEN r(id, 'st', 100) < 96 THEN 'returned'
                 ELSE 'pending' END AS status,
            lower({countries}[1 + least(r(id, 'oc1', 1000), r(id, 'oc2', 1000)) * 25 // 1000]) AS country
        FROM range(1, {distinct_orders} + 1) AS t(id)
    """)
    connection.execute(f"""
        CREATE TABLE orders AS
        SELECT * EXCLUDE (sort_key) FROM (
            SELECT *, hash(order_id, 'order') AS sort_key FROM orders_distinct
            UNION ALL
            SELECT *, hash(order_id, 'again') AS sort_key FROM (
                SELECT * FROM orders_distinct
                WHERE order_id % {max(distinct_orders // max(rows - distinct_orders, 1), 1)} = 0
                ORDER BY order_id LIMIT {rows - distinct_orders}
            )
        ) ORDER BY sort_key
    """)
    for table in ("orders", "customers"):
        connection.execute(f"COPY {table} TO '{out / (table + '.csv')}' (HEADER, DELIMITER ',')")
        connection.execute(f"COPY {table} TO '{out / (table + '.parquet')}' (FORMAT parquet, COMPRESSION zstd)")
    counts = {table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in ("orders", "customers")}
    connection.close()
    return counts


def main(argv: list[str] | None = None) -> int:
    """Command line: generate the workload, report what was written."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="order rows (default 5,000,000)")
    parser.add_argument("--out", type=Path, default=HERE / "workload", help="output folder (default bench/workload)")
    arguments = parser.parse_args(argv)
    started = time.perf_counter()
    counts = generate(arguments.out, arguments.rows)
    took = time.perf_counter() - started
    print(f"wrote {counts['orders']:,} orders and {counts['customers']:,} customers to {arguments.out} in {took:.1f}s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
