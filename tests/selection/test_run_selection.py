"""`flowdeck run --select/--exclude` end to end: the real CLI in a subprocess on a branching pipeline
runs exactly the selected steps (the ledger's rows say which), bad expressions exit 2 before anything
is queued, `--from STEP` is `--select STEP+`, and POST /runs takes the same selection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CliResult, ledger_rows, run_flowdeck
from tests.selection.conftest import ORDER, PIPELINE


def run(project: Path, *args: str) -> CliResult:
    return run_flowdeck("run", PIPELINE, *args, project=project)


def last_run(project: Path) -> dict[str, object]:
    return ledger_rows(project, "SELECT run_id, status, options_json AS options FROM runs ORDER BY created_at DESC, rowid DESC LIMIT 1")[0]


def steps_run(project: Path, run_id: object) -> list[str]:
    return [row["step"] for row in ledger_rows(project, "SELECT step FROM steps WHERE run_id = ? ORDER BY position",
                                               (run_id,))]


def test_run_select_runs_exactly_the_selected_steps_and_show_says_what_was_selected(branching: Path) -> None:
    assert run(branching).returncode == 0
    # --force: every selected step runs (unforced, fingerprints would keep the unchanged ones)
    result = run(branching, "--select", "customers+", "--exclude", "export_count check_joined", "--force")
    assert result.returncode == 0, result
    assert "selected --select customers+ --exclude export_count check_joined (4 steps)" in result.stderr  # the header
    latest = last_run(branching)
    chosen = ["customers", "joined", "per_customer", "order_count"]
    assert steps_run(branching, latest["run_id"]) == chosen
    assert json.loads(str(latest["options"])) == {"select": "customers+", "exclude": "export_count check_joined",
                                                  "selected_steps": chosen, "force": True}
    # published again: only what was selected (src_orders and orders once, by the first run)
    commits = {row["output"]: row["n"] for row in ledger_rows(
        branching, "SELECT output, count(*) AS n FROM commits GROUP BY output")}
    assert commits == {"src_orders": 1, "src_customers": 1, "orders": 1, "customers": 2, "joined": 2,
                       "per_customer": 2, "order_count": 2}

    shown = run_flowdeck("show", "last", project=branching)
    assert "selected --select customers+ --exclude export_count check_joined (4 steps)" in shown.stdout
    as_json = run_flowdeck("show", "last", "--json", project=branching).json()
    assert as_json["options"]["selected_steps"] == chosen and as_json["options"]["select"] == "customers+"
    assert [step["step"] for step in as_json["steps"]] == chosen


def test_a_repeated_select_is_a_union(branching: Path) -> None:
    result = run(branching, "--select", "src_orders", "-s", "src_customers")
    assert result.returncode == 0, result
    assert steps_run(branching, last_run(branching)["run_id"]) == ["src_orders", "src_customers"]


def test_select_with_upstream_runs_on_a_fresh_warehouse_and_without_fails_with_the_clear_error(branching: Path) -> None:
    missing = run(branching, "--select", "joined+")
    assert missing.returncode == 1
    assert "step `joined` reads table `customers` (from step `customers`), which does not exist yet" in missing.stderr
    assert "Traceback" not in missing.stderr
    result = run(branching, "--select", "+joined")
    assert result.returncode == 0, result
    assert steps_run(branching, last_run(branching)["run_id"]) == ["src_orders", "src_customers", "orders",
                                                                    "customers", "joined"]


def step_outcomes(project: Path, run_id: object) -> list[tuple[str, str, bool]]:
    """(step, status, whether it was reused rather than run) of each step of a run, in plan order."""
    return [(row["step"], row["status"], row["reused_from"] is not None) for row in ledger_rows(
        project, "SELECT step, status, reused_from FROM steps WHERE run_id = ? ORDER BY position", (run_id,))]


def test_from_step_is_select_step_plus(branching: Path) -> None:
    assert run(branching).returncode == 0
    assert run(branching, "--from", "customers").returncode == 0
    by_from = last_run(branching)
    assert run(branching, "--select", "customers+").returncode == 0
    by_select = last_run(branching)
    assert steps_run(branching, by_from["run_id"]) == steps_run(branching, by_select["run_id"]) == \
        ["customers", "joined", "per_customer", "order_count", "check_joined", "export_count"]
    # the same outcome: the step named is rebuilt whatever its fingerprint says, the rest as theirs say
    outcomes = step_outcomes(branching, by_from["run_id"])
    assert outcomes == step_outcomes(branching, by_select["run_id"])
    assert outcomes[0] == ("customers", "succeeded", False)
    from_options, select_options = json.loads(str(by_from["options"])), json.loads(str(by_select["options"]))
    assert from_options["selected_steps"] == select_options["selected_steps"]
    assert from_options["from_step"] == "customers"
    shown = run_flowdeck("show", str(by_from["run_id"]), project=branching)
    assert "selected from step customers (6 steps)" in shown.stdout


@pytest.mark.parametrize(("args", "words"), [
    (("--select", "joind+"), ["--select `joind+`: pipeline `branches` has no step `joind`", "did you mean `joined`?",
                              "a selection is STEP, STEP+"]),
    (("--select", "tag:finanse"), ["no step of pipeline `branches` has tag `finanse`", "did you mean `tag:finance`?"]),
    (("--select", "orders++"), ["cannot read `orders++`", "a space between two means either, a comma means both"]),
    (("--select", "src_orders,src_customers"), ["`src_orders,src_customers` selects no step"]),
    (("--select", "joined", "--exclude", "tag:daily"), ["--exclude `tag:daily` leaves none of the 1 step(s)"]),
    (("--exclude", "custmers"), ["--exclude `custmers`", "did you mean `customers`"]),
    (("--from", "joined", "--select", "orders"), ["--from STEP is --select STEP+: give one or the other"]),
    (("--from", "joind"), ["pipeline `branches` has no step `joind`", "did you mean `joined`?"]),  # --from's own words
])
def test_a_bad_selection_exits_2_saying_why_and_queues_nothing(branching: Path, args: tuple[str, ...],
                                                               words: list[str]) -> None:
    result = run(branching, *args)
    assert result.returncode == 2, result
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.stderr
    assert not (branching / ".flowdeck" / "ledger.sqlite").exists() or \
        ledger_rows(branching, "SELECT count(*) AS n FROM runs")[0]["n"] == 0


def test_resume_takes_no_selection(branching: Path) -> None:
    result = run_flowdeck("run", "--resume", "last", "--select", "orders", project=branching)
    assert result.returncode == 2 and "--select, --exclude" in result.stderr


def test_post_runs_takes_a_selection_and_refuses_a_bad_one_with_nothing_queued(branching: Path) -> None:
    from flowdeck.console.cli.commands_daemon import http_submitter
    from flowdeck.engine.daemon.http_auth import TokenHolder
    from flowdeck.engine.daemon.http_runs import HttpRuns
    from flowdeck.engine.project.project import Project
    from flowdeck.engine.workspace import Workspace

    project = Project.load(branching)
    workspace = Workspace(project)
    try:
        runs = HttpRuns(workspace.ledger, http_submitter(project))
        holder = TokenHolder(name="ci", role="operator")

        def post(document: object) -> tuple[int, dict[str, object]]:
            return runs.post(holder, json.dumps(document).encode())

        code, answer = post({"pipeline": PIPELINE, "select": "tag:finance", "exclude": "export_count"})
        assert code == 201, answer
        assert answer["options"] == {"select": "tag:finance", "exclude": "export_count",
                                     "selected_steps": ["joined", "order_count"]}
        code, answer = post({"pipeline": PIPELINE, "select": "tag:finanse"})
        assert code == 400 and "has tag `finanse`" in str(answer["error"]) and "tag:finance" in str(answer["hint"])
        code, answer = post({"pipeline": PIPELINE, "select": ["orders"]})
        assert code == 400 and "`select` must be a selection expression" in str(answer["error"])
        code, answer = post({"pipeline": PIPELINE, "selct": "orders"})
        assert code == 400 and "unknown field(s) selct" in str(answer["error"])
        assert [record.options.get("select") for record in workspace.ledger.list_runs()] == ["tag:finance"]
    finally:
        workspace.close()


def test_every_step_runs_without_a_selection(branching: Path) -> None:
    assert run(branching).returncode == 0
    latest = last_run(branching)
    assert steps_run(branching, latest["run_id"]) == ORDER and json.loads(str(latest["options"])) == {}


def test_pipelines_json_shows_each_steps_tags(branching: Path) -> None:
    listed = run_flowdeck("pipelines", "--json", project=branching).json()
    (branches,) = [pipeline for pipeline in listed if pipeline["name"] == PIPELINE]
    tags = {step["name"]: step["tags"] for step in branches["steps"]}
    assert tags["joined"] == ["daily", "finance"] and tags["customers"] == [] and tags["src_customers"] == ["raw"]


def test_a_resumed_run_keeps_its_parents_selection(branching: Path) -> None:
    assert run(branching).returncode == 0
    sql = branching / "pipelines" / PIPELINE / "joined.sql"
    good = sql.read_text()
    sql.write_text(good.rstrip() + " LIMIT CAST('not a number' AS INTEGER)\n")
    assert run(branching, "--select", "+joined", "--exclude", "src_orders+1").returncode == 1  # joined fails
    failed = last_run(branching)
    sql.write_text(good)
    resumed = run_flowdeck("run", "--resume", str(failed["run_id"]), project=branching)
    assert resumed.returncode == 0, resumed
    assert "selected --select +joined --exclude src_orders+1 (3 steps)" in resumed.stderr
    child = last_run(branching)
    assert json.loads(str(child["options"]))["selected_steps"] == ["src_customers", "customers", "joined"]
    reused = {row["step"]: row["reused_from"] for row in ledger_rows(
        branching, "SELECT step, reused_from FROM steps WHERE run_id = ?", (child["run_id"],))}
    assert reused["joined"] is None and reused["src_customers"] and reused["customers"]  # joined alone ran again


def test_state_modified_plus_runs_what_changed_and_its_downstream_and_plan_shows_the_same(branching: Path) -> None:
    assert run(branching).returncode == 0
    nothing = run(branching, "--select", "state:modified+")
    assert nothing.returncode == 2 and "selects no step: no step changed since its last run" in nothing.stderr
    sql = branching / "pipelines" / PIPELINE / "customers.sql"
    sql.write_text("SELECT customer_id, upper(country) AS country FROM src_customers\n")
    expected = ["customers", "joined", "per_customer", "order_count", "check_joined", "export_count"]
    planned = run_flowdeck("plan", PIPELINE, "--select", "state:modified+", "--json", project=branching)
    assert planned.returncode == 0, planned
    assert [step["step"] for step in planned.json()["steps"]] == expected
    assert planned.json()["select"] == "state:modified+" and planned.json()["steps"][0]["status"] == "changed"
    result = run(branching, "--select", "state:modified+")
    assert result.returncode == 0, result
    latest = last_run(branching)
    assert json.loads(str(latest["options"]))["selected_steps"] == expected
    assert step_outcomes(branching, latest["run_id"])[0] == ("customers", "succeeded", False)


def test_plan_takes_the_same_selection(branching: Path) -> None:
    shown = run_flowdeck("plan", PIPELINE, "--select", "tag:finance", "--exclude", "export_count", project=branching)
    assert shown.returncode == 0, shown
    listed = [line.split()[0] for line in shown.stdout.splitlines()[1:-1]]
    assert listed == ["joined", "order_count"]
    assert "(the 2 steps --select tag:finance --exclude export_count selects)" in shown.stdout
    bad = run_flowdeck("plan", PIPELINE, "--select", "tag:finanse", project=branching)
    assert bad.returncode == 2 and "did you mean `tag:finance`?" in bad.stderr and "Traceback" not in bad.output
