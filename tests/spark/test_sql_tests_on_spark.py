"""SQL unit tests on DuckDB and local Spark: a test passes on both, or says which engine differs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flowdeck.engine.operations.sql_tests.runner import collect_tests, run_tests
from flowdeck.engine.project.project import Project

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]


def test_a_test_runs_on_both_engines_and_says_which_one_differs(example_project: Path, local_spark: Any) -> None:
    folder = example_project / "pipelines" / "daily_sales"
    (folder / "unit_price.sql").write_text("SELECT order_id, amount / quantity AS unit_price FROM sales\n")
    (folder / "backwards_notes.sql").write_text("SELECT order_id, reverse(note) AS backwards FROM sales\n")
    with open(folder / "pipeline.yaml", "a", encoding="utf-8") as handle:
        for step in ("unit_price", "backwards_notes"):
            handle.write(f"\n  - name: {step}\n    kind: transform\n    sql: {step}.sql\n")
    (folder / "tests" / "unit_price.yaml").write_text("""\
by_quantity:
  step: unit_price
  inputs:
    sales:
      rows: [{order_id: 1, amount: 10.0, quantity: 4}, {order_id: 2, amount: 3, quantity: 3}]
  expect:
    rows: [{order_id: 1, unit_price: 2.5}, {order_id: 2, unit_price: 1}]
backwards_notes:
  step: backwards_notes
  description: a Devanagari conjunct is one grapheme cluster in DuckDB's Unicode, two in Spark's Java (docs/spark.md)
  inputs:
    sales:
      rows: [{order_id: 1, note: क्षि}]
  expect:
    rows: [{order_id: 1, backwards: क्षि}]
""", encoding="utf-8")
    project = Project.load(example_project)
    collected = collect_tests(project, ["daily_sales"])
    assert collected.problems == []
    outcomes = {outcome.case.name: outcome for outcome in run_tests(project, collected.cases,
                                                                    engines=("duckdb", "spark"))}
    assert set(outcomes) == {"counts_only_paid_orders", "by_quantity", "backwards_notes"}
    for name in ("counts_only_paid_orders", "by_quantity"):
        assert [(engine.engine, engine.status) for engine in outcomes[name].outcomes] == [
            ("duckdb", "passed"), ("spark", "passed")], outcomes[name]
    differing = outcomes["backwards_notes"]
    assert [(engine.engine, engine.status) for engine in differing.outcomes] == [("duckdb", "passed"),
                                                                                 ("spark", "failed")], differing
    assert differing.engine_note() == "passes on duckdb, fails on spark: the engines differ"
    spark = differing.outcomes[1].comparison
    assert spark is not None and spark.missing == [{"order_id": 1, "backwards": "क्षि"}]
    assert spark.unexpected == [{"order_id": 1, "backwards": "षिक्"}]
