"""The real daemon runs a schedule whose `env:` names a development environment: its runs write there, and
prod's warehouse is left as it was."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "daemon"))

from daemonkit import Daemon, flowdeck, make_project, numbers_pipeline, runs, wait_for  # noqa: E402

pytestmark = pytest.mark.slow


def test_a_schedule_with_env_dev_runs_in_dev_and_never_writes_prod(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    numbers_pipeline(project, "nightly", "schedule:\n  interval: 2s\n  env: dev\n")
    assert flowdeck(project, "run", "nightly").returncode == 0  # prod built once
    prod = project / ".flowdeck/warehouse.duckdb"
    before = (hashlib.sha256(prod.read_bytes()).hexdigest(), prod.stat().st_mtime_ns)
    daemon = Daemon(project)
    try:
        daemon.address()
        wait_for(lambda: runs(project, "trigger_kind = 'schedule' AND status = 'succeeded'") or None, 40,
                 what="a scheduled run", alive=daemon.process)
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
    scheduled = runs(project, "trigger_kind = 'schedule'")
    assert scheduled and {run["environment"] for run in scheduled} == {"dev"}
    assert (hashlib.sha256(prod.read_bytes()).hexdigest(), prod.stat().st_mtime_ns) == before
    assert (project / ".flowdeck/envs/dev/warehouse.duckdb").exists()
