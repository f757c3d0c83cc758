"""The ledger's record of publishes and of the pipelines that follow them (``after:`` triggers).

A publish is a run that succeeded having committed at least one table; the ``run_published``
trigger of the schema writes it in the transaction that marks the run succeeded, so every
process that finishes runs (the daemon's workers, `flowdeck run` in a terminal) is covered and
``seq`` orders publishes as they happened. A follower's state says since which publish its
trigger is in force and which publish of each upstream its last run took.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Publish:
    """One run that published: its place in the order of publishes, pipeline, run and time."""

    seq: int
    pipeline: str
    run_id: str
    published_at: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Publish:
        """Build from a ``publishes`` row."""
        return cls(seq=row["seq"], pipeline=row["pipeline"], run_id=row["run_id"], published_at=row["published_at"])


@dataclass(frozen=True)
class FollowState:
    """Where one ``after:`` trigger of one pipeline stands.

    ``since`` is the last publish before the trigger came into force (older ones are not followed);
    ``taken`` is, per upstream pipeline, the publish the trigger's last run was started for.
    """

    pipeline: str
    key: str
    since: int
    taken: dict[str, int] = field(default_factory=dict)
    last_run_id: str | None = None

    def taken_of(self, upstream: str) -> int:
        """The newest publish of ``upstream`` already followed (``since`` when none was)."""
        return max(self.taken.get(upstream, 0), self.since)


class FollowingLedger:
    """The ledger's ``publishes`` and ``follow_state`` tables (mixed into ``Ledger``)."""

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:  # supplied by Ledger
        raise NotImplementedError

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:  # supplied by Ledger
        raise NotImplementedError

    def _event(self, db: sqlite3.Connection, run_id: str | None, kind: str, message: str, *, level: str = "info",
               step: str | None = None, payload: dict[str, Any] | None = None, ts: float | None = None) -> int:
        raise NotImplementedError  # supplied by Ledger

    def last_publish_seq(self) -> int:
        """The position of the newest publish (0 before any): cheap enough to ask on every daemon tick."""
        rows = self._query("SELECT MAX(seq) FROM publishes")
        return int(rows[0][0] or 0)

    def latest_publishes(self, pipelines: Sequence[str]) -> dict[str, Publish]:
        """The newest publish of each of ``pipelines`` that ever published."""
        found: dict[str, Publish] = {}
        for pipeline in pipelines:  # one index probe each (publishes_by_pipeline)
            rows = self._query("SELECT * FROM publishes WHERE pipeline = ? ORDER BY seq DESC LIMIT 1", (pipeline,))
            if rows:
                found[pipeline] = Publish.from_row(rows[0])
        return found

    def publish_of(self, run_id: str) -> Publish | None:
        """The publish a run made, if it made one."""
        rows = self._query("SELECT * FROM publishes WHERE run_id = ?", (run_id,))
        return Publish.from_row(rows[0]) if rows else None

    def follow_state(self, pipeline: str, key: str) -> FollowState | None:
        """Where the ``after:`` trigger ``key`` of ``pipeline`` stands; None before a daemon took it in."""
        rows = self._query("SELECT * FROM follow_state WHERE pipeline = ? AND key = ?", (pipeline, key))
        if not rows:
            return None
        row = rows[0]
        return FollowState(pipeline=pipeline, key=key, since=row["since"], taken=json.loads(row["taken_json"]),
                           last_run_id=row["last_run_id"])

    def start_following(self, pipeline: str, key: str, description: str) -> FollowState:
        """The state of ``pipeline``'s trigger ``key``; a trigger not seen before is in force from now on
        (publishes made before it are not followed), recorded with an event giving its ``description``."""
        now = time.time()
        with self._write() as db:
            row = db.execute("SELECT * FROM follow_state WHERE pipeline = ? AND key = ?", (pipeline, key)).fetchone()
            if row is not None:
                return FollowState(pipeline=pipeline, key=key, since=row["since"], taken=json.loads(row["taken_json"]),
                                   last_run_id=row["last_run_id"])
            since = int(db.execute("SELECT IFNULL(MAX(seq), 0) FROM publishes").fetchone()[0])
            db.execute("INSERT INTO follow_state (pipeline, key, since, updated_at) VALUES (?, ?, ?, ?)",
                       (pipeline, key, since, now))
            self._event(db, None, "follow.started", f"{pipeline} now runs {description}",
                        payload={"pipeline": pipeline, "key": key, "since": since}, ts=now)
        return FollowState(pipeline=pipeline, key=key, since=since)

    def forget_follows(self, pipeline: str, keep: Sequence[str]) -> int:
        """Drop the states of ``pipeline``'s triggers other than ``keep`` (removed or changed in its YAML):
        one put back later starts afresh. Return how many were dropped."""
        marks = ", ".join("?" * len(keep))
        with self._write() as db:
            return db.execute(
                "DELETE FROM follow_state WHERE pipeline = ?" + (f" AND key NOT IN ({marks})" if keep else ""),
                (pipeline, *keep),
            ).rowcount

    def record_followed(self, pipeline: str, key: str, taken: dict[str, int], run_id: str) -> None:
        """Remember that the trigger's run ``run_id`` was started for the publishes ``taken`` (upstream → seq)."""
        with self._write() as db:
            db.execute(
                "UPDATE follow_state SET taken_json = ?, last_run_id = ?, updated_at = ? WHERE pipeline = ? AND key = ?",
                (json.dumps(taken, sort_keys=True), run_id, time.time(), pipeline, key),
            )
