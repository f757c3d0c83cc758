"""A run's outcome never depends on who reads its output: `flowdeck run | head` closes the pipe after
one line, and the run goes on to succeed (it used to fail its running step with rich's exit 1)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import FLOWDECK, clean_env, ledger_rows
from flowdeck.engine.run.executor import RunUpdate
from flowdeck.engine.workspace import Workspace


def test_a_run_piped_into_head_succeeds_and_exits_0_without_a_traceback(project: Path) -> None:
    piped = subprocess.run(["bash", "-c", f"'{FLOWDECK}' --project '{project}' run daily_sales | head -1; "
                            "exit ${PIPESTATUS[0]}"], env=clean_env(), capture_output=True, text=True, timeout=300)
    assert piped.returncode == 0, piped.stderr  # flowdeck's own exit code, not head's
    assert len(piped.stdout.splitlines()) == 1
    assert "Traceback" not in piped.stderr and "internal error" not in piped.stderr
    assert [row["status"] for row in ledger_rows(project, "SELECT status FROM runs")] == ["succeeded"]
    assert {row["status"] for row in ledger_rows(project, "SELECT status FROM steps")} == {"succeeded"}


def test_an_observer_that_breaks_does_not_change_the_run(project: Path) -> None:
    seen: list[str] = []

    def breaking(update: RunUpdate) -> None:
        seen.append(update.kind)
        raise OSError("the display went away")

    workspace = Workspace.open(project)
    try:
        run, _ = workspace.submit("daily_sales")
        assert workspace.execute(run.run_id, breaking) == "succeeded"
    finally:
        workspace.close()
    assert len(seen) == 1  # dropped at its first error, not called for every later update
    assert {row["status"] for row in ledger_rows(project, "SELECT status FROM steps")} == {"succeeded"}
