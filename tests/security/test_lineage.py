"""Lineage: what each run read and wrote (files with checksums), and column lineage up and down the DAG."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from security_helpers import cli


def test_a_run_records_its_input_files_with_checksums_and_its_outputs(project: Path) -> None:
    cli(project, "run", "daily_sales", check=0)
    report = json.loads(cli(project, "lineage", "raw_orders", "--json", check=0).stdout)
    orders = project / "data" / "sample" / "orders.csv"
    assert report["upstream"] == [{"from": "file:data/sample/orders.csv", "to": "raw_orders", "pipeline": "daily_sales",
                                   "step": "raw_orders", "masked": None,
                                   "checksum": hashlib.sha256(orders.read_bytes()).hexdigest()}]
    downstream = {(edge["from"], edge["to"]) for edge in report["downstream"]}
    assert {("raw_orders", "orders_clean"), ("orders_clean", "sales"), ("sales", "daily_sales"),
            ("daily_sales", "file:exports/daily_sales.parquet")} <= downstream


def test_column_lineage_goes_through_views_joins_and_expressions(project: Path) -> None:
    cli(project, "run", "daily_sales", check=0)
    report = json.loads(cli(project, "lineage", "daily_sales.revenue", "--json", check=0).stdout)
    upstream = {(edge["from"], edge["to"]) for edge in report["upstream"]}
    # revenue = sum(amount); amount = quantity * unit_price, joined from two sources
    assert {("sales.amount", "daily_sales.revenue"), ("orders_clean.quantity", "sales.amount"),
            ("raw_products.unit_price", "sales.amount")} <= upstream
    assert any(source.startswith("file:data/sample/products.parquet#unit_price") for source, _ in upstream)
    downstream = {(edge["from"], edge["to"]) for edge in report["downstream"]}
    assert downstream == {("daily_sales.revenue", "file:exports/daily_sales.parquet#revenue")}


def test_downstream_column_lineage_finds_every_use(project: Path) -> None:
    cli(project, "run", "daily_sales", check=0)
    report = json.loads(cli(project, "lineage", "raw_customers.country", "--json", check=0).stdout)
    reached = {edge["to"] for edge in report["downstream"]}
    assert {"sales.country", "daily_sales.country"} <= reached
    assert "daily_sales.revenue" not in reached


def test_an_unknown_table_is_a_clear_error(project: Path) -> None:
    assert "no pipeline step reads or writes table `nope`" in cli(project, "lineage", "nope", check=2).stderr
