"""`flowdeck run` in the foreground beside a running daemon: the run is the foreground process's from the
moment it exists, so the daemon, which takes every queued run, can never take it first."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from daemonkit import Daemon, flowdeck, make_project, numbers_pipeline, runs

from flowdeck.engine.workspace import Workspace

pytestmark = pytest.mark.slow


def test_a_run_submitted_to_execute_here_is_never_taken_by_the_daemon(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    numbers_pipeline(project, "numbers")
    daemon = Daemon(project)
    try:
        daemon.address()
        workspace = Workspace.open(project)
        try:
            run, created = workspace.submit("numbers", here=True)
            assert created and run.status == "running" and run.owner_pid is not None
            time.sleep(1.5)  # the daemon looks for queued runs every 0.25 s: six chances to take it
            assert workspace.execute(run.run_id, claimed=True) == "succeeded"
        finally:
            workspace.close()
        # and through the CLI, a few times in a row
        for _ in range(4):
            result = flowdeck(project, "run", "numbers", "--force")
            assert result.returncode == 0, result.stderr
        log = (project / ".flowdeck" / "logs" / "daemon.log").read_text()
        assert "started in worker" not in log  # the daemon ran none of them
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
    assert [row["status"] for row in runs(project)] == ["succeeded"] * 5
