"""Alert state, the notification log, the outbox and silences: the ledger side of alerting.

An alert is identified by its fingerprint (a hash of its rule and identifying labels) and is
``firing`` or ``resolved``. Whether a change must be told to a channel is decided here, with
Alertmanager's rule kept per (fingerprint, channel) in ``alert_notifications``: tell when it
starts firing, tell again only after the repeat interval, tell when it resolves if that
channel was told it fired. What must be told is written to ``outbox`` in the same transaction
as the change (and so as the run transition that caused it); a sender claims outbox rows with
a compare-and-set, sends, and marks them, recording every attempt.

The rules themselves (which transition raises which alert, routes to which channels) live in
the engine and reach the ledger as a hook called inside the transition's transaction with an
``AlertBook``: the only way to change alert state.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal

from flowdeck.state.filters import Where
from flowdeck.state.records import CheckRecord, RunRecord, ScheduleTick, StepRecord, iso
from flowdeck.state.status import RunStatus

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[str, ...] = ("critical", "warning", "info")
NOTIFICATION_STATES = ("pending", "sending", "sent", "failed")


def fingerprint_of(rule: str, labels: dict[str, str]) -> str:
    """The stable identity of an alert: 16 hex digits of a hash of its rule and identifying labels."""
    text = json.dumps({"rule": rule, **labels}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Delivery:
    """Where a routed alert goes: a channel, how often to remind, whether to tell when it resolves."""

    channel: str
    repeat_interval: float
    send_resolved: bool = True


@dataclass(frozen=True)
class AlertSignal:
    """What a rule says about one alert identity: it fires now, with this text, to these channels."""

    rule: str
    severity: str
    identity: dict[str, str]
    summary: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    deliveries: tuple[Delivery, ...] = ()

    @property
    def fingerprint(self) -> str:
        """The alert's identity: its rule and identifying labels (pipeline, step, check), not the extra ones."""
        return fingerprint_of(self.rule, self.identity)

    @property
    def all_labels(self) -> dict[str, str]:
        """Identifying and extra labels together."""
        return {**self.labels, **self.identity}


@dataclass(frozen=True)
class Transition:
    """A ledger change alert rules react to, handed to the hook inside its transaction."""

    kind: Literal["run.finished", "check.recorded", "tick.recorded"]
    ts: float
    run: RunRecord | None = None
    check: CheckRecord | None = None
    tick: ScheduleTick | None = None


@dataclass(frozen=True)
class AlertRecord:
    """The current (or last) episode of one alert."""

    fingerprint: str
    rule: str
    severity: str
    labels: dict[str, str]
    status: Literal["firing", "resolved"]
    summary: str
    annotations: dict[str, Any]
    pipeline: str | None
    run_id: str | None
    starts_at: float
    ends_at: float | None
    last_seen_at: float
    occurrences: int
    acknowledged_by: str | None
    acknowledged_at: float | None
    silenced_until: float | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row, silenced_until: float | None = None) -> AlertRecord:
        """Build from an ``alerts`` row."""
        return cls(
            fingerprint=row["fingerprint"], rule=row["rule"], severity=row["severity"],
            labels=json.loads(row["labels_json"]), status=row["status"], summary=row["summary"],
            annotations=json.loads(row["annotations_json"] or "{}"), pipeline=row["pipeline"], run_id=row["run_id"],
            starts_at=row["starts_at"], ends_at=row["ends_at"], last_seen_at=row["last_seen_at"],
            occurrences=row["occurrences"], acknowledged_by=row["acknowledged_by"],
            acknowledged_at=row["acknowledged_at"], silenced_until=silenced_until,
        )

    # the names the console's alert list reads
    @property
    def alert_id(self) -> str:
        """The id to acknowledge it by (its fingerprint)."""
        return self.fingerprint

    @property
    def kind(self) -> str:
        """Which rule raised it."""
        return self.rule

    @property
    def title(self) -> str:
        """One line saying what is wrong."""
        return self.summary

    @property
    def detail(self) -> str:
        """The first line of the error or explanation, if any."""
        text = str(self.annotations.get("error") or self.annotations.get("description") or "")
        return text.splitlines()[0] if text else ""

    @property
    def ts(self) -> float:
        """When it last changed (fired, fired again, or resolved)."""
        return self.ends_at if self.status == "resolved" and self.ends_at else self.last_seen_at

    @property
    def acknowledged(self) -> bool:
        """Whether someone has acknowledged this episode."""
        return self.acknowledged_at is not None

    def to_json(self) -> dict[str, Any]:
        """The JSON object of an alert (``flowdeck alerts --json``)."""
        return {
            "fingerprint": self.fingerprint, "rule": self.rule, "severity": self.severity, "status": self.status,
            "labels": self.labels, "summary": self.summary, "annotations": self.annotations,
            "pipeline": self.pipeline, "run_id": self.run_id, "starts_at": iso(self.starts_at),
            "ends_at": iso(self.ends_at), "last_seen_at": iso(self.last_seen_at), "occurrences": self.occurrences,
            "acknowledged_by": self.acknowledged_by, "acknowledged_at": iso(self.acknowledged_at),
            "silenced_until": iso(self.silenced_until),
        }


@dataclass(frozen=True)
class Notification:
    """One outbox row: a message for one channel, and how its delivery is going."""

    id: int
    dedup_key: str
    channel: str
    fingerprint: str | None
    kind: str
    payload: dict[str, Any]
    created_at: float
    state: str
    attempts: int
    next_attempt_at: float
    claimed_by: str | None
    lease_until: float | None
    sent_at: float | None
    last_error: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Notification:
        """Build from an ``outbox`` row."""
        values = {key: row[key] for key in row.keys() if key != "payload_json"}
        return cls(payload=json.loads(row["payload_json"]), **values)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of a notification (``flowdeck alerts --json``)."""
        return {
            "id": self.id, "notification_id": self.dedup_key, "channel": self.channel,
            "fingerprint": self.fingerprint, "kind": self.kind, "state": self.state, "attempts": self.attempts,
            "created_at": iso(self.created_at), "next_attempt_at": iso(self.next_attempt_at),
            "sent_at": iso(self.sent_at), "last_error": self.last_error,
            "summary": self.payload.get("alert", {}).get("summary") or self.payload.get("summary"),
        }


@dataclass(frozen=True)
class Silence:
    """No notification about a pipeline's alerts between two times."""

    silence_id: int
    pipeline: str
    starts_at: float
    ends_at: float
    created_by: str | None
    comment: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Silence:
        """Build from a ``silences`` row."""
        return cls(**{key: row[key] for key in row.keys()})

    def to_json(self) -> dict[str, Any]:
        """The JSON object of a silence."""
        return {"id": self.silence_id, "pipeline": self.pipeline, "starts_at": iso(self.starts_at),
                "ends_at": iso(self.ends_at), "created_by": self.created_by, "comment": self.comment}


AlertHook = Callable[["AlertBook", Transition], None]


class AlertBook:
    """Alert state inside one ledger write transaction: what rules read and the only way they write.

    Everything it does commits or rolls back with the transition that caused it.
    """

    def __init__(self, db: sqlite3.Connection, redact: Callable[[str], str],
                 event: Callable[..., int], now: float) -> None:
        self._db = db
        self._redact = redact
        self._event = event
        self.now = now

    # -- what rules read ---------------------------------------------------------------------

    def alert(self, fingerprint: str) -> AlertRecord | None:
        """The alert with this fingerprint, if it ever fired."""
        row = self._db.execute("SELECT * FROM alerts WHERE fingerprint = ?", (fingerprint,)).fetchone()
        return AlertRecord.from_row(row) if row else None

    def firing(self, *, pipeline: str | None = None, rule: str | None = None) -> list[AlertRecord]:
        """Alerts firing now, optionally of one pipeline or rule."""
        where = Where(["status = 'firing'"])
        if pipeline is not None:
            where.add("pipeline = ?", pipeline)
        if rule is not None:
            where.add("rule = ?", rule)
        rows = self._db.execute(f"SELECT * FROM alerts {where.sql()} ORDER BY starts_at", where.args)
        return [AlertRecord.from_row(row) for row in rows]

    def run(self, run_id: str) -> RunRecord | None:
        """One run."""
        row = self._db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return RunRecord.from_row(row) if row else None

    def runs_in_status(self, status: RunStatus) -> list[RunRecord]:
        """Every run in a status, oldest first."""
        rows = self._db.execute("SELECT * FROM runs WHERE status = ? ORDER BY created_at", (status,))
        return [RunRecord.from_row(row) for row in rows]

    def steps_of(self, run_id: str) -> list[StepRecord]:
        """A run's steps in plan order."""
        rows = self._db.execute("SELECT * FROM steps WHERE run_id = ? ORDER BY position", (run_id,))
        return [StepRecord.from_row(row) for row in rows]

    def durations(self, pipeline: str, *, limit: int, before: float) -> list[float]:
        """Seconds taken by the pipeline's latest successful runs in prod that ended before ``before``."""
        rows = self._db.execute(
            """SELECT ended_at - started_at FROM runs WHERE pipeline = ? AND status = 'succeeded' AND environment = 'prod'
               AND started_at IS NOT NULL AND ended_at IS NOT NULL AND ended_at < ? ORDER BY ended_at DESC LIMIT ?""",
            (pipeline, before, limit))
        return [float(row[0]) for row in rows]

    def last_success(self, pipeline: str) -> float | None:
        """When the pipeline's latest successful run in prod ended (a development environment's is not prod's data)."""
        row = self._db.execute("SELECT MAX(ended_at) FROM runs WHERE pipeline = ? AND status = 'succeeded' "
                               "AND environment = 'prod'",
                               (pipeline,)).fetchone()
        return row[0] if row else None

    def first_run_created(self, pipeline: str) -> float | None:
        """When the pipeline's first run in prod was queued (None: it never ran there)."""
        row = self._db.execute("SELECT MIN(created_at) FROM runs WHERE pipeline = ? AND environment = 'prod'",
                               (pipeline,)).fetchone()
        return row[0] if row else None

    def silenced_until(self, pipeline: str | None) -> float | None:
        """Until when notifications about a pipeline are silenced (None: they are not)."""
        if pipeline is None:
            return None
        row = self._db.execute("SELECT MAX(ends_at) FROM silences WHERE pipeline IN (?, '*') AND starts_at <= ? "
                               "AND ends_at > ?", (pipeline, self.now, self.now)).fetchone()
        return row[0] if row and row[0] else None

    # -- what rules write ----------------------------------------------------------------------

    def fire(self, signal: AlertSignal, *, inhibited_by: str | None = None, occurrence: bool = True) -> list[int]:
        """The alert fires now: start an episode (or count one more occurrence) and enqueue what the
        notification log says is due. A periodic re-evaluation of a condition that still holds passes
        ``occurrence=False``. Return the outbox ids written."""
        fingerprint = signal.fingerprint
        pipeline = signal.identity.get("pipeline")
        existing = self.alert(fingerprint)
        new_episode = existing is None or existing.status == "resolved"
        labels_json = json.dumps(signal.all_labels, sort_keys=True)
        annotations_json = self._redact(json.dumps(signal.annotations, default=str, sort_keys=True))
        summary = self._redact(signal.summary)
        if new_episode:
            self._db.execute(
                """INSERT INTO alerts (fingerprint, rule, severity, labels_json, status, summary, annotations_json,
                                       pipeline, run_id, starts_at, ends_at, last_seen_at, occurrences)
                   VALUES (?, ?, ?, ?, 'firing', ?, ?, ?, ?, ?, NULL, ?, 1)
                   ON CONFLICT (fingerprint) DO UPDATE SET severity = excluded.severity,
                       labels_json = excluded.labels_json, status = 'firing', summary = excluded.summary,
                       annotations_json = excluded.annotations_json, run_id = excluded.run_id,
                       starts_at = excluded.starts_at, ends_at = NULL, last_seen_at = excluded.last_seen_at,
                       occurrences = 1, acknowledged_by = NULL, acknowledged_at = NULL""",
                (fingerprint, signal.rule, signal.severity, labels_json, summary, annotations_json, pipeline,
                 signal.run_id, self.now, self.now),
            )
            self._event(self._db, signal.run_id, "alert.firing", f"alert {signal.rule} firing: {summary}",
                        level="error" if signal.severity == "critical" else "warning",
                        payload={"fingerprint": fingerprint, "rule": signal.rule, "severity": signal.severity,
                                 "labels": signal.all_labels}, ts=self.now)
        else:
            self._db.execute(
                """UPDATE alerts SET severity = ?, labels_json = ?, summary = ?, annotations_json = ?,
                                     run_id = IFNULL(?, run_id), last_seen_at = ?, occurrences = occurrences + ?
                   WHERE fingerprint = ?""",
                (signal.severity, labels_json, summary, annotations_json, signal.run_id, self.now, int(occurrence),
                 fingerprint),
            )
        if inhibited_by is not None:
            self._event(self._db, signal.run_id, "alert.inhibited",
                        f"alert {signal.rule} not notified: {inhibited_by}", payload={"fingerprint": fingerprint},
                        ts=self.now)
            return []
        return self.notify_due(fingerprint, signal.deliveries)

    def notify_due(self, fingerprint: str, deliveries: Sequence[Delivery]) -> list[int]:
        """Enqueue, for each channel, what a firing alert is owed: its first notification, or a
        reminder once the repeat interval has passed. Silenced and acknowledged alerts are owed nothing."""
        alert = self.alert(fingerprint)
        if alert is None or alert.status != "firing":
            return []
        if self.silenced_until(alert.pipeline) is not None:
            return []
        written: list[int] = []
        for delivery in deliveries:
            told = self._told(fingerprint, delivery.channel)
            if told is None or told[0] != "firing" or told[1] < alert.starts_at:
                kind = "firing"
            elif alert.acknowledged:
                continue  # acknowledged: someone is on it, no reminders
            elif self.now - told[1] >= delivery.repeat_interval:
                kind = "reminder"
            else:
                continue
            written.append(self._enqueue(alert, delivery.channel, kind))
            self._remember(fingerprint, delivery.channel, "firing")
        return written

    def resolve(self, fingerprint: str, *, reason: str, run_id: str | None = None,
                deliveries: Sequence[Delivery] = ()) -> list[int]:
        """The alert stopped firing: end its episode and tell the channels that were told it fired
        (those with ``send_resolved``), unless its pipeline is silenced. Return the outbox ids written."""
        alert = self.alert(fingerprint)
        if alert is None or alert.status != "firing":
            return []
        annotations = {**alert.annotations, "resolved_by": reason}
        if run_id:
            annotations["resolved_by_run"] = run_id
        self._db.execute(
            "UPDATE alerts SET status = 'resolved', ends_at = ?, annotations_json = ? WHERE fingerprint = ?",
            (self.now, self._redact(json.dumps(annotations, default=str, sort_keys=True)), fingerprint),
        )
        self._event(self._db, run_id, "alert.resolved", f"alert {alert.rule} resolved: {alert.summary} ({reason})",
                    payload={"fingerprint": fingerprint, "rule": alert.rule}, ts=self.now)
        resolved = self.alert(fingerprint)
        assert resolved is not None
        settings = {delivery.channel: delivery for delivery in deliveries}
        silenced = self.silenced_until(alert.pipeline) is not None
        written: list[int] = []
        rows = self._db.execute("SELECT channel FROM alert_notifications WHERE fingerprint = ? AND status = 'firing'",
                                (fingerprint,)).fetchall()
        for (channel,) in rows:
            delivery = settings.get(channel)
            if not silenced and (delivery is None or delivery.send_resolved):
                written.append(self._enqueue(resolved, channel, "resolved"))
            self._remember(fingerprint, channel, "resolved")
        return written

    def _told(self, fingerprint: str, channel: str) -> tuple[str, float] | None:
        row = self._db.execute("SELECT status, notified_at FROM alert_notifications WHERE fingerprint = ? AND channel = ?",
                               (fingerprint, channel)).fetchone()
        return (row[0], float(row[1])) if row else None

    def _remember(self, fingerprint: str, channel: str, status: str) -> None:
        self._db.execute(
            "INSERT INTO alert_notifications (fingerprint, channel, status, notified_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (fingerprint, channel) DO UPDATE SET status = excluded.status, notified_at = excluded.notified_at",
            (fingerprint, channel, status, self.now),
        )

    def _enqueue(self, alert: AlertRecord, channel: str, kind: str) -> int:
        key = hashlib.sha256(f"{alert.fingerprint}|{channel}|{kind}|{alert.starts_at!r}|{self.now!r}".encode())
        payload = {"kind": kind, "alert": alert.to_json()}
        return enqueue(self._db, self._redact, channel=channel, kind=kind, payload=payload,
                       dedup_key=key.hexdigest()[:24], fingerprint=alert.fingerprint, now=self.now)


def enqueue(db: sqlite3.Connection, redact: Callable[[str], str], *, channel: str, kind: str, payload: dict[str, Any],
            dedup_key: str, fingerprint: str | None, now: float) -> int:
    """Write one outbox row (in the caller's transaction); a repeated dedup key writes nothing."""
    payload = {**payload, "notification_id": dedup_key, "channel": channel}
    cursor = db.execute(
        """INSERT OR IGNORE INTO outbox (dedup_key, channel, fingerprint, kind, payload_json, created_at, state,
                                         attempts, next_attempt_at)
           VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?)""",
        (dedup_key, channel, fingerprint, kind, redact(json.dumps(payload, default=str, sort_keys=True)), now, now),
    )
    return int(cursor.lastrowid or 0) if cursor.rowcount == 1 else 0


class AlertLedger:
    """The ledger's alert, outbox and silence tables (mixed into ``Ledger``)."""

    _redact: Callable[[str], str]
    _alert_hook: AlertHook | None = None

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:  # supplied by Ledger
        raise NotImplementedError

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:  # supplied by Ledger
        raise NotImplementedError

    def _event(self, db: sqlite3.Connection, run_id: str | None, kind: str, message: str, *, step: str | None = None,
               level: str = "info", payload: dict[str, Any] | None = None, ts: float | None = None) -> int:
        raise NotImplementedError  # supplied by Ledger

    def set_alert_hook(self, hook: AlertHook | None) -> None:
        """Have ``hook`` evaluate alert rules inside every transition that can raise or resolve an alert."""
        self._alert_hook = hook

    def _transition(self, db: sqlite3.Connection, transition: Transition) -> None:
        """Run the alert hook inside the caller's transaction. A failing rule must not lose the
        transition itself: its writes are rolled back to a savepoint and the failure recorded."""
        if self._alert_hook is None:
            return
        db.execute("SAVEPOINT alerting")
        try:
            self._alert_hook(AlertBook(db, self._redact, self._event, transition.ts), transition)
        except Exception as error:
            db.execute("ROLLBACK TO alerting")
            db.execute("RELEASE alerting")
            run_id = transition.run.run_id if transition.run else (transition.check.run_id if transition.check else None)
            self._event(db, run_id, "alert.error", f"alert rules failed: {type(error).__name__}: {error}",
                        level="error", ts=transition.ts)
            return
        db.execute("RELEASE alerting")

    def evaluate_alerts(self, evaluate: Callable[[AlertBook], None], now: float | None = None) -> None:
        """Run a periodic evaluation (deadlines, stale data, daemon health, reminders) in one transaction."""
        now = now or time.time()
        with self._write() as db:
            evaluate(AlertBook(db, self._redact, self._event, now))

    # -- alerts ------------------------------------------------------------------------------

    def alerts(self, *, status: str | None = None, limit: int = 200, include_acknowledged: bool = True,
               pipeline: str | None = None) -> list[AlertRecord]:
        """Alerts, firing first then newest first, with the silence covering each."""
        where = Where()
        if status:
            where.add("status = ?", status)
        if pipeline:
            where.add("pipeline = ?", pipeline)
        if not include_acknowledged:
            where.add("acknowledged_at IS NULL")
        rows = self._query(
            f"""SELECT alerts.*, (SELECT MAX(ends_at) FROM silences WHERE silences.pipeline IN (alerts.pipeline, '*')
                                   AND starts_at <= ? AND ends_at > ?) AS silenced_until
                FROM alerts {where.sql()}
                ORDER BY status = 'firing' DESC, IFNULL(ends_at, last_seen_at) DESC LIMIT ?""",
            (time.time(), time.time(), *where.args, limit))
        return [AlertRecord.from_row(row, row["silenced_until"]) for row in rows]

    def get_alert(self, fingerprint: str) -> AlertRecord | None:
        """One alert by its exact fingerprint."""
        rows = self._query("SELECT * FROM alerts WHERE fingerprint = ?", (fingerprint,))
        return AlertRecord.from_row(rows[0]) if rows else None

    def find_alerts(self, prefix: str) -> list[AlertRecord]:
        """Alerts whose fingerprint starts with ``prefix``."""
        rows = self._query("SELECT * FROM alerts WHERE fingerprint LIKE ? LIMIT 5", (prefix.replace("%", "") + "%",))
        return [AlertRecord.from_row(row) for row in rows]

    def acknowledge_alert(self, fingerprint: str, *, by: str | None = None) -> bool:
        """Record that someone is on a firing alert (no reminders until it resolves and fires again);
        ``False`` if it was already acknowledged or is not firing."""
        now = time.time()
        with self._write() as db:
            changed = db.execute(
                "UPDATE alerts SET acknowledged_by = ?, acknowledged_at = ? "
                "WHERE fingerprint = ? AND status = 'firing' AND acknowledged_at IS NULL",
                (by, now, fingerprint),
            ).rowcount
            if changed == 1:
                row = db.execute("SELECT rule, run_id FROM alerts WHERE fingerprint = ?", (fingerprint,)).fetchone()
                who = f" by {by}" if by else ""
                self._event(db, row["run_id"], "alert.acknowledged", f"alert {row['rule']} acknowledged{who}",
                            payload={"fingerprint": fingerprint}, ts=now)
        return changed == 1

    # -- silences ------------------------------------------------------------------------------

    def add_silence(self, pipeline: str, seconds: float, *, by: str | None = None, comment: str | None = None) -> Silence:
        """Silence notifications about a pipeline (``*``: all) for ``seconds`` from now."""
        now = time.time()
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO silences (pipeline, starts_at, ends_at, created_by, comment) VALUES (?, ?, ?, ?, ?)",
                (pipeline, now, now + seconds, by, self._redact(comment) if comment else None),
            )
            silence_id = int(cursor.lastrowid or 0)
            who = f" by {by}" if by else ""
            self._event(db, None, "alert.silenced", f"alerts of {pipeline} silenced until {iso(now + seconds)}{who}",
                        payload={"pipeline": pipeline, "silence_id": silence_id, "until": now + seconds}, ts=now)
            row = db.execute("SELECT * FROM silences WHERE silence_id = ?", (silence_id,)).fetchone()
        return Silence.from_row(row)

    def end_silences(self, pipeline: str, *, by: str | None = None) -> int:
        """End the active silences of a pipeline now; return how many there were."""
        now = time.time()
        with self._write() as db:
            changed = db.execute("UPDATE silences SET ends_at = ? WHERE pipeline = ? AND ends_at > ?",
                                 (now, pipeline, now)).rowcount
            if changed:
                who = f" by {by}" if by else ""
                self._event(db, None, "alert.unsilenced", f"alerts of {pipeline} no longer silenced{who}",
                            payload={"pipeline": pipeline}, ts=now)
        return int(changed)

    def silences(self, *, active_at: float | None = None) -> list[Silence]:
        """Silences active at a time (now by default)."""
        at = active_at or time.time()
        rows = self._query("SELECT * FROM silences WHERE starts_at <= ? AND ends_at > ? ORDER BY ends_at", (at, at))
        return [Silence.from_row(row) for row in rows]

    # -- the outbox ------------------------------------------------------------------------------

    def enqueue_notification(self, channel: str, kind: str, payload: dict[str, Any], *, dedup_key: str) -> int:
        """Write one notification that no transition caused (a test message); return its id."""
        now = time.time()
        with self._write() as db:
            return enqueue(db, self._redact, channel=channel, kind=kind, payload=payload, dedup_key=dedup_key,
                           fingerprint=None, now=now)

    def claim_notifications(self, claimer: str, *, lease_seconds: float, limit: int = 20,
                            ids: Sequence[int] | None = None, channels: Sequence[str] | None = None,
                            now: float | None = None) -> list[Notification]:
        """Take up to ``limit`` due notifications for ``claimer`` (pending and due, or whose claim lease
        ran out), each by a compare-and-set, and record the attempt. Nobody else can take them until
        the lease ends or they are marked."""
        now = now or time.time()
        claimed: list[Notification] = []
        with self._write() as db:
            only = f" AND id IN ({', '.join('?' * len(ids))})" if ids else ""
            only += f" AND channel IN ({', '.join('?' * len(channels))})" if channels else ""
            candidates = db.execute(
                f"""SELECT id FROM outbox WHERE ((state = 'pending' AND next_attempt_at <= ?)
                                               OR (state = 'sending' AND lease_until < ?)){only}
                    ORDER BY next_attempt_at, id LIMIT ?""", (now, now, *(ids or ()), *(channels or ()), limit)).fetchall()
            for (outbox_id,) in candidates:
                changed = db.execute(
                    """UPDATE outbox SET state = 'sending', claimed_by = ?, lease_until = ?, attempts = attempts + 1
                       WHERE id = ? AND ((state = 'pending' AND next_attempt_at <= ?) OR (state = 'sending' AND lease_until < ?))""",
                    (claimer, now + lease_seconds, outbox_id, now, now)).rowcount
                if changed != 1:
                    continue
                row = db.execute("SELECT * FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
                db.execute("UPDATE outbox_attempts SET outcome = 'interrupted', ended_at = ?, "
                           "error = 'the sender stopped before recording the outcome' "
                           "WHERE outbox_id = ? AND outcome IS NULL", (now, outbox_id))
                db.execute("INSERT INTO outbox_attempts (outbox_id, attempt, claimed_by, started_at) VALUES (?, ?, ?, ?)",
                           (outbox_id, row["attempts"], claimer, now))
                claimed.append(Notification.from_row(row))
        return claimed

    def mark_sent(self, outbox_id: int, claimer: str) -> bool:
        """Record a delivery; ``False`` if the claim was lost meanwhile (someone else owns the row now)."""
        now = time.time()
        with self._write() as db:
            changed = db.execute(
                "UPDATE outbox SET state = 'sent', sent_at = ?, lease_until = NULL, last_error = NULL "
                "WHERE id = ? AND state = 'sending' AND claimed_by = ?", (now, outbox_id, claimer)).rowcount
            if changed == 1:
                db.execute("UPDATE outbox_attempts SET outcome = 'sent', ended_at = ? WHERE outbox_id = ? "
                           "AND attempt = (SELECT attempts FROM outbox WHERE id = ?)", (now, outbox_id, outbox_id))
        return changed == 1

    def mark_failed(self, outbox_id: int, claimer: str, error: str, *, retry_at: float | None) -> bool:
        """Record a failed attempt: retry at ``retry_at``, or give up (state ``failed``) when it is None."""
        now = time.time()
        error = self._redact(error)
        with self._write() as db:
            state = "pending" if retry_at is not None else "failed"
            changed = db.execute(
                "UPDATE outbox SET state = ?, next_attempt_at = ?, lease_until = NULL, last_error = ? "
                "WHERE id = ? AND state = 'sending' AND claimed_by = ?",
                (state, retry_at if retry_at is not None else now, error, outbox_id, claimer)).rowcount
            if changed == 1:
                db.execute("UPDATE outbox_attempts SET outcome = 'failed', ended_at = ?, error = ? WHERE outbox_id = ? "
                           "AND attempt = (SELECT attempts FROM outbox WHERE id = ?)", (now, error, outbox_id, outbox_id))
                if state == "failed":
                    row = db.execute("SELECT channel, fingerprint FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
                    self._event(db, None, "notification.failed",
                                f"notification {outbox_id} to {row['channel']} given up: {error}", level="error",
                                payload={"outbox_id": outbox_id, "channel": row["channel"],
                                         "fingerprint": row["fingerprint"]}, ts=now)
        return changed == 1

    def release_claim(self, outbox_id: int, claimer: str, reason: str) -> bool:
        """Put back a notification whose claimer died mid-send, so it is sent again (at least once)."""
        now = time.time()
        with self._write() as db:
            changed = db.execute(
                "UPDATE outbox SET state = 'pending', next_attempt_at = ?, lease_until = NULL, last_error = ? "
                "WHERE id = ? AND state = 'sending' AND claimed_by = ?",
                (now, self._redact(reason), outbox_id, claimer)).rowcount
            if changed == 1:
                db.execute("UPDATE outbox_attempts SET outcome = 'interrupted', ended_at = ?, error = ? "
                           "WHERE outbox_id = ? AND outcome IS NULL", (now, self._redact(reason), outbox_id))
        return changed == 1

    def retry_failed_notifications(self) -> int:
        """Queue every given-up notification again, now; return how many. Failed tests are not queued:
        a test is for the person who asked for it then, not a message to deliver later."""
        now = time.time()
        with self._write() as db:
            return int(db.execute("UPDATE outbox SET state = 'pending', next_attempt_at = ? "
                                  "WHERE state = 'failed' AND kind <> 'test'", (now,)).rowcount)

    def drop_notification(self, outbox_id: int, *, by: str | None = None) -> Notification | None:
        """Remove a notification not delivered (pending, or given up) from the outbox, with its attempts,
        and record it as an event; return it as it was (None if there is no such notification). A
        notification being sent, or sent, is returned unchanged: the caller says why it stays."""
        with self._write() as db:
            row = db.execute("SELECT * FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
            if row is None:
                return None
            notification = Notification.from_row(row)
            if notification.state not in ("pending", "failed"):
                return notification
            db.execute("DELETE FROM outbox_attempts WHERE outbox_id = ?", (outbox_id,))
            db.execute("DELETE FROM outbox WHERE id = ?", (outbox_id,))
            self._event(db, None, "notification.dropped",
                        f"notification {outbox_id} ({notification.kind}) to {notification.channel} dropped"
                        + (f" by {by}" if by else "") + " before it was delivered",
                        payload={"outbox_id": outbox_id, "channel": notification.channel, "kind": notification.kind,
                                 "fingerprint": notification.fingerprint, "last_error": notification.last_error})
        return notification

    def notifications(self, *, states: Sequence[str] = NOTIFICATION_STATES, limit: int = 100,
                      channel: str | None = None) -> list[Notification]:
        """Outbox rows in some states, newest first."""
        marks = ", ".join("?" * len(states))
        extra = " AND channel = ?" if channel else ""
        rows = self._query(f"SELECT * FROM outbox WHERE state IN ({marks}){extra} ORDER BY id DESC LIMIT ?",
                           (*states, *([channel] if channel else []), limit))
        return [Notification.from_row(row) for row in rows]

    def notifications_of_run(self, run_id: str) -> list[Notification]:
        """The notifications a run raised, oldest first: about the alerts it fired (or fired again) and
        those its success resolved (the outbox keeps the alert as it was when it was written)."""
        rows = self._query(
            """SELECT outbox.* FROM outbox, runs WHERE runs.run_id = ? AND outbox.created_at >= runs.created_at
                 AND (json_extract(outbox.payload_json, '$.alert.run_id') = runs.run_id
                      OR json_extract(outbox.payload_json, '$.alert.annotations.resolved_by_run') = runs.run_id)
               ORDER BY outbox.id""", (run_id,))
        return [Notification.from_row(row) for row in rows]

    def get_notification(self, outbox_id: int) -> Notification | None:
        """One outbox row."""
        rows = self._query("SELECT * FROM outbox WHERE id = ?", (outbox_id,))
        return Notification.from_row(rows[0]) if rows else None

    def notification_attempts(self, outbox_id: int) -> list[tuple[int, str, float, float | None, str | None, str | None]]:
        """(attempt, claimer, started, ended, outcome, error) of every delivery attempt of a notification."""
        rows = self._query("SELECT attempt, claimed_by, started_at, ended_at, outcome, error FROM outbox_attempts "
                           "WHERE outbox_id = ? ORDER BY attempt", (outbox_id,))
        return [tuple(row) for row in rows]

    def next_notification_due(self, channels: Sequence[str] | None = None) -> float | None:
        """When the earliest pending notification (of ``channels``) is due, or a claim lease ends;
        None if nothing waits. A read: senders ask it before taking the write lock."""
        only = f" AND channel IN ({', '.join('?' * len(channels))})" if channels else ""
        rows = self._query("SELECT MIN(CASE state WHEN 'pending' THEN next_attempt_at ELSE lease_until END) "
                           f"FROM outbox WHERE state IN ('pending', 'sending'){only}", tuple(channels or ()))
        return rows[0][0] if rows else None

    def firing_counts(self) -> list[tuple[str, str, int]]:
        """(rule, severity, alerts firing)."""
        return [(row[0], row[1], int(row[2])) for row in self._query(
            "SELECT rule, severity, COUNT(*) FROM alerts WHERE status = 'firing' GROUP BY 1, 2 ORDER BY 1, 2")]

    def notification_counts(self) -> list[tuple[str, str, int]]:
        """(channel, state, notifications), from the running totals the outbox's triggers keep."""
        return [(row[0], row[1], int(row[2])) for row in self._query(
            "SELECT channel, state, notifications FROM notification_totals WHERE notifications > 0 ORDER BY 1, 2")]

    def sending_claims(self) -> list[tuple[int, str]]:
        """(outbox id, claimer) of every notification being sent now."""
        return [(row[0], row[1]) for row in self._query("SELECT id, claimed_by FROM outbox WHERE state = 'sending'")]
