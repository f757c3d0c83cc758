"""The ledger's OpenLineage outbox: events queued when runs and steps change state, claimed, sent, retried.

The events themselves are built by the engine (``flowdeck.engine.openlineage``); here they are
JSON documents with a key that makes queuing one twice a no-op. A claim is a compare-and-set
with a lease: a sender that dies mid-delivery leaves the row ``sending`` until its lease ends,
then the next sender takes it again (at least once; a catalog receives an event with the same
runId, job and eventType again at worst, which OpenLineage consumers accept).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LineageEvent:
    """One queued OpenLineage event and how its delivery goes."""

    id: int
    event_key: str
    run_id: str
    job: str
    event_type: str
    payload: dict[str, Any]
    state: str
    attempts: int
    created_at: float
    next_attempt_at: float
    sent_at: float | None
    last_error: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> LineageEvent:
        """A record from a ``lineage_outbox`` row."""
        return cls(id=row["id"], event_key=row["event_key"], run_id=row["run_id"], job=row["job"],
                   event_type=row["event_type"], payload=json.loads(row["payload_json"]), state=row["state"],
                   attempts=row["attempts"], created_at=row["created_at"], next_attempt_at=row["next_attempt_at"],
                   sent_at=row["sent_at"], last_error=row["last_error"])


class LineageOutboxLedger:
    """The ledger's ``lineage_outbox`` table (mixed into ``Ledger``)."""

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:  # supplied by Ledger
        raise NotImplementedError

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:  # supplied by Ledger
        raise NotImplementedError

    def queue_lineage_events(self, events: Sequence[tuple[str, str, str, str, dict[str, Any]]]) -> int:
        """Queue ``(event_key, run_id, job, event_type, payload)`` events in one transaction; a key
        already queued is skipped. Return how many were new."""
        now = time.time()
        with self._write() as db:
            added = 0
            for key, run_id, job, event_type, payload in events:
                added += db.execute(
                    """INSERT OR IGNORE INTO lineage_outbox (event_key, run_id, job, event_type, payload_json, created_at,
                                                             state, next_attempt_at)
                       VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)""",
                    (key, run_id, job, event_type, json.dumps(payload, sort_keys=True), now, now),
                ).rowcount
        return added

    def lineage_queued(self, run_id: str, key_prefix: str = "") -> set[str]:
        """The keys of the events queued for ``run_id`` (starting with ``key_prefix``)."""
        rows = self._query("SELECT event_key FROM lineage_outbox WHERE run_id = ? AND event_key LIKE ? || '%'",
                           (run_id, key_prefix))
        return {row["event_key"] for row in rows}

    def claim_lineage_events(self, claimer: str, *, lease_seconds: float, limit: int = 20) -> list[LineageEvent]:
        """Claim up to ``limit`` events in the order they were queued, stopping at the first that is
        not due (waiting for its retry, or being sent under another's lease): a catalog gets a run's
        events in the order they happened, so one the catalog has not taken yet holds up the rest."""
        now = time.time()
        with self._write() as db:
            rows = db.execute("""SELECT id, state, next_attempt_at, lease_until FROM lineage_outbox
                                 WHERE state IN ('pending', 'sending') ORDER BY id LIMIT ?""", (limit,)).fetchall()
            ids = []
            for row in rows:
                due = row["next_attempt_at"] <= now if row["state"] == "pending" else row["lease_until"] < now
                if not due:
                    break
                ids.append(row["id"])
            for outbox_id in ids:
                db.execute("""UPDATE lineage_outbox SET state = 'sending', claimed_by = ?, lease_until = ?,
                                     attempts = attempts + 1 WHERE id = ?""", (claimer, now + lease_seconds, outbox_id))
            claimed = [db.execute("SELECT * FROM lineage_outbox WHERE id = ?", (outbox_id,)).fetchone() for outbox_id in ids]
        return [LineageEvent.from_row(row) for row in claimed]

    def lineage_event_sent(self, outbox_id: int, claimer: str) -> bool:
        """Mark a claimed event delivered; ``False`` if the claim was lost meanwhile."""
        with self._write() as db:
            return db.execute(
                """UPDATE lineage_outbox SET state = 'sent', sent_at = ?, last_error = NULL, claimed_by = NULL,
                          lease_until = NULL WHERE id = ? AND state = 'sending' AND claimed_by = ?""",
                (time.time(), outbox_id, claimer)).rowcount == 1

    def lineage_event_failed(self, outbox_id: int, claimer: str, error: str, *, retry_at: float | None) -> bool:
        """Put a claimed event back for ``retry_at`` (or give it up when None), saying why."""
        state = "pending" if retry_at is not None else "failed"
        with self._write() as db:
            return db.execute(
                """UPDATE lineage_outbox SET state = ?, next_attempt_at = ?, last_error = ?, claimed_by = NULL,
                          lease_until = NULL WHERE id = ? AND state = 'sending' AND claimed_by = ?""",
                (state, retry_at or time.time(), error, outbox_id, claimer)).rowcount == 1

    def next_lineage_due(self) -> float | None:
        """When the next queued event is due (None when nothing waits), without a write transaction."""
        rows = self._query("""SELECT min(CASE state WHEN 'pending' THEN next_attempt_at ELSE lease_until END) AS due
                              FROM lineage_outbox WHERE state IN ('pending', 'sending')""")
        return rows[0]["due"] if rows else None

    def lineage_events(self, run_id: str | None = None, *, limit: int = 200) -> list[LineageEvent]:
        """Queued and sent events, of one run or of all, oldest first."""
        if run_id is None:
            rows = self._query("SELECT * FROM lineage_outbox ORDER BY id DESC LIMIT ?", (limit,))[::-1]
        else:
            rows = self._query("SELECT * FROM lineage_outbox WHERE run_id = ? ORDER BY id", (run_id,))
        return [LineageEvent.from_row(row) for row in rows]

    def runs_missing_lineage_end(self, *, since: float, limit: int = 50) -> list[str]:
        """Finished runs (ended after ``since``) whose START was queued but no terminal event:
        their process died before it could say how they ended (abandoned runs)."""
        rows = self._query(
            """SELECT r.run_id FROM runs AS r
               WHERE r.ended_at >= ? AND r.status IN ('succeeded', 'failed', 'canceled', 'abandoned')
                 AND EXISTS (SELECT 1 FROM lineage_outbox WHERE run_id = r.run_id AND event_key = r.run_id || ':run:START')
                 AND NOT EXISTS (SELECT 1 FROM lineage_outbox WHERE run_id = r.run_id AND event_key LIKE r.run_id || ':run:%'
                                 AND event_type <> 'START')
               ORDER BY r.ended_at LIMIT ?""", (since, limit))
        return [row["run_id"] for row in rows]
