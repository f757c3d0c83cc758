"""SQL unit tests on DuckDB and local Spark: a test passes on both, says which engine differs, or says that
Spark refuses the step's SQL before running it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flowdeck.console.cli.commands_tests import print_outcome
from flowdeck.engine.operations.sql_tests import runner
from flowdeck.engine.operations.sql_tests.runner import collect_tests, run_tests
from flowdeck.engine.project.project import Project

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]


def add_step(project: Path, step: str, sql: str, tests: str) -> None:
    """A transform step of daily_sales with its SQL file and a test file of its own."""
    folder = project / "pipelines" / "daily_sales"
    (folder / f"{step}.sql").write_text(sql + "\n", encoding="utf-8")
    with open(folder / "pipeline.yaml", "a", encoding="utf-8") as handle:
        handle.write(f"\n  - name: {step}\n    kind: transform\n    sql: {step}.sql\n")
    (folder / "tests" / f"{step}.yaml").write_text(tests, encoding="utf-8")


def outcomes_on_both(project: Path) -> dict[str, runner.TestOutcome]:
    loaded = Project.load(project)
    collected = collect_tests(loaded, ["daily_sales"])
    assert collected.problems == []
    return {outcome.case.name: outcome for outcome in run_tests(loaded, collected.cases, engines=("duckdb", "spark"))}


def test_a_test_runs_on_both_engines_and_says_which_one_differs(example_project: Path, local_spark: Any) -> None:
    add_step(example_project, "unit_price", "SELECT order_id, amount / quantity AS unit_price FROM sales", """\
by_quantity:
  step: unit_price
  inputs:
    sales:
      rows: [{order_id: 1, amount: 10.0, quantity: 4}, {order_id: 2, amount: 3, quantity: 3}]
  expect:
    rows: [{order_id: 1, unit_price: 2.5}, {order_id: 2, unit_price: 1}]
""")
    # the one difference of results left (docs/spark.md): an integer sum is HUGEINT on DuckDB, BIGINT on Spark,
    # so a sum beyond BIGINT is a value on DuckDB and an overflow error on Spark (loud, never a wrong value)
    add_step(example_project, "units_total", "SELECT sum(quantity) AS units FROM sales", """\
beyond_bigint:
  step: units_total
  inputs:
    sales:
      types: {quantity: BIGINT}
      rows: [{quantity: 9223372036854775807}, {quantity: 9223372036854775807}]
  expect:
    rows: [{units: 18446744073709551614}]
""")
    outcomes = outcomes_on_both(example_project)
    assert set(outcomes) == {"counts_only_paid_orders", "by_quantity", "beyond_bigint"}
    for name in ("counts_only_paid_orders", "by_quantity"):
        assert [(engine.engine, engine.status) for engine in outcomes[name].outcomes] == [
            ("duckdb", "passed"), ("spark", "passed")], outcomes[name]
    differing = outcomes["beyond_bigint"]
    assert [(engine.engine, engine.status, engine.refused) for engine in differing.outcomes] == [
        ("duckdb", "passed", False), ("spark", "error", False)], differing
    assert differing.engine_note() == "passes on duckdb, fails on spark: the engines differ"
    assert "ARITHMETIC_OVERFLOW" in (differing.outcomes[1].error or "")


def test_a_construct_the_spark_lint_refuses_is_reported_as_refused_not_as_a_difference(
        example_project: Path, local_spark: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # a Devanagari conjunct is one grapheme cluster in DuckDB's Unicode, two in Java's: reverse(text) is refused
    add_step(example_project, "backwards_notes", "-- each note backwards\nSELECT order_id,\n       reverse(note) AS backwards\n"
             "FROM sales", """\
backwards_notes:
  step: backwards_notes
  inputs:
    sales:
      rows: [{order_id: 1, note: क्षि}]
  expect:
    rows: [{order_id: 1, backwards: क्षि}]
""")
    refused = outcomes_on_both(example_project)["backwards_notes"]
    assert [(engine.engine, engine.status, engine.refused) for engine in refused.outcomes] == [
        ("duckdb", "passed", False), ("spark", "error", True)], refused
    assert refused.engine_note() == ("passes on duckdb, refused on spark: the step's SQL would not give the same "
                                     "result there, so it is refused before running")
    assert refused.to_json()["engines"][1]["refused"] is True
    print_outcome(refused)
    printed = capsys.readouterr().out
    assert "✗ error daily_sales › backwards_notes (step backwards_notes on duckdb, spark" in printed
    assert "passes on duckdb, refused on spark" in printed and "the engines differ" not in printed
    assert "on spark: refused before running (docs/spark.md):" in printed
    # said at the step's file, line and column (its line shown), as `flowdeck validate --engine spark` says it
    assert "pipelines/daily_sales/backwards_notes.sql:3:8: `REVERSE(note)` cannot run on Spark with the same result" in printed
    assert "reverse(note) AS backwards" in printed
    assert "hint: reverse the text on DuckDB (run the step there), or reverse a list with `list_reverse(l)`" in printed
