"""What an operator does to the outbox by hand: drop a notification that was not delivered."""

from __future__ import annotations

from typing import Any

from flowdeck.engine.errors import NotFound, ParamError
from flowdeck.state import Ledger, Notification


def drop_notification(ledger: Ledger, outbox_id: int, *, by: str, details: dict[str, Any]) -> Notification:
    """Remove notification ``outbox_id`` from the outbox if it was not delivered (pending, or given up);
    return it as it was. ``details`` gets its channel, kind and state for the audit record, also when
    the drop is refused: one being sent or already sent stays, with a ``ParamError`` saying why."""
    notification = ledger.drop_notification(outbox_id, by=by)
    if notification is None:
        raise NotFound(f"there is no notification {outbox_id} in the outbox",
                       hint="`flowdeck alerts` lists the notifications not delivered, with their numbers (#)")
    details.update(channel=notification.channel, kind=notification.kind, state=notification.state)
    if notification.state == "sending":
        raise ParamError(f"notification {outbox_id} is being sent right now; it cannot be dropped",
                         hint="look again in a moment (`flowdeck alerts`)")
    if notification.state == "sent":
        raise ParamError(f"notification {outbox_id} was delivered; there is nothing to drop")
    return notification
