"""Canceling a run: a queued one at once, a running one at its next step boundary (its heartbeat notices)."""

from __future__ import annotations

from flowdeck.engine.run.liveness import reap_dead_runs
from flowdeck.state import Ledger, RunRecord
from flowdeck.state.status import RunStatus


def cancel_run(ledger: Ledger, run: RunRecord, *, requested_by: str) -> RunRecord:
    """Ask ``run`` to stop; a run already over (finished, or abandoned because its process died) is
    returned as it is."""
    if run.status == RunStatus.RUNNING:  # a run whose process died is noticed now, not asked to stop forever
        reap_dead_runs(ledger)
        run = ledger.get_run(run.run_id) or run
    if run.finished:
        return run
    return ledger.request_cancel(run.run_id, requested_by=requested_by)
