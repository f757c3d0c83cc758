"""`flowdeck status --check` tells a healthy daemon from a sick one when its HTTP endpoints need a token:
`status --check || systemctl restart flowdeck` must never restart a healthy daemon."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from daemonkit import FLOWDECK, Daemon, make_project, numbers_pipeline, wait_for, write

pytestmark = pytest.mark.slow

TOKEN = "t0ken-for-the-daemon-7f3a9c1e"
WITH_TOKEN = {"FLOWDECK_SECRET_DAEMON_HTTP_TOKEN": TOKEN}


def _status(project: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key != "FLOWDECK_SECRET_DAEMON_HTTP_TOKEN"}
    return subprocess.run([FLOWDECK, "--project", str(project), "status", "--check"], capture_output=True, text=True,
                          timeout=60, env={**environment, "NO_COLOR": "1", **(env or {})})


def test_status_check_with_a_token_set_passes_for_a_healthy_daemon_and_fails_for_a_sick_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(tmp_path / "project")
    config = project / "flowdeck.yaml"
    config.write_text(config.read_text().replace("http: {port: 0}",
                                                 "http: {port: 0, token: '${secret:DAEMON_HTTP_TOKEN}'}"))
    numbers_pipeline(project, "fine")
    monkeypatch.setenv("FLOWDECK_SECRET_DAEMON_HTTP_TOKEN", TOKEN)
    daemon = Daemon(project)
    monkeypatch.delenv("FLOWDECK_SECRET_DAEMON_HTTP_TOKEN")
    try:
        daemon.address()
        wait_for(lambda: _status(project, WITH_TOKEN).returncode == 0, 30, what="a healthy daemon",
                 alive=daemon.process)
        healthy = _status(project, WITH_TOKEN)  # who can read the token: asks /readyz with it
        assert healthy.returncode == 0, healthy.stdout + healthy.stderr
        assert not re.search(r"\b401\b", healthy.stdout + healthy.stderr)  # (a port such as 40139 is no 401)
        without = _status(project)  # an operator who cannot read the secret: /healthz and the lease
        assert without.returncode == 0, without.stdout + without.stderr

        write(project / "pipelines" / "broken" / "pipeline.yaml", "steps: [{name: x, kind: nope}]\n")
        wait_for(lambda: _status(project, WITH_TOKEN).returncode == 1, 30, what="the daemon reporting the broken "
                 "pipeline", alive=daemon.process)
        sick = _status(project, WITH_TOKEN)
        assert "pipeline broken" in sick.stderr, sick.stderr
        wait_for(lambda: _status(project).returncode == 1, 30, what="the lease carrying the problem",
                 alive=daemon.process)
        assert "pipeline broken" in _status(project).stderr
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
    assert _status(project, WITH_TOKEN).returncode == 1  # stopped: not healthy
