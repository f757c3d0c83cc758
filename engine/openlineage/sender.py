"""Deliver the queued OpenLineage events through the openlineage-python client's transport.

At least once, in the order they were queued: an event is claimed with a lease, emitted, then
marked sent; one the catalog did not take goes back with exponential backoff (1 s, doubling, at
most 5 minutes), holding up the ones behind it, until ``give_up_after`` has passed since it was
queued; then, or at once when the catalog refused it for good (a 4xx), it is kept as ``failed``
with the reason.
Runs whose process died before queuing their end (abandoned) get their FAIL here.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from flowdeck.engine.masking import mask
from flowdeck.engine.project.config.lineage import OpenLineageConfig
from flowdeck.engine.project.project import Project
from flowdeck.engine.secrets import resolve
from flowdeck.state import Ledger, LineageEvent

RUN_END_SECONDS = 30.0  # how long the end of a run may spend sending lineage (as for its notifications)
LEASE_SECONDS = 60.0
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 300.0
log = logging.getLogger("flowdeck.openlineage")


@dataclass
class LineageDelivery:
    """What one pass of the sender did."""

    sent: list[LineageEvent] = field(default_factory=list)
    retrying: list[tuple[LineageEvent, str]] = field(default_factory=list)
    given_up: list[tuple[LineageEvent, str]] = field(default_factory=list)


def send_due(project: Project, ledger: Ledger, *, within: float = RUN_END_SECONDS) -> LineageDelivery | None:
    """Send the events due (when configured), in the order they were queued, for at most ``within``
    seconds: at the end of a run (its events, after any a catalog missed before: without a daemon
    nothing else would send those) and on each pass of the daemon's sender thread. Never raises:
    what is not sent stays queued for the next sender."""
    if project.config.lineage.openlineage is None:
        return None
    try:
        return deliver_lineage(project, ledger, deadline=time.monotonic() + within)
    except Exception:  # a busy ledger or a bug: the events stay in the outbox
        log.exception("could not send OpenLineage events")
        return None


def deliver_lineage(project: Project, ledger: Ledger, *, deadline: float | None = None, limit: int = 500) -> LineageDelivery:
    """Send the events due now, each once, until ``deadline`` (a ``time.monotonic()``) or ``limit``."""
    report = LineageDelivery()
    settings = project.config.lineage.openlineage
    if settings is None:
        return report
    _queue_missing_ends(project, ledger)
    due = ledger.next_lineage_due()
    if due is None or due > time.time():
        return report  # nothing waits: no write transaction
    transport = _transport(project, settings)
    claimer = f"{os.getpid()}@{socket.gethostname()}#{secrets.token_hex(3)}"
    while len(report.sent) + len(report.given_up) < limit and (deadline is None or time.monotonic() < deadline):
        # one at a time, oldest first: a catalog that is down stops the pass without stranding claims
        claimed = ledger.claim_lineage_events(claimer, lease_seconds=LEASE_SECONDS, limit=1)
        if not claimed or not _send(ledger, transport, claimer, claimed[0], settings, report):
            break
    return report


def _send(ledger: Ledger, transport: Any, claimer: str, event: LineageEvent, settings: OpenLineageConfig,
          report: LineageDelivery) -> bool:
    """Emit one claimed event and mark it; False when the catalog did not take it and the pass should stop."""
    try:
        transport.emit(event.payload)  # the client's Serde writes a document as it is
    except Exception as error:  # the catalog is down, refused it, or the file cannot be written
        reason = mask(f"{type(error).__name__}: {error}")
        retry_at = _retry_at(event, settings) if _retryable(error) else None
        ledger.lineage_event_failed(event.id, claimer, reason, retry_at=retry_at)
        log.warning("OpenLineage event %s not delivered (attempt %d): %s", event.event_key, event.attempts, reason)
        if retry_at is None:
            report.given_up.append((event, reason))
            return True
        report.retrying.append((event, reason))
        return False
    ledger.lineage_event_sent(event.id, claimer)
    report.sent.append(event)
    return True


def _transport(project: Project, settings: OpenLineageConfig) -> Any:
    from openlineage.client.transport import get_default_factory  # ~300 ms: only where events are sent

    config: dict[str, Any] = {"type": settings.transport}
    if settings.transport == "http":
        assert settings.url is not None
        config.update(url=resolve(settings.url, project), endpoint=settings.endpoint,
                      timeout=settings.timeout.total_seconds(), retry={"total": 0})  # the outbox retries
        if settings.api_key:
            config["auth"] = {"type": "api_key", "apiKey": resolve(settings.api_key, project)}
    elif settings.transport == "file":
        assert settings.path is not None
        path = project.resolve_path(settings.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        config.update(log_file_path=str(path), append=True)
    else:
        _show_console_events()
    return get_default_factory().create(config)


def _show_console_events() -> None:
    """The client's console transport logs each event at INFO, which nothing shows by default: show
    them on stderr, one JSON document a line (stdout stays the command's own output)."""
    logger = logging.getLogger("openlineage.client.transport.console")
    if not any(getattr(handler, "_flowdeck", False) for handler in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._flowdeck = True  # type: ignore[attr-defined]  # added once a process
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _retryable(error: Exception) -> bool:
    """False when the catalog answered that it will never take this event (a 4xx other than 408
    or 429): retrying cannot change its mind, and the events behind it would wait for nothing."""
    status = getattr(getattr(error, "response", None), "status_code", None)
    return not (isinstance(status, int) and 400 <= status < 500 and status not in (408, 429))


def _retry_at(event: LineageEvent, settings: OpenLineageConfig) -> float | None:
    now = time.time()
    if now - event.created_at >= settings.give_up_after.total_seconds():
        return None
    backoff: float = FIRST_RETRY_SECONDS * 2 ** max(event.attempts - 1, 0)  # float: int ** int is typed Any
    return now + min(backoff, MAX_RETRY_SECONDS)


def _queue_missing_ends(project: Project, ledger: Ledger) -> None:
    """A run whose process died (abandoned) queued its START but not its end: queue its FAIL now."""
    from flowdeck.engine.openlineage.emitter import LineageEmitter

    since = time.time() - 7 * 86400
    missing = ledger.runs_missing_lineage_end(since=since)
    if missing:
        emitter = LineageEmitter(project, ledger)
        for run_id in missing:
            emitter.run_finished(run_id)
