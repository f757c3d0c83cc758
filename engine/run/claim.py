"""Claiming a queued run for this process: one compare-and-set on its row, so a run executes once."""

from __future__ import annotations

import os
import socket

from flowdeck.engine.errors import NotFound
from flowdeck.engine.run.processes import process_identity
from flowdeck.state import Ledger, RunOwner, RunRecord
from flowdeck.state.status import RunStatus


def claim(ledger: Ledger, run_id: str, *, already_claimed: bool = False) -> RunRecord:
    """Claim a queued run for this process and return it running.

    With ``already_claimed`` the run must have been claimed for this process by its parent (the
    daemon claims for its workers, so the claim and the execution are one compare-and-set).
    """
    pid = os.getpid()
    if already_claimed:
        run = ledger.get_run(run_id)
        if run is None or run.status != RunStatus.RUNNING or run.owner_pid != pid:
            state = run.status if run else "missing"
            raise NotFound(f"run {run_id} was not claimed for this process (it is {state})")
        return run
    if not ledger.claim_run(run_id, pid=pid, process_started=process_identity(pid)):
        run = ledger.get_run(run_id)
        state = run.status if run else "missing"
        raise NotFound(f"run {run_id} cannot be started: it is {state}, not queued")
    run = ledger.get_run(run_id)
    assert run is not None
    return run


def this_process() -> RunOwner:
    """This process, as a run's owner: a run submitted to execute here is created claimed for it."""
    pid = os.getpid()
    return RunOwner(pid, socket.gethostname(), process_identity(pid))
