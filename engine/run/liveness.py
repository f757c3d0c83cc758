"""Liveness: whether a running run's process is still there, and marking the dead ones abandoned.

A run records its process (pid, start time, host) when it is claimed and heartbeats while it
runs. Whoever needs run states to be true calls ``reap_dead_runs`` explicitly: the daemon as it
starts and every so often, `flowdeck status`, `flowdeck cleanup`, the console as it opens and
while it watches, and every run before it sweeps what dead runs left behind.
"""

from __future__ import annotations

import socket
import time

from flowdeck.engine.run.processes import pid_alive, process_identity
from flowdeck.state import Ledger, RunRecord
from flowdeck.state.status import RunStatus

STALE_HEARTBEAT_SECONDS = 120.0


def why_dead(run: RunRecord, host: str, now: float) -> str | None:
    """Why a running run's owner is gone (its pid died, was reused, or it stopped heartbeating); None while alive."""
    if run.owner_host == host and run.owner_pid:
        if not pid_alive(run.owner_pid):
            return f"its process (pid {run.owner_pid}) is gone"
        identity = process_identity(run.owner_pid)
        if run.owner_started and identity is not None and identity != run.owner_started:
            return f"its process (pid {run.owner_pid}) is gone; that pid now belongs to another process"
    last_sign = run.heartbeat_at or run.started_at or run.created_at
    if now - last_sign > STALE_HEARTBEAT_SECONDS:
        return f"no heartbeat for {now - last_sign:.0f}s (pid {run.owner_pid} on {run.owner_host})"
    return None


def reap_dead_runs(ledger: Ledger) -> list[RunRecord]:
    """Mark runs whose process died (or stopped heartbeating) as abandoned, with the reason; return them."""
    host = socket.gethostname()
    now = time.time()
    reaped: list[RunRecord] = []
    for run in ledger.runs_in_status(RunStatus.RUNNING):
        reason = why_dead(run, host, now)
        if reason and ledger.mark_abandoned(run.run_id, reason):
            reaped.append(run)
    return reaped
