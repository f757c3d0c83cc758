"""A worker process: executes one run, outside any terminal (``python -m flowdeck.engine.run.worker``).

Started by ``flowdeck run --detach`` and by the console (the worker claims the run itself),
and by the daemon's pool (``--claimed-by-parent``: the daemon claims the run for this
worker's pid, so claim and execution are one compare-and-set). It writes nothing to a
terminal; the run's story is in the ledger.

It is a front end, like the CLI: it opens the project through the front door (``Workspace``,
whose ledger raises alerts and whose ``execute`` delivers them when no daemon runs), the one
module of the run package that does; nothing imports it.

Signals: a first SIGTERM or SIGINT drains the run (running steps finish, no new step starts,
the run ends ``abandoned`` so it can be resumed); a second one interrupts the running steps.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING, TextIO

from flowdeck.engine.startup import (
    end_without_teardown,
    exit_with,
    hold_collection,
    nothing_left_to_close,
    resume_collection,
)

if TYPE_CHECKING:
    from flowdeck.engine.run.executor import RunExecutor

_PR_SET_PDEATHSIG = 1


def main(argv: list[str] | None = None) -> int:
    """Execute the run named on the command line; exit 0 if it succeeded."""
    hold_collection()  # until the run begins executing (engine/startup.py)
    parser = argparse.ArgumentParser(prog="python -m flowdeck.engine.run.worker")
    parser.add_argument("--project", required=True)
    parser.add_argument("--claimed-by-parent", type=int, metavar="PID",
                        help="wait for the parent (the daemon, pid PID) to claim the run for this process")
    parser.add_argument("--master-key-on-stdin", action="store_true",
                        help="read the master key from the first line of stdin (never from the environment)")
    parser.add_argument("--log-format", choices=("text", "json"),
                        help="text or json log lines (default: logging.format in flowdeck.yaml)")
    parser.add_argument("run_id")
    arguments = parser.parse_args(argv)
    stops = _StopRequests()  # before the slow imports: a stop request must never be lost
    if arguments.master_key_on_stdin:
        from flowdeck.engine.secrets.store import hand_master_key

        hand_master_key(sys.stdin.readline().rstrip("\n"))
    if arguments.claimed_by_parent is not None:
        _die_with_parent(arguments.claimed_by_parent)
        sys.stdin.readline()  # the daemon writes a line (or closes) once its claim is decided
        threading.Thread(target=stops.listen, args=(sys.stdin,), name="control", daemon=True).start()
    from flowdeck.engine.workspace import Workspace
    from flowdeck.engine.errors import FlowdeckError
    from flowdeck.engine.logs import configure_logging
    from flowdeck.engine.masking import mask
    from flowdeck.engine.run.executor import RunExecutor
    from flowdeck.engine.run.run_log import RunLog

    workspace: Workspace | None = None
    try:
        workspace = Workspace.open(arguments.project)
        # stderr is logs/worker-<run>.log; journald and syslog, when configured, get the same records
        configure_logging(workspace.project.config.logging, log_format=arguments.log_format)
        run = workspace.ledger.get_run(arguments.run_id)
        observer = RunLog(arguments.run_id, run.pipeline) if run is not None else None
        executor = RunExecutor(workspace.project, workspace.ledger, observer=observer)
        stops.hand_to(executor)
        resume_collection()
        status = workspace.execute(arguments.run_id, claimed=arguments.claimed_by_parent is not None,
                                   executor=executor)
    except FlowdeckError as error:
        print(mask(error.render()), file=sys.stderr)
        return error.exit_code
    finally:
        if workspace is not None:  # opened before collection resumed: frozen, so no collection at exit closes it
            workspace.close()
            nothing_left_to_close()  # and the run closed its warehouse: no teardown needed (engine/startup.py)
    return 0 if status == "succeeded" else 1


class _StopRequests:
    """Stop requests, from signals or from the daemon's control lines on stdin ("drain",
    "interrupt"): remembered until the executor exists, then handed to it.

    The first request drains the run, the second interrupts its running steps. The daemon
    uses the pipe rather than signals because a signal that arrives while Python is still
    starting, before any handler is installed, would kill the worker outright.
    """

    def __init__(self) -> None:
        self.level = 0  # 0: none, 1: drain, 2: interrupt
        self.why = ""
        self.executor: RunExecutor | None = None
        self._lock = threading.RLock()  # re-entrant: a signal handler runs on the main thread
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def hand_to(self, executor: RunExecutor) -> None:
        """Apply the requests received so far, and the later ones as they come."""
        with self._lock:
            self.executor = executor
            self._apply(0, self.level)

    def listen(self, stream: TextIO) -> None:
        """Read control lines from the daemon until it closes the pipe."""
        for line in stream:
            command = line.strip()
            if command in ("drain", "interrupt"):
                self.request(f"the daemon is shutting down ({command})", interrupt=command == "interrupt")

    def request(self, why: str, *, interrupt: bool = False) -> None:
        """One more stop request: the first drains, the second (or an explicit ``interrupt``) interrupts."""
        with self._lock:
            before = self.level
            self.level = 2 if interrupt else min(self.level + 1, 2)
            self.why = why
            if self.executor is not None:
                self._apply(before, self.level)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.request(f"{signal.Signals(signum).name} received")

    def _apply(self, before: int, after: int) -> None:
        assert self.executor is not None
        if before < 1 <= after:
            self.executor.drain(f"stopped at a step boundary: {self.why}; resumable")
        if before < 2 <= after:
            self.executor.interrupt(f"interrupted after the shutdown grace time: {self.why}; resumable")


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this worker when the daemon dies, as systemd would, so a killed
    daemon's runs are abandoned and recovered by the next daemon rather than left unowned."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        sys.exit(1)


if __name__ == "__main__":
    end_without_teardown()  # registered first, so it runs after every other exit handler (engine/startup.py)
    status = main()
    exit_with(status)
    sys.exit(status)
