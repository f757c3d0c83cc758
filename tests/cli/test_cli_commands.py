"""Every command of the CLI as a user meets it: the real `flowdeck` program, in a subprocess.

The ``--json`` shapes asserted here are the documented, stable interface (docs/cli.md).
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from tests.conftest import (
    FLOWDECK,
    assert_consistent,
    clean_env,
    ledger_rows,
    run_flowdeck,
    warehouse_rows,
)

COMMANDS = ["init", "validate", "pipelines", "graph", "schema", "run", "runs", "show", "logs", "cancel", "query", "console"]
RUN_FIELDS = {"run_id", "pipeline", "status", "trigger", "trigger_key", "params", "requested_by", "parent_run_id",
              "options", "created_at", "started_at", "ended_at", "duration_seconds", "error", "environment"}
STEP_FIELDS = {"step", "kind", "output", "status", "attempts", "started_at", "ended_at", "duration_seconds", "rows", "error",
               "reused_from", "rows_in", "rows_out", "bytes_in", "bytes_out", "rows_per_second", "bytes_per_second",
               "progress_percent", "error_kind", "attempt_history", "engine", "fingerprint", "from_prod"}
CHECK_FIELDS = {"step", "check", "severity", "status", "failing_rows", "message", "sample"}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_version_is_the_installed_distributions() -> None:
    from importlib.metadata import version

    result = run_flowdeck("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"flowdeck {version('flowdeck')}"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = run_flowdeck(command, "--help")
    assert result.returncode == 0, result
    assert "Example:" in result.stdout
    assert f"flowdeck {command}" in result.stdout


def test_top_level_help_lists_every_command() -> None:
    result = run_flowdeck("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert re.search(rf"│ {command}\s", result.stdout), command


def test_pipelines_json_lists_steps_kinds_outputs_schedule_and_triggers(flowdeck) -> None:
    result = flowdeck("pipelines", "--json")
    assert result.returncode == 0, result
    listing = {item["name"]: item for item in result.json()}
    assert set(listing) == {"daily_sales", "ingest_orders"}
    daily = listing["daily_sales"]
    assert {"name", "valid", "description", "params", "steps", "schedule", "triggers"} <= set(daily)
    assert [(step["name"], step["kind"], step["output"]) for step in daily["steps"]] == [
        ("raw_orders", "extract", "raw_orders"),
        ("raw_customers", "extract", "raw_customers"),
        ("raw_products", "extract", "raw_products"),
        ("orders_clean", "transform", "orders_clean"),
        ("sales", "transform", "sales"),
        ("daily_sales", "transform", "daily_sales"),
        ("check_orders_reference_customers", "check", None),
        ("export_daily_sales", "load", None),
    ]
    assert daily["schedule"] == {"cron": "0 6 * * *", "interval_seconds": None, "timezone": "Europe/Paris"}
    assert daily["triggers"] == []
    assert daily["params"] == {"since": {"type": "date", "default": "2026-01-01", "required": False}}
    ingest = listing["ingest_orders"]
    assert ingest["schedule"] is None
    assert ingest["triggers"] == [{"folder": "landing/orders", "patterns": ["*.csv"], "settle_seconds": 2.0}]


def test_pipelines_json_marks_an_invalid_pipeline_instead_of_failing(project: Path, flowdeck) -> None:
    (project / "pipelines/ingest_orders/pipeline.yaml").write_text("steps: []\n")
    listing = {item["name"]: item for item in flowdeck("pipelines", "--json").json()}
    assert listing["daily_sales"]["valid"] is True
    assert listing["ingest_orders"]["valid"] is False
    assert "pipeline.yaml" in listing["ingest_orders"]["error"]


def test_runs_json_shape_and_filters(ran_daily_sales: Path, flowdeck) -> None:
    assert flowdeck("run", "ingest_orders").returncode == 1  # nothing landed: a failed run to filter on
    runs = flowdeck("runs", "--json").json()
    assert [run["pipeline"] for run in runs] == ["ingest_orders", "daily_sales"]  # newest first
    for run in runs:
        assert set(run) == RUN_FIELDS
        assert run["trigger"] == "manual"
        assert run["status"] in ("succeeded", "failed")
        for field in ("created_at", "started_at", "ended_at"):
            assert ISO_UTC.match(run[field]), run[field]
    assert [run["status"] for run in flowdeck("runs", "--json", "--pipeline", "daily_sales").json()] == ["succeeded"]
    assert [run["pipeline"] for run in flowdeck("runs", "--json", "--status", "failed").json()] == ["ingest_orders"]
    assert len(flowdeck("runs", "--json", "--limit", "1").json()) == 1
    table = flowdeck("runs")
    assert runs[0]["run_id"] in table.stdout and "✓ succeeded" in table.stdout and "✗ failed" in table.stdout
    bad = flowdeck("runs", "--status", "done")
    assert bad.returncode == 2 and "unknown status 'done'" in bad.stderr
    assert "use one of queued, running, succeeded, failed, canceled, abandoned" in bad.stderr


def test_runs_status_help_names_every_run_status() -> None:
    """The help spells the statuses out, so that `flowdeck --help` need not import the ledger: all of them."""
    from typer.main import get_group

    from flowdeck.console.cli.main import app
    from flowdeck.state.status import RunStatus

    runs = get_group(app).commands["runs"]
    shown = next(param.help for param in runs.params if param.name == "status")
    assert shown == f"Only runs in this state: {', '.join(RunStatus)}."


def test_show_json_has_the_run_its_steps_and_checks(ran_daily_sales: Path, flowdeck) -> None:
    run_id = flowdeck("runs", "--json").json()[0]["run_id"]
    shown = flowdeck("show", run_id[:15], "--json").json()  # a unique prefix is enough
    assert set(shown) == RUN_FIELDS | {"steps", "checks", "exports", "commits", "resumed_by", "resources", "hints"}
    assert shown["run_id"] == run_id and shown["status"] == "succeeded"
    assert [step["step"] for step in shown["steps"]][:3] == ["raw_orders", "raw_customers", "raw_products"]
    for step in shown["steps"]:
        assert set(step) == STEP_FIELDS
        assert step["status"] == "succeeded" and step["attempts"] == 1 and step["engine"] == "duckdb"
    rows = {step["step"]: step["rows"] for step in shown["steps"]}
    assert rows["raw_orders"] == warehouse_rows(ran_daily_sales, "SELECT count(*) FROM raw_orders")[0][0]
    assert rows["sales"] is None  # a view is not counted
    for check in shown["checks"]:
        assert set(check) == CHECK_FIELDS
    assert {check["check"] for check in shown["checks"]} >= {"not_null(order_id)", "unique(order_id)", "revenue_not_negative"}
    human = flowdeck("show", "last")
    assert f"run {run_id}" in human.stdout and "orders_clean" in human.stdout


def test_show_unknown_run_is_bad_input(flowdeck) -> None:
    result = flowdeck("show", "20990101-000000-abcdef")
    assert result.returncode == 2
    assert "no run with id 20990101-000000-abcdef" in result.stderr


def test_query_json_csv_and_table(ran_daily_sales: Path, flowdeck) -> None:
    sql = "SELECT country, count(*) AS days FROM daily_sales GROUP BY country ORDER BY country"
    expected = warehouse_rows(ran_daily_sales, sql)
    as_json = flowdeck("query", sql, "--json")
    assert as_json.returncode == 0, as_json
    assert as_json.json() == [{"country": country, "days": days} for country, days in expected]
    as_csv = list(csv.reader(io.StringIO(flowdeck("query", sql, "--csv").stdout)))
    assert as_csv == [["country", "days"], *([country, str(days)] for country, days in expected)]
    table = flowdeck("query", sql)
    assert expected[0][0] in table.stdout and f"{len(expected)} rows" in table.stderr


def test_query_json_writes_dates_and_decimals_as_json_values(ran_daily_sales: Path, flowdeck) -> None:
    rows = flowdeck("query", "SELECT DATE '2026-11-01' AS day, 12.50::DECIMAL(10,2) AS amount, NULL AS nothing", "--json")
    assert rows.json() == [{"day": "2026-11-01", "amount": 12.5, "nothing": None}]


def test_query_refuses_to_change_the_warehouse(ran_daily_sales: Path, flowdeck) -> None:
    result = flowdeck("query", "DROP TABLE daily_sales")
    assert result.returncode == 2
    assert "only reads" in result.stderr
    assert warehouse_rows(ran_daily_sales, "SELECT count(*) > 0 FROM daily_sales") == [(True,)]


def test_query_before_any_run_says_what_to_do(flowdeck) -> None:
    result = flowdeck("query", "SELECT 1")
    assert result.returncode == 2
    assert "does not exist yet" in result.stderr and "flowdeck run" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("text", ["daily_sales — 8 steps", "orders_clean (transform)  ◂ raw_orders", "sales (view)"]),
        ("mermaid", ["flowchart LR", "raw_orders --> orders_clean", "sales --> daily_sales"]),
        ("dot", ['digraph "daily_sales" {', '"daily_sales" -> "export_daily_sales";']),
    ],
)
def test_graph_formats_draw_the_dag(flowdeck, fmt: str, expected: list[str]) -> None:
    result = flowdeck("graph", "daily_sales", "--format", fmt)
    assert result.returncode == 0, result
    for text in expected:
        assert text in result.stdout


def test_graph_unknown_format_is_bad_input(flowdeck) -> None:
    result = flowdeck("graph", "daily_sales", "--format", "svg")
    assert result.returncode == 2 and "use text, mermaid or dot" in result.stderr


def test_schema_prints_the_json_schema_of_both_files() -> None:
    both = json.loads(run_flowdeck("schema").stdout)
    assert set(both) == {"project", "pipeline"}
    pipeline = json.loads(run_flowdeck("schema", "pipeline").stdout)
    assert pipeline == both["pipeline"]
    assert pipeline["additionalProperties"] is False and "steps" in pipeline["required"]
    assert {"schedule", "triggers", "params"} <= set(pipeline["properties"])
    assert "warehouse" in json.loads(run_flowdeck("schema", "project").stdout)["properties"]
    bad = run_flowdeck("schema", "everything")
    assert bad.returncode == 2 and "use pipeline, project or all" in bad.stderr


def test_logs_prints_the_event_stream_and_json_lines(ran_daily_sales: Path, flowdeck) -> None:
    text = flowdeck("logs", "last")
    assert text.returncode == 0
    assert "run queued" in text.stdout and "[orders_clean] orders_clean succeeded" in text.stdout
    events = [json.loads(line) for line in flowdeck("logs", "last", "--json").stdout.splitlines()]
    run_events = [event["kind"] for event in events if event["kind"].startswith("run.")]
    assert run_events[0] == "run.queued" and run_events[-1] == "run.succeeded"
    assert {"event_id", "run_id", "ts", "kind", "step", "level", "message", "payload"} == set(events[0])
    assert [event["event_id"] for event in events] == sorted(event["event_id"] for event in events)


def test_cancel_a_queued_run(project: Path, flowdeck) -> None:
    from flowdeck.engine.workspace import Workspace

    workspace = Workspace.open(project)
    record, _ = workspace.submit("daily_sales")
    workspace.close()
    result = flowdeck("cancel", record.run_id)
    assert result.returncode == 0, result
    assert "canceled" in result.stdout
    assert ledger_rows(project, "SELECT status FROM runs") == [{"status": "canceled"}]


def test_run_prints_its_run_id_and_each_step_off_a_terminal(flowdeck) -> None:
    result = flowdeck("run", "daily_sales")
    run_id = flowdeck("runs", "--json").json()[0]["run_id"]
    assert run_id in result.stdout and run_id in result.stderr
    for step in ("raw_orders", "orders_clean", "daily_sales", "export_daily_sales"):
        assert re.search(rf"✓ succeeded\s+{step} \(", result.stdout), step


def test_no_colour_off_a_terminal(ran_daily_sales: Path, flowdeck) -> None:
    for args in (("runs",), ("show", "last"), ("validate",), ("graph", "daily_sales"), ("run", "ingest_orders")):
        result = flowdeck(*args)
        assert "\x1b[" not in result.output, args


def _run_on_a_terminal(args: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run the CLI with a pseudo-terminal as stdout and stderr; return what it wrote."""
    import os
    import pty
    import subprocess

    import fcntl
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 80, 0, 0))  # an 80x40 terminal
    process = subprocess.Popen([str(FLOWDECK), *args], stdin=subprocess.DEVNULL, stdout=follower, stderr=follower,
                               env=env, cwd=cwd)
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the program exited
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", errors="replace")


def test_colour_on_a_terminal_unless_no_color(ran_daily_sales: Path) -> None:
    args = ["--project", str(ran_daily_sales), "runs"]
    coloured = _run_on_a_terminal(args, clean_env(TERM="xterm-256color"), ran_daily_sales)
    assert "\x1b[" in coloured and "succeeded" in coloured
    run_id = ledger_rows(ran_daily_sales, "SELECT run_id FROM runs")[0]["run_id"]
    assert run_id in coloured  # 80 columns are enough to show a whole run id
    plain = _run_on_a_terminal(args, clean_env(TERM="xterm-256color", NO_COLOR="1"), ran_daily_sales)
    assert "succeeded" in plain
    assert run_id in plain
    colours = [code for codes in re.findall(r"\x1b\[([0-9;]*)m", plain) for code in codes.split(";")
               if code and (30 <= int(code) <= 49 or 90 <= int(code) <= 107)]
    assert colours == []  # NO_COLOR: styles such as bold may stay, colours go


def test_init_creates_a_project_that_validates_and_runs(tmp_path: Path) -> None:
    target = tmp_path / "new"
    created = run_flowdeck("init", str(target), cwd=tmp_path)
    assert created.returncode == 0, created
    assert "next: cd" in created.stdout and "flowdeck run hello" in created.stdout
    assert run_flowdeck("validate", project=target).returncode == 0
    ran = run_flowdeck("run", "hello", project=target)
    assert ran.returncode == 0, ran
    with open(target / "data/sales.csv", newline="") as handle:
        cities = {row["city"] for row in csv.DictReader(handle)}
    assert [row[0] for row in warehouse_rows(target, "SELECT city FROM sales_by_city ORDER BY city")] == sorted(cities)
    assert (target / "exports/sales_by_city.csv").is_file()
    assert_consistent(target)


def test_init_refuses_to_overwrite_a_project(tmp_path: Path) -> None:
    target = tmp_path / "new"
    assert run_flowdeck("init", str(target), cwd=tmp_path).returncode == 0
    (target / "flowdeck.yaml").write_text("name: mine\n")
    again = run_flowdeck("init", str(target), cwd=tmp_path)
    assert again.returncode == 2
    assert "already holds a flowdeck project" in again.stderr and "nothing was written" in again.stderr
    assert (target / "flowdeck.yaml").read_text() == "name: mine\n"
