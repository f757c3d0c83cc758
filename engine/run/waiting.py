"""The one policy while another process holds the warehouse: wait, and say which run (and process) holds it.

DuckDB lets one process at a time open the warehouse file, so whoever opens it (a run, a query,
a backup, a rollback, cleanup) may have to wait. ``WarehouseWait`` is what it calls about once a
second while waiting: it names the holder from the ledger's running runs and passes one
sentence on; a run also records the first such sentence in its log, and stops waiting when it
is asked to stop.
"""

from __future__ import annotations

from collections.abc import Callable

from flowdeck.engine.errors import StepFailed
from flowdeck.state import Ledger
from flowdeck.state.status import RunStatus


def holder_of(ledger: Ledger, pid: int | None) -> str:
    """Which run (if any) a process id belongs to: ``run R of P (pid N)``, else ``process N``."""
    for run in ledger.runs_in_status(RunStatus.RUNNING):
        if run.owner_pid == pid:
            return f"run {run.run_id} of {run.pipeline} (pid {pid})"
    return f"process {pid}" if pid else "another process"


class WarehouseWait:
    """Called with (holder pid, seconds waited) while the warehouse is held; says so through ``say``.

    A reader (a query, a preview, the versions of a table) is told the warehouse is busy; a
    writer that it waits for its turn. For a run, ``run_id`` records the first sentence in the
    run's log, and ``stopped`` ends the wait (nothing has started yet) when the run is asked to
    stop meanwhile. ``ledger`` is asked for only when there is a wait to describe, so a query
    that finds the warehouse free never opens the ledger.
    """

    def __init__(self, ledger: Callable[[], Ledger], say: Callable[[str], None] | None = None, *,
                 reading: bool = False, run_id: str | None = None, stopped: Callable[[], bool] | None = None) -> None:
        self.ledger = ledger
        self.say = say
        self.reading = reading
        self.run_id = run_id
        self.stopped = stopped

    def __call__(self, pid: int | None, waited: float) -> None:
        if self.stopped is not None and self.stopped():
            raise StepFailed("stopped while waiting for the warehouse")
        if self.say is None and self.run_id is None:
            return
        ledger = self.ledger()
        holder = holder_of(ledger, pid)
        if self.reading:
            message = f"the warehouse is busy: {holder} holds it; waiting ({waited:.0f}s)"
        else:
            message = f"waiting for the warehouse, held by {holder} ({waited:.0f}s so far)"
        if self.run_id is not None and waited < 1.0:
            ledger.log(self.run_id, message, level="warning", kind="run.waiting",
                            payload={"holder_pid": pid, "holder": holder})
        if self.say is not None:
            self.say(message)
