"""Fixtures of the command-line tests."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.warmkit import Warm, alive, wait_until


@pytest.fixture
def warm() -> Iterator[Warm]:
    """A started warm server of this test's own; stopped (killed if it will not stop) after the test."""
    # under /tmp itself, not pytest's folder (root's only): the test of another user needs a path it can reach
    runtime = Path(tempfile.mkdtemp(prefix="flowdeck-warm-test-", dir="/tmp"))
    server = Warm(runtime / "runtime")
    started = server.flowdeck("warm", "start")
    assert started.returncode == 0 and "warm server started" in started.stdout, started
    status = server.status()
    assert status is not None
    yield server
    server.flowdeck("warm", "stop")
    pid = int(status["pid"])  # type: ignore[call-overload]
    if not wait_until(lambda: not alive(pid), 30):
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(runtime, ignore_errors=True)
