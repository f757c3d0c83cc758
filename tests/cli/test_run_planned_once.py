"""A foreground `flowdeck run` plans its pipeline and checks its parameters once: submit prepares the run,
the progress table and the execution use what it prepared."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT, clean_env, ledger_rows

# Counts calls by wrapping the functions before any module that uses them is imported, then runs the CLI
# in the same interpreter; prints the exit code and the counts as JSON.
COUNTING_CLI = """
import json, sys
import flowdeck.engine.plan.planner as planner
import flowdeck.engine.sql.params as params

calls = {"build_plan": 0, "coerce_params": 0}

def counted(name, function):
    def wrapper(*args, **kwargs):
        calls[name] += 1
        return function(*args, **kwargs)
    return wrapper

planner.build_plan = counted("build_plan", planner.build_plan)
params.coerce_params = counted("coerce_params", params.coerce_params)
from flowdeck.console.cli.main import app
try:
    app(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print(json.dumps({"exit": code, **calls}))
"""


def counting_run(project: Path, *args: str) -> dict[str, int]:
    completed = subprocess.run([sys.executable, "-c", COUNTING_CLI, "--project", str(project), "run", *args],
                               cwd=REPO_ROOT, env=clean_env(), capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_a_foreground_run_plans_and_checks_its_parameters_once(project: Path) -> None:
    counts = counting_run(project, "daily_sales", "--param", "since=2026-11-01")
    assert counts == {"exit": 0, "build_plan": 1, "coerce_params": 1}
    assert ledger_rows(project, "SELECT status, params_json FROM runs") == [
        {"status": "succeeded", "params_json": '{"since": "2026-11-01"}'}]


def test_a_resumed_run_in_the_foreground_is_planned_once(project: Path) -> None:
    sql = project / "pipelines" / "daily_sales" / "daily_sales.sql"
    good = sql.read_text()
    sql.write_text(good.replace("sum(amount)", "sum(no_such_column)"))
    assert counting_run(project, "daily_sales")["exit"] == 1
    (failed,) = [row["run_id"] for row in ledger_rows(project, "SELECT run_id FROM runs")]
    sql.write_text(good)
    counts = counting_run(project, "--resume", failed)
    assert counts == {"exit": 0, "build_plan": 1, "coerce_params": 1}
