"""A worker process: executes one run, outside any terminal (``python -m engine.worker``).

Started by ``flowdeck run --detach`` and by the console (the worker claims the run itself),
and by the daemon's pool (``--claimed-by-parent``: the daemon claims the run for this
worker's pid, so claim and execution are one compare-and-set). It writes nothing to a
terminal; the run's story is in the ledger.

Signals: a first SIGTERM or SIGINT drains the run (running steps finish, no new step starts,
the run ends ``abandoned`` so it can be resumed); a second one interrupts the running steps.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.run.executor import RunExecutor

_PR_SET_PDEATHSIG = 1


def main(argv: list[str] | None = None) -> int:
    """Execute the run named on the command line; exit 0 if it succeeded."""
    parser = argparse.ArgumentParser(prog="python -m engine.worker")
    parser.add_argument("--project", required=True)
    parser.add_argument("--claimed-by-parent", type=int, metavar="PID",
                        help="wait for the parent (the daemon, pid PID) to claim the run for this process")
    parser.add_argument("run_id")
    arguments = parser.parse_args(argv)
    signals = _SignalsBeforeStart()  # before the slow imports: a stop request must never be lost
    if arguments.claimed_by_parent is not None:
        _die_with_parent(arguments.claimed_by_parent)
        sys.stdin.readline()  # the daemon writes a line (or closes) once its claim is decided
    from engine.client import Workspace
    from engine.errors import FlowdeckError
    from engine.run.executor import RunExecutor

    try:
        workspace = Workspace.open(arguments.project)
        executor = RunExecutor(workspace.project, workspace.ledger)
        signals.hand_to(executor)
        status = workspace.execute(arguments.run_id, claimed=arguments.claimed_by_parent is not None,
                                   executor=executor)
    except FlowdeckError as error:
        print(error.render(), file=sys.stderr)
        return error.exit_code
    return 0 if status == "succeeded" else 1


class _SignalsBeforeStart:
    """SIGTERM/SIGINT handling: remembered until the executor exists, then handed to it.

    The first signal drains the run, the second interrupts its running steps.
    """

    def __init__(self) -> None:
        self.received: list[int] = []
        self.executor: RunExecutor | None = None
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def hand_to(self, executor: RunExecutor) -> None:
        self.executor = executor
        for count in range(1, len(self.received) + 1):
            self._apply(count, self.received[count - 1])

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signum)
        if self.executor is not None:
            self._apply(len(self.received), signum)

    def _apply(self, count: int, signum: int) -> None:
        assert self.executor is not None
        name = signal.Signals(signum).name
        if count == 1:
            self.executor.drain(f"stopped at a step boundary ({name}); resumable")
        else:
            self.executor.interrupt(f"interrupted ({name}) after the shutdown grace time; resumable")


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this worker when the daemon dies, as systemd would, so a killed
    daemon's runs are abandoned and recovered by the next daemon rather than left unowned."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        sys.exit(1)


if __name__ == "__main__":
    sys.exit(main())
