"""Ctrl-C on `flowdeck run` (a real process, a real SIGINT): the run is canceled, and the command waits for it
to end before it reports it and closes the ledger."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import FLOWDECK, clean_env, ledger_rows
from tests.rerun.helpers import step_running, write_slow_pipeline


def foreground_signals() -> None:
    """In a command started by a test (``preexec_fn``): Ctrl-C and a hangup as a terminal's foreground command has
    them, whatever the test's runner was started with (a shell's background job ignores SIGINT, `nohup` SIGHUP,
    and so would the command, in a process of its own or through a warm server)."""
    for number in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)


def interrupt_a_run(project: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str, str]:
    """Start `flowdeck run slow`, press Ctrl-C once its step runs; the client and what it printed."""
    write_slow_pipeline(project)
    client = subprocess.Popen([str(FLOWDECK), "--project", str(project), "run", "slow"], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                              preexec_fn=foreground_signals)
    deadline = time.monotonic() + 60
    while not step_running(project, "slow") and time.monotonic() < deadline:
        time.sleep(0.05)
    client.send_signal(signal.SIGINT)
    stdout, stderr = client.communicate(timeout=60)
    return client, stdout, stderr


def assert_canceled_and_reported_after(project: Path, client: subprocess.Popen[str], stdout: str, stderr: str) -> None:
    """What one Ctrl-C must leave: exit 1, a canceled run, reported once it had ended, nothing left running."""
    assert client.returncode == 1, stderr
    assert "canceling the run" in stderr
    assert "Traceback" not in stderr and "closed database" not in stderr  # the ledger was not closed under the run
    run = ledger_rows(project, "SELECT status, owner_pid FROM runs")[0]
    assert run["status"] == "canceled" and "canceled" in stdout  # not "running": reported once it had ended
    try:
        os.kill(run["owner_pid"], 0)
        alive = run["owner_pid"] != client.pid
    except ProcessLookupError:
        alive = False
    assert not alive, "the process that ran the run outlived the command"


def test_one_ctrl_c_cancels_the_run_and_the_command_waits_for_it(project: Path) -> None:
    # Python 3.11's Thread.join, cut short by Ctrl-C, took the run's thread for ended: the command reported the
    # run "running", closed the ledger under it (a traceback from its heartbeat), and the step went on to commit
    client, stdout, stderr = interrupt_a_run(project, clean_env())
    assert_canceled_and_reported_after(project, client, stdout, stderr)
