"""How runs execute: detached workers, following logs, and bounded parallel steps."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import FLOWDECK, assert_consistent, clean_env, ledger_rows, run_flowdeck

# heavy enough that two steps started together are certainly running at the same time
SLOW_SQL = "SELECT count(*) AS n FROM range(0, 40000000) AS t(i) WHERE hash(i) % 7 = 0\n"


@pytest.mark.slow
def test_detached_run_is_finished_by_a_worker_that_outlives_the_cli(project: Path) -> None:
    launched = subprocess.Popen([str(FLOWDECK), "--project", str(project), "run", "daily_sales", "--detach"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
    stdout, stderr = launched.communicate(timeout=60)
    assert launched.returncode == 0, stderr
    match = re.search(r"run (\S+) queued; worker pid (\d+)", stdout)
    assert match, stdout
    run_id, worker_pid = match.group(1), int(match.group(2))
    assert f"flowdeck logs {run_id} --follow" in stderr

    followed = run_flowdeck("logs", run_id, "--follow", project=project, timeout=120)  # returns once the run ends
    assert followed.returncode == 0, followed
    assert "run started" in followed.stdout and "run succeeded" in followed.stdout

    [run] = ledger_rows(project, "SELECT * FROM runs WHERE run_id = ?", (run_id,))
    assert run["status"] == "succeeded"
    assert run["owner_pid"] == worker_pid != launched.pid  # executed by the worker, not the CLI
    assert (project / ".flowdeck/logs" / f"worker-{run_id}.log").is_file()
    assert_consistent(project)


def test_logs_follow_of_a_finished_run_prints_everything_and_returns(ran_daily_sales: Path) -> None:
    result = run_flowdeck("logs", "last", "--follow", project=ran_daily_sales, timeout=30)
    assert result.returncode == 0
    lines = result.stdout.strip().splitlines()
    assert "run queued" in lines[0]
    assert [line for line in lines if " run " in line or line.endswith("run succeeded")][-1].endswith("run succeeded")


def _parallel_project(project: Path, *, pipeline_limit: int | None) -> None:
    folder = project / "pipelines" / "fan_out"
    folder.mkdir()
    steps = []
    for index in range(4):
        (folder / f"slow_{index}.sql").write_text(SLOW_SQL)
        steps.append(f"  - name: slow_{index}\n    kind: transform\n")
    limit = f"max_parallel_steps: {pipeline_limit}\n" if pipeline_limit else ""
    (folder / "pipeline.yaml").write_text(limit + "steps:\n" + "".join(steps))


def _most_at_once(project: Path) -> int:
    steps = ledger_rows(project, "SELECT started_at, ended_at FROM steps")
    assert len(steps) == 4 and all(step["ended_at"] for step in steps)
    moments = sorted([(step["started_at"], 1) for step in steps] + [(step["ended_at"], -1) for step in steps])
    running = most = 0
    for _, change in moments:
        running += change
        most = max(most, running)
    return most


@pytest.mark.slow
def test_independent_steps_run_in_parallel_up_to_the_pipelines_limit(project: Path) -> None:
    _parallel_project(project, pipeline_limit=2)
    result = run_flowdeck("run", "fan_out", project=project)
    assert result.returncode == 0, result
    assert _most_at_once(project) == 2


@pytest.mark.slow
def test_project_default_bounds_parallel_steps(project: Path) -> None:
    _parallel_project(project, pipeline_limit=None)
    text = (project / "flowdeck.yaml").read_text().replace("max_parallel_steps: 4", "max_parallel_steps: 3")
    (project / "flowdeck.yaml").write_text(text)
    result = run_flowdeck("run", "fan_out", project=project)
    assert result.returncode == 0, result
    assert _most_at_once(project) == 3


def test_dependent_steps_wait_for_their_upstream(ran_daily_sales: Path) -> None:
    steps = {row["step"]: row for row in ledger_rows(ran_daily_sales, "SELECT * FROM steps")}
    edges = [("raw_orders", "orders_clean"), ("orders_clean", "sales"), ("raw_customers", "sales"),
             ("sales", "daily_sales"), ("daily_sales", "export_daily_sales")]
    for upstream, downstream in edges:
        assert steps[upstream]["ended_at"] <= steps[downstream]["started_at"], (upstream, downstream)


def test_foreground_run_waits_for_a_warehouse_held_by_another_process(project: Path) -> None:
    assert run_flowdeck("run", "daily_sales", project=project).returncode == 0
    holder = subprocess.Popen(  # holds the DuckDB file lock until told to let go
        [str(Path(FLOWDECK).with_name("python")), "-c",
         "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True); sys.stdin.readline()",
         str(project / ".flowdeck/warehouse.duckdb")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        run = subprocess.Popen([str(FLOWDECK), "--project", str(project), "run", "daily_sales"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
        assert run.stderr is not None
        seen = []
        for line in run.stderr:  # the run says who holds the warehouse while it waits
            seen.append(line)
            if "waiting for the warehouse" in line:
                break
        assert f"waiting for the warehouse, held by process {holder.pid}" in "".join(seen)
        holder.communicate("go\n", timeout=30)  # let go: the run proceeds
        stdout, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stdout + stderr
        assert "Conflicting lock" not in "".join(seen) + stdout + stderr
    finally:
        holder.kill()
        holder.wait()
    assert_consistent(project)
