"""Finding an alert from what a person types: its fingerprint or a unique prefix of it."""

from __future__ import annotations

from flowdeck.engine.run.lookup import only_match
from flowdeck.state import AlertRecord, Ledger


def find_alert(ledger: Ledger, ref: str) -> AlertRecord:
    """An alert from its fingerprint or a unique prefix of it; else a ``NotFound`` saying what to type."""
    exact = ledger.get_alert(ref)
    if exact is not None:
        return exact
    return only_match(ref, ledger.find_alerts(ref), noun="alert", missing=f"no alert with id {ref}",
                      missing_hint="list them with `flowdeck alerts`")
