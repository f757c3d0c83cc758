"""The bundled example pipelines run green and compute what their SQL promises.

Expected figures are recomputed here in plain Python from the sample files, following the
cleaning rules written in the pipelines' comments, not copied from a run.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import assert_consistent, ledger_rows, run_flowdeck, warehouse_rows

PAID = ("paid", "shipped", "delivered")


def _int(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def _day(text: str) -> date | None:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        return None


def expected_orders_clean(orders_csv: Path) -> dict[int, dict]:
    """orders.csv cleaned by hand: typed, rows without id/customer/date dropped, latest version kept."""
    latest: dict[int, dict] = {}
    with open(orders_csv, newline="") as handle:
        for raw in csv.DictReader(handle):
            order_id, customer_id, order_date = _int(raw["order_id"]), _int(raw["customer_id"]), _day(raw["order_date"])
            if order_id is None or customer_id is None or order_date is None:
                continue
            row = {
                "order_id": order_id,
                "customer_id": customer_id,
                "product_id": _int(raw["product_id"]),
                "quantity": _int(raw["quantity"]) if _int(raw["quantity"]) is not None else 1,
                "order_date": order_date,
                "status": raw["status"].strip().lower(),
                "updated_at": datetime.fromisoformat(raw["updated_at"]),
            }
            if order_id not in latest or row["updated_at"] > latest[order_id]["updated_at"]:
                latest[order_id] = row
    return latest


def expected_daily_sales(project: Path, since: date) -> dict[tuple, tuple[int, int, Decimal]]:
    """(order_date, country, category) → (orders, units, revenue), computed without flowdeck."""
    import duckdb  # only as a Parquet file reader: the products feed is a Parquet file

    orders = expected_orders_clean(project / "data/sample/orders.csv")
    with open(project / "data/sample/customers.csv", newline="") as handle:
        countries = {int(row["customer_id"]): row["country"] for row in csv.DictReader(handle)}
    products = {
        product_id: (category, Decimal(unit_price))
        for product_id, category, unit_price in duckdb.sql(
            f"SELECT product_id, category, unit_price::VARCHAR FROM '{project / 'data/sample/products.parquet'}'"
        ).fetchall()
    }
    totals: dict[tuple, list] = defaultdict(lambda: [0, 0, Decimal("0")])
    for order in orders.values():
        if order["customer_id"] not in countries or order["product_id"] not in products:
            continue  # the inner joins of sales.sql
        if order["status"] not in PAID or order["order_date"] < since:
            continue
        category, unit_price = products[order["product_id"]]
        key = (order["order_date"], countries[order["customer_id"]], category)
        totals[key][0] += 1
        totals[key][1] += order["quantity"]
        totals[key][2] += order["quantity"] * unit_price
    return {key: tuple(value) for key, value in totals.items()}


def test_daily_sales_runs_green_and_matches_hand_computed_figures(project: Path) -> None:
    result = run_flowdeck("run", "daily_sales", project=project)
    assert result.returncode == 0, result
    assert "succeeded" in result.stdout

    with open(project / "data/sample/orders.csv", newline="") as handle:
        raw_rows = sum(1 for _ in csv.DictReader(handle))
    cleaned = expected_orders_clean(project / "data/sample/orders.csv")
    expected = expected_daily_sales(project, since=date(2026, 1, 1))

    assert warehouse_rows(project, "SELECT count(*) FROM raw_orders") == [(raw_rows,)]
    assert warehouse_rows(project, "SELECT count(*) FROM orders_clean") == [(len(cleaned),)]
    assert sorted(warehouse_rows(project, "SELECT order_id, status, quantity FROM orders_clean")) == sorted(
        (order["order_id"], order["status"], order["quantity"]) for order in cleaned.values()
    )
    published = {
        (day, country, category): (orders, units, revenue)
        for day, country, category, orders, units, revenue in warehouse_rows(
            project, "SELECT order_date, country, category, orders, units, revenue FROM daily_sales")
    }
    assert published == expected
    assert sum(revenue for _, _, revenue in expected.values()) > 0  # the comparison is not between two empty sets

    # the export holds the same rows, and the ledger agrees on every count
    exported = warehouse_rows(project, f"SELECT count(*), sum(revenue) FROM '{project / 'exports/daily_sales.parquet'}'")
    assert exported == [(len(expected), sum(revenue for _, _, revenue in expected.values()))]
    steps = {row["step"]: row for row in ledger_rows(project, "SELECT * FROM steps")}
    assert {name: step["status"] for name, step in steps.items()} == dict.fromkeys(steps, "succeeded")
    assert steps["raw_orders"]["rows_out"] == raw_rows
    assert steps["orders_clean"]["rows_out"] == len(cleaned)
    assert steps["daily_sales"]["rows_out"] == len(expected)
    assert steps["export_daily_sales"]["rows_out"] == len(expected)
    assert_consistent(project)


def test_warn_check_records_orders_of_unknown_customers_without_failing(project: Path) -> None:
    result = run_flowdeck("run", "daily_sales", project=project)
    assert result.returncode == 0, result
    with open(project / "data/sample/customers.csv", newline="") as handle:
        known = {int(row["customer_id"]) for row in csv.DictReader(handle)}
    unknown: dict[int, int] = defaultdict(int)
    for order in expected_orders_clean(project / "data/sample/orders.csv").values():
        if order["customer_id"] not in known:
            unknown[order["customer_id"]] += 1
    assert unknown, "the sample data is meant to hold orders of unknown customers"

    checks = ledger_rows(project, "SELECT * FROM check_results WHERE check_name LIKE 'relationships%'")
    assert [(check["status"], check["failing_rows"]) for check in checks] == [("warned", len(unknown))]
    shown = run_flowdeck("show", "last", "--json", project=project).json()
    warned = [check for check in shown["checks"] if check["status"] == "warned"]
    assert {row["customer_id"]: row["occurrences"] for row in warned[0]["sample"]} == dict(unknown)


def test_since_parameter_limits_the_aggregate(project: Path) -> None:
    result = run_flowdeck("run", "daily_sales", "--param", "since=2026-11-15", project=project)
    assert result.returncode == 0, result
    expected = expected_daily_sales(project, since=date(2026, 11, 15))
    rows = warehouse_rows(project, "SELECT min(order_date), count(*), sum(revenue) FROM daily_sales")
    assert rows == [(min(key[0] for key in expected), len(expected), sum(value[2] for value in expected.values()))]
    assert ledger_rows(project, "SELECT params_json FROM runs") == [{"params_json": '{"since": "2026-11-15"}'}]


def _write_orders(path: Path, rows: list[tuple]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "customer_id", "product_id", "quantity", "order_date", "status", "updated_at"])
        writer.writerows(rows)


def test_ingest_orders_keeps_the_latest_version_of_each_landed_order(project: Path) -> None:
    landing = project / "landing" / "orders"
    _write_orders(landing / "delivery-1.csv", [
        (1, 10, 5, 2, "2026-11-01", "paid", "2026-11-01 08:00:00"),
        (2, 11, 6, 1, "2026-11-01", " Shipped ", "2026-11-01 09:00:00"),
        ("x", 12, 7, 1, "2026-11-01", "paid", "2026-11-01 10:00:00"),  # no usable id: dropped
    ])
    _write_orders(landing / "delivery-2.csv", [
        (1, 10, 5, 2, "2026-11-01", "returned", "2026-11-03 08:00:00"),  # a later version of order 1
        (3, 12, 7, 4, "2026-11-02", "delivered", "2026-11-02 12:00:00"),
    ])
    result = run_flowdeck("run", "ingest_orders", project=project)
    assert result.returncode == 0, result
    rows = warehouse_rows(project, "SELECT order_id, status, source_file FROM ingested_orders ORDER BY order_id")
    assert [(order_id, status, Path(source).name) for order_id, status, source in rows] == [
        (1, "returned", "delivery-2.csv"),
        (2, "shipped", "delivery-1.csv"),
        (3, "delivered", "delivery-2.csv"),
    ]
    assert_consistent(project)


def test_ingest_orders_with_nothing_landed_fails_and_says_so(project: Path) -> None:
    result = run_flowdeck("run", "ingest_orders", project=project)
    assert result.returncode == 1, result
    assert "no file matches" in result.output
    assert "Traceback" not in result.output
    assert [row["status"] for row in ledger_rows(project, "SELECT status FROM runs")] == ["failed"]
    assert_consistent(project)


@pytest.mark.parametrize("pipeline", ["daily_sales", "ingest_orders"])
def test_example_pipelines_validate(project: Path, pipeline: str) -> None:
    result = run_flowdeck("validate", pipeline, project=project)
    assert result.returncode == 0, result
    assert f"✓ {pipeline}" in result.stdout
