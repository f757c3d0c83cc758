"""Recording what people do: one audit entry per action, with its outcome, through the ledger.

Sources say where an action came from; actions name what was done. Values are masked by
the ledger's redactor before they are written, and a secret's value is never passed here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flowdeck.engine.errors import FlowdeckError, Forbidden
from flowdeck.state import Ledger

SOURCES = ("cli", "console", "daemon", "http")
# run, cancel, resume, rollback, edit, secret.set, secret.delete, schedule.change, login, prune, audit.pruned


@contextmanager
def audited(ledger: Ledger, *, actor: str, source: str, action: str, target: str | None,
            details: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Record ``action`` once it ends: ``ok``, ``denied`` (a role refused it) or ``failed`` (with the error).

    The body may add to the yielded ``details`` (e.g. the id of the run it queued).
    """
    extra: dict[str, Any] = dict(details or {})
    try:
        yield extra
    except Forbidden:
        ledger.append_audit(actor=actor, source=source, action=action, target=target, outcome="denied",
                            details=extra or None)
        raise
    except FlowdeckError as error:
        ledger.append_audit(actor=actor, source=source, action=action, target=target, outcome="failed",
                            details={**extra, "error": error.what})
        raise
    ledger.append_audit(actor=actor, source=source, action=action, target=target, outcome="ok", details=extra or None)
