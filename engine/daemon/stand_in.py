"""What happens when no daemon runs: a detached worker executes a queued run, and the process
that ends a run delivers the notifications that run raised."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from flowdeck.engine.daemon.lease import read_daemon_state
from flowdeck.engine.project.project import Project
from flowdeck.state import Ledger

if TYPE_CHECKING:  # the sender (its channels) and the launcher load only when there is something to do
    from flowdeck.engine.alerts.sender import DeliveryReport

RUN_END_DELIVERY_SECONDS = 30.0  # how long the end of a run may spend delivering what the run raised
log = logging.getLogger("flowdeck.alerts")


def hand_off(project: Project, ledger: Ledger, run_id: str) -> str:
    """Have a queued run executed in the background: by the daemon when one is running (it picks
    queued runs up), else by a detached worker. Return a sentence saying which."""
    from flowdeck.engine.run.launch import launch_detached

    state = read_daemon_state(ledger)
    if state.running:
        return f"the daemon (pid {state.lease.pid}) will run it" if state.lease else "the daemon will run it"
    return f"worker pid {launch_detached(project, run_id)}"


def deliver_after_run(project: Project, ledger: Ledger, run_id: str) -> DeliveryReport | None:
    """At the end of a run, with no daemon running (it has its own sender): deliver what run ``run_id``
    raised, once each, within RUN_END_DELIVERY_SECONDS; older notifications, retries, reminders and
    time-based rules are the daemon's or `flowdeck alerts send`'s. Never raises."""
    try:
        if read_daemon_state(ledger).running:
            return None
        if not any(notification.state == "pending" for notification in ledger.notifications_of_run(run_id)):
            return None  # the run raised nothing (most runs): the sender is not even imported
        from flowdeck.engine.alerts.sender import Sender

        return Sender(project, ledger).deliver_raised_by(run_id, deadline=time.monotonic() + RUN_END_DELIVERY_SECONDS)
    except Exception:  # notifications stay in the outbox; `flowdeck alerts send` delivers them
        log.exception("could not deliver notifications at the end of the run")
        return None
