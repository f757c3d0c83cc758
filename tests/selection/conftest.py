"""A project with a branching pipeline for the selection tests: two sources that meet in a join,
which fans out into a summary, a per-customer table, a check and an export; some steps tagged.

::

    src_orders ── orders ──┐                ┌── order_count ── export_count
                           ├── joined ──────┼── per_customer
    src_customers ── customers ─────────────┘   (per_customer also reads customers)
                                     joined ── check_joined
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import copy_example_project
from tests.rerun.helpers import write_pipeline

PIPELINE = "branches"
# step → the steps it reads (its direct upstream), and its tags
UPSTREAM = {
    "src_orders": set(),
    "src_customers": set(),
    "orders": {"src_orders"},
    "customers": {"src_customers"},
    "joined": {"orders", "customers"},
    "per_customer": {"joined", "customers"},
    "order_count": {"joined"},
    "check_joined": {"joined"},
    "export_count": {"order_count"},
}
ORDER = ["src_orders", "src_customers", "orders", "customers", "joined", "per_customer", "order_count",
         "check_joined", "export_count"]

YAML = """\
description: a branching DAG for the selection tests
steps:
  - name: src_orders
    kind: extract
    tags: [raw, daily]
    source: {path: data/sample/orders.csv, options: {header: true, all_varchar: true}}
  - name: src_customers
    kind: extract
    tags: [raw]
    source: {path: data/sample/customers.csv}
  - name: orders
    kind: transform
    tags: [daily]
    sql: orders.sql
  - name: customers
    kind: transform
    sql: customers.sql
  - name: joined
    kind: transform
    tags: [daily, finance]
    sql: joined.sql
  - name: per_customer
    kind: transform
    sql: per_customer.sql
  - name: order_count
    kind: transform
    tags: [finance]
    sql: order_count.sql
  - name: check_joined
    kind: check
    table: joined
    checks:
      - row_count: {min: 1}
  - name: export_count
    kind: load
    tags: [finance]
    table: order_count
    to: {path: exports/order_count.csv}
"""
SQL = {
    "orders.sql": "SELECT TRY_CAST(order_id AS BIGINT) AS order_id, TRY_CAST(customer_id AS INTEGER) AS customer_id "
                  "FROM src_orders\n",
    "customers.sql": "SELECT customer_id, country FROM src_customers\n",
    "joined.sql": "SELECT o.order_id, c.customer_id, c.country FROM orders o JOIN customers c USING (customer_id)\n",
    "per_customer.sql": "SELECT c.customer_id, count(j.order_id) AS orders FROM customers c "
                        "LEFT JOIN joined j USING (customer_id) GROUP BY c.customer_id\n",
    "order_count.sql": "SELECT count(*) AS n FROM joined\n",
}


def make_branching_project(root: Path) -> Path:
    """The example project with the `branches` pipeline added; returns its root."""
    copy_example_project(root)
    write_pipeline(root, PIPELINE, YAML, SQL)
    return root


@pytest.fixture
def branching(tmp_path: Path) -> Path:
    """A private project holding the `branches` pipeline."""
    return make_branching_project(tmp_path / "project")
