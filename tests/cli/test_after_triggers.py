"""`after:` triggers through the CLI: what `validate` says of a wrong one, how `graph` and `pipelines` show them."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ledger_rows

FOLLOWER = """\
description: the orders of the day, once both feeds have published
triggers:
  - folder: landing/late
    patterns: ["*.csv"]
  - after: [{after}]
steps:
  - name: {name}_raw
    kind: extract
    source:
      path: data/sample/orders.csv
"""


def add_follower(project: Path, name: str, after: str) -> Path:
    path = project / "pipelines" / name / "pipeline.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(FOLLOWER.format(name=name, after=after))
    return path


def test_an_unknown_pipeline_in_after_is_named_with_file_line_and_the_nearest_name(project: Path, flowdeck) -> None:
    path = add_follower(project, "follower", "ingest_orders, daily_sale")
    result = flowdeck("validate")
    assert result.returncode == 2, result
    line = "  - after: [ingest_orders, daily_sale]"
    assert f"{path}:5:{line.index('daily_sale') + 1}: `after:` names `daily_sale`, which is not a pipeline of this " \
           "project" in result.stderr
    assert "hint: did you mean `daily_sales`?" in result.stderr
    assert "key: triggers[1].after[1]" in result.stderr
    assert "Traceback" not in result.output
    assert "✓ daily_sales" in result.stdout  # the others stay valid

    as_json = flowdeck("validate", "follower", "--json")
    [verdict] = as_json.json()
    assert verdict["valid"] is False and verdict["problems"][0]["line"] == 5


def test_a_pipeline_after_itself_or_in_a_cycle_is_an_error_naming_the_cycle(project: Path, flowdeck) -> None:
    add_follower(project, "first", "third")
    add_follower(project, "second", "first")
    add_follower(project, "third", "second")
    add_follower(project, "selfish", "selfish")
    result = flowdeck("validate")
    assert result.returncode == 2, result
    for line in ("`after:` makes a cycle: first → third → second → first",
                 "`after:` makes a cycle: second → first → third → second",
                 "`after:` makes a cycle: third → second → first → third",
                 "pipeline `selfish` cannot run after itself"):
        assert line in result.stderr
    assert re.search(r"pipelines/first/pipeline\.yaml:5:\d+: `after:` makes a cycle", result.stderr)
    assert "hint: remove one of these `after:` entries" in result.stderr
    assert "Traceback" not in result.output
    assert "✓ daily_sales" in result.stdout and "✓ ingest_orders" in result.stdout


def test_a_wrong_trigger_keeps_todays_errors(project: Path, flowdeck) -> None:
    path = add_follower(project, "follower", "ingest_orders")
    path.write_text(path.read_text().replace("  - folder: landing/late\n", "  - foldr: landing/late\n"))
    result = flowdeck("validate", "follower")
    assert result.returncode == 2, result
    assert "unknown key `foldr`" in result.stderr and "did you mean `folder`?" in result.stderr
    path.write_text(path.read_text().replace("  - after: [ingest_orders]\n", "  - after: []\n"))
    assert "`after`" in flowdeck("validate", "follower").stderr


def test_graph_and_pipelines_show_who_runs_after_whom(project: Path, flowdeck) -> None:
    add_follower(project, "follower", "ingest_orders, daily_sales")
    text = flowdeck("graph", "follower")
    assert text.returncode == 0, text
    assert "runs after ingest_orders, daily_sales (once each has published)" in text.stdout
    upstream = flowdeck("graph", "daily_sales", "--json").json()
    assert upstream["after"] == [] and upstream["followed_by"] == ["follower"]
    assert "followed by follower" in flowdeck("graph", "daily_sales").stdout
    assert "%% runs after ingest_orders, daily_sales" in flowdeck("graph", "follower", "--format", "mermaid").stdout
    assert flowdeck("graph", "follower", "--json").json()["after"] == [["ingest_orders", "daily_sales"]]

    listing = {item["name"]: item for item in flowdeck("pipelines", "--json").json()}
    assert listing["follower"]["after"] == [{"pipelines": ["ingest_orders", "daily_sales"], "waiting_for": None}]
    assert listing["follower"]["triggers"] == [{"folder": "landing/late", "patterns": ["*.csv"], "settle_seconds": 2.0}]
    assert listing["daily_sales"]["after"] == []
    table = flowdeck("pipelines").stdout
    assert re.search(r"follower .*landing/late/\*\.csv, after ingest_orders, daily_sales", table)


def test_a_run_that_publishes_is_recorded_as_a_publish_and_one_that_fails_is_not(project: Path, flowdeck) -> None:
    assert flowdeck("run", "daily_sales").returncode == 0
    [published] = ledger_rows(project, "SELECT * FROM publishes")
    [run] = ledger_rows(project, "SELECT run_id FROM runs")
    assert (published["pipeline"], published["run_id"]) == ("daily_sales", run["run_id"])
    sql = project / "pipelines" / "daily_sales" / "daily_sales.sql"
    sql.write_text("SELECT CAST('not a number' AS INTEGER) AS n FROM orders_clean\n")
    assert flowdeck("run", "daily_sales").returncode != 0
    assert len(ledger_rows(project, "SELECT * FROM publishes")) == 1


def test_the_consoles_pipeline_list_says_after_what_a_pipeline_runs(project: Path) -> None:
    from flowdeck.engine.workspace import Workspace

    add_follower(project, "follower", "ingest_orders, daily_sales")
    workspace = Workspace.open(project)
    try:
        summary = {item.name: item for item in workspace.pipeline_summaries()}["follower"]
    finally:
        workspace.close()
    assert summary.trigger == "files landing/late/*.csv; after ingest_orders, daily_sales"
    assert summary.needs_daemon  # nothing starts it while no daemon runs
