"""The outbox sender: claim due notifications, deliver them, mark them, retry with backoff.

Delivery is at least once. A notification is claimed (compare-and-set, with a lease) before
it is sent and marked after; a sender that dies between the two leaves the row claimed, and
the next sender puts it back (at once when the dead claimer's pid is gone from this host,
else when the lease ends) and sends it again. The receiver may so see a notification twice,
never zero times; every copy carries the same ``notification_id`` to drop repeats by.
Exactly once would need the channel to take part in the transaction, which SMTP, Slack,
webhooks and SMS gateways do not.

A channel that fails is retried with backoff, by whichever sender finds the notification due;
one that is misconfigured (a secret its url needs is not set) is given up at once and said once:
retrying cannot set the secret. The process that ran a run delivers only what that run raised,
each once, and leaves every retry to the daemon or `flowdeck alerts send`.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field

from flowdeck.engine.alerts.channels import DeliveryError, channel_named, deliver
from flowdeck.engine.masking import mask
from flowdeck.engine.openlineage.sender import send_due
from flowdeck.engine.project.project import Project
from flowdeck.engine.run.processes import pid_alive
from flowdeck.state import Ledger, Notification

LEASE_SECONDS = 120.0  # longer than any one delivery takes (Apprise's timeouts are seconds)
log = logging.getLogger("flowdeck.alerts.sender")


@dataclass
class DeliveryReport:
    """What one pass of the sender did."""

    sent: list[Notification] = field(default_factory=list)
    retrying: list[tuple[Notification, str]] = field(default_factory=list)
    given_up: list[tuple[Notification, str]] = field(default_factory=list)  # misconfigured ones included
    misconfigured: list[tuple[Notification, str]] = field(default_factory=list)
    idle: bool = False  # nothing of these channels waits, now or later, and no sender holds a claim

    @property
    def attempted(self) -> int:
        """How many notifications were tried."""
        return len(self.sent) + len(self.retrying) + len(self.given_up)


def claimer_id() -> str:
    """This process as a claimer: ``pid@host#token`` (the pid and host say whether it still lives)."""
    return f"{os.getpid()}@{socket.gethostname()}#{secrets.token_hex(3)}"


class Sender:
    """Delivers the project's outbox. Several senders (daemon, run processes, the CLI) may run at
    once: each notification is claimed by one of them at a time."""

    def __init__(self, project: Project, ledger: Ledger) -> None:
        self.project = project
        self.ledger = ledger
        self.claimer = claimer_id()
        self.claims_seen = 0  # notifications being sent (by anyone) when release_dead_claims last looked

    def deliver_due(self, *, ids: list[int] | None = None, channels: list[str] | None = None, limit: int = 100,
                    deadline: float | None = None) -> DeliveryReport:
        """Deliver the notifications due now (or just ``ids``, or those of ``channels``), each once."""
        ledger = self.ledger
        report = DeliveryReport()
        self.release_dead_claims()  # a read, unless a dead sender's claim is to be put back
        due = ledger.next_notification_due(channels)
        if ids is None and (due is None or due > time.time()):
            report.idle = due is None and not self.claims_seen
            return report  # nothing waits: no write transaction (consoles and the daemon ask often)
        while report.attempted < limit and (deadline is None or time.monotonic() < deadline):
            batch = ledger.claim_notifications(self.claimer, lease_seconds=LEASE_SECONDS,
                                               limit=min(10, limit - report.attempted), ids=ids,
                                               channels=channels)
            if not batch:
                break
            for notification in batch:
                self._deliver(notification, report)
        return report

    def deliver_raised_by(self, run_id: str, *, deadline: float) -> DeliveryReport:
        """Deliver, once each and until ``deadline``, the notifications run ``run_id`` raised (about the
        alerts it fired or resolved). What fails waits for the daemon or `flowdeck alerts send`."""
        ids = [n.id for n in self.ledger.notifications_of_run(run_id) if n.state == "pending"]
        return self.deliver_due(ids=ids, deadline=deadline) if ids else DeliveryReport()

    def release_dead_claims(self) -> int:
        """Put back notifications claimed by a process of this host that no longer exists."""
        host = socket.gethostname()
        released = 0
        claims = self.ledger.sending_claims()
        self.claims_seen = len(claims)
        for outbox_id, claimer in claims:
            pid_text, _, rest = claimer.partition("@")
            claim_host = rest.split("#", 1)[0]
            if claim_host != host or not pid_text.isdigit() or claimer == self.claimer:
                continue
            pid = int(pid_text)
            if pid != os.getpid() and not pid_alive(pid):
                reason = (f"the sender (pid {pid}) died while delivering it; it may have reached the channel "
                          "before that: sending again (at least once)")
                if self.ledger.release_claim(outbox_id, claimer, reason):
                    log.warning("notification %d: %s", outbox_id, reason)
                    released += 1
        return released

    def _deliver(self, notification: Notification, report: DeliveryReport) -> None:
        ledger = self.ledger
        project = self.project
        channel = channel_named(project, notification.channel)
        try:
            if channel is None:
                raise DeliveryError(f"channel {notification.channel} is no longer defined in flowdeck.yaml",
                                    misconfigured=True)
            deliver(notification.channel, channel, notification, project, ledger)
        except DeliveryError as error:
            message = mask(str(error))
            # a test is for the operator watching now: report it, do not retry it behind their back
            retry_at = self._retry_at(notification) if error.retryable and notification.kind != "test" else None
            ledger.mark_failed(notification.id, self.claimer, message, retry_at=retry_at)
            if error.misconfigured:
                report.given_up.append((notification, message))
                report.misconfigured.append((notification, message))
                log.error("notification %d to %s not sent, and not retried: the channel is misconfigured: %s",
                          notification.id, notification.channel, message)
            elif retry_at is None:
                report.given_up.append((notification, message))
                log.error("notification %d to %s given up: %s", notification.id, notification.channel, message)
            else:
                report.retrying.append((notification, message))
                log.warning("notification %d to %s failed (attempt %d), retrying in %.0fs: %s", notification.id,
                            notification.channel, notification.attempts, retry_at - time.time(), message)
            return
        except Exception as error:  # a bug or an unexpected library error: keep the notification, retry later
            message = mask(f"internal error: {type(error).__name__}: {error}")
            ledger.mark_failed(notification.id, self.claimer, message, retry_at=self._retry_at(notification))
            report.retrying.append((notification, message))
            log.exception("notification %d to %s: unexpected error", notification.id, notification.channel)
            return
        ledger.mark_sent(notification.id, self.claimer)
        report.sent.append(notification)
        log.info("notification %d (%s) sent to %s", notification.id, notification.kind, notification.channel)

    def _retry_at(self, notification: Notification) -> float | None:
        """Exponential backoff from ``retry.initial`` up to ``retry.max``; None once ``give_up_after`` has passed."""
        policy = self.project.config.alerts.retry
        now = time.time()
        if now - notification.created_at >= policy.give_up_after.total_seconds():
            return None
        delay = policy.initial.total_seconds() * 2.0 ** max(notification.attempts - 1, 0)
        return now + min(delay, policy.max.total_seconds())


class QuietSender:
    """Delivers the notifications of ``channels`` for a process that asks every fraction of a second (an
    open console delivers its toasts on every poll of the ledger).

    A full pass (dead claims, what is due, claiming) runs unless a pass found nothing waiting and nothing
    was written to the ledger since: then the pass could only find nothing again, and one cheap question
    (``Ledger.change_stamp``) answers instead. A notification queued by any process, a claim, a release,
    all write the ledger, so the next ask after one does the full pass: nothing is delivered later than
    before. While something waits (a retry due later, a claim held), every ask is a full pass, as before.
    """

    def __init__(self, project: Project, ledger: Ledger, channels: list[str]) -> None:
        self.sender = Sender(project, ledger)
        self.channels = list(channels)
        self._idle_at: tuple[int, int] | None = None  # the ledger's stamp when a pass last found nothing waiting

    def deliver_due(self) -> DeliveryReport:
        """Deliver what is due now on the channels; nothing, without a pass, while the ledger is as an idle pass left it."""
        stamp = self.sender.ledger.change_stamp()  # before the pass: a write during it makes the next ask look
        if stamp == self._idle_at:
            return DeliveryReport(idle=True)
        report = self.sender.deliver_due(channels=self.channels)
        self._idle_at = stamp if report.idle else None
        return report


class SenderThread(threading.Thread):
    """The daemon's sender: delivers due notifications as they come, until stopped."""

    def __init__(self, project: Project, ledger: Ledger, *, poll_seconds: float = 1.0) -> None:
        super().__init__(name="alert-sender", daemon=True)
        self.sender = Sender(project, ledger)
        self.poll_seconds = poll_seconds
        self._stop_event = threading.Event()
        self.last_error: str | None = None

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.sender.deliver_due()
                # OpenLineage events share the daemon's sender; a slow catalog holds it up 5 s at most
                send_due(self.sender.project, self.sender.ledger, within=5.0)
                self.last_error = None
            except Exception as error:  # a busy ledger or a bug: log it and keep going
                self.last_error = f"{type(error).__name__}: {error}"
                log.exception("the alert sender failed; trying again")
            self._stop_event.wait(self.poll_seconds)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current delivery."""
        self._stop_event.set()
        self.join(timeout)


def send_test(project: Project, ledger: Ledger, channel: str, *, by: str) -> tuple[Notification, str | None]:
    """Send a test notification on ``channel`` now, through the outbox; return it and the error if the
    channel did not take it (a test is never retried behind the operator's back)."""
    key = f"test-{secrets.token_hex(6)}"
    outbox_id = ledger.enqueue_notification(
        channel, "test", {"summary": f"test notification from flowdeck ({project.config.name}) by {by}"}, dedup_key=key)
    report = Sender(project, ledger).deliver_due(ids=[outbox_id])
    notification = ledger.get_notification(outbox_id)
    assert notification is not None
    failures = [message for _, message in report.retrying + report.given_up]
    return notification, failures[0] if failures else None
