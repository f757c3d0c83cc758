"""The run ledger: SQLite in WAL mode with ``synchronous=FULL``; the only writer of its tables.

Every state change and the event that records it are written in one ``BEGIN IMMEDIATE``
transaction. Runs are claimed with a compare-and-set on their status, and a second request
with the same trigger key creates nothing.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from flowdeck.state.alerting import AlertHook, AlertLedger, Transition
from flowdeck.state.audit import (
    GENESIS,
    PRUNED,
    AuditAnchor,
    AuditRecord,
    AuditVerification,
    anchor_mac,
    entry_hash,
    segment_problems,
    verify_rows,
)
from flowdeck.state.filters import Where
from flowdeck.state.following import FollowingLedger
from flowdeck.state.lineage_outbox import LineageOutboxLedger
from flowdeck.state.monitoring import PER_RUN_MEASURES, MonitoringLedger
from flowdeck.state.records import (
    AttemptRecord,
    CheckRecord,
    CommitRecord,
    DaemonLease,
    EventRecord,
    ExportRecord,
    InputFile,
    Interval,
    LineageRecord,
    PromoteRun,
    RunOwner,
    RunRecord,
    ScheduleTick,
    StepRecord,
    StepVersion,
    FROM_PROD,
    UNCHANGED,
    Watermark,
)
from flowdeck.state.schema import MIGRATIONS, RUN_DURATION_BOUNDS, SCHEMA_VERSION, rebuild_rollups
from flowdeck.state.space import SpaceReserve, full_disk_message, is_disk_full
from flowdeck.state.status import RUN_FINISHED, RunStatus, StepStatus

Redactor = Callable[[str], str]
# what a prune counts, and the tables whose rows go with their run
_PRUNE_COUNTS = ("runs", "steps", "step_attempts", "check_results", "exports", "events", "lineage", "audit")
_PRUNED_WITH_RUNS = ("check_results", "step_attempts", "exports", "steps", "events", "lineage")
BUSY_TIMEOUT_SECONDS = 30.0
DAMAGED = ("SQLITE_NOTADB", "SQLITE_CORRUPT")  # what SQLite says of a file that is not (or no longer) a database
log = logging.getLogger("flowdeck.audit")


class LedgerError(Exception):
    """The ledger file cannot be opened or is newer than this flowdeck; ``damaged`` when it is not a
    readable SQLite database (its content is lost unless restored from a backup)."""

    def __init__(self, message: str, *, damaged: bool = False) -> None:
        super().__init__(message)
        self.damaged = damaged


class LedgerFull(LedgerError):
    """The disk holding the ledger is full: the message names the folder, what is free and what is needed."""


class LedgerReadOnly(LedgerError):
    """This user may read the ledger but not write it (a viewer, in the file layout of docs/security.md)."""


def stored_schema_version(path: Path) -> int | None:
    """The schema version of the ledger file at ``path``, read without opening it for writing or migrating it.

    ``None`` when there is no ledger yet; ``LedgerError`` when the file is not a readable ledger.
    """
    if not Path(path).exists():
        return None
    shm = Path(path).with_name(Path(path).name + "-shm")
    # a reader who cannot create the -shm (a viewer) reads the file as it is once no writer has it open
    fixed = "&immutable=1" if not shm.exists() and not os.access(Path(path).parent, os.W_OK) else ""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro{fixed}", uri=True)) as db:
            return int(db.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.Error as error:
        if is_disk_full(error, Path(path).parent):
            raise LedgerFull(full_disk_message(Path(path).parent, "reading the ledger")) from None
        raise LedgerError(f"cannot read the ledger {path}: {error}") from None


def _use_wal(db: sqlite3.Connection, path: Path) -> None:
    """Switch the ledger to WAL (a no-op once it is). Processes opening a new ledger at the same
    moment race for that switch, and SQLite answers "locked" at once instead of waiting; so try
    again, for as long as any other write would wait."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error):
                raise  # the caller says what it means (a full disk is not a damaged ledger)
            if time.monotonic() > deadline:
                raise LedgerError(f"cannot open the ledger {path}: another process kept it locked for "
                                  f"{BUSY_TIMEOUT_SECONDS:g} s; try again when it is done") from None
            time.sleep(0.01)


def new_run_id(now: float | None = None) -> str:
    """A sortable, readable run id: UTC time of creation and 6 random hex digits."""
    stamp = datetime.fromtimestamp(now or time.time(), tz=timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(3)}"


class Ledger(MonitoringLedger, AlertLedger, LineageOutboxLedger, FollowingLedger):
    """A connection to one ledger file, safe to share between threads of one process.

    Alert rules plug in as a hook (``set_alert_hook``) called inside the transactions of
    ``finish_run``, ``mark_abandoned``, ``record_check`` and ``record_tick``, so an alert and
    its notifications commit together with the transition that raised them.
    """

    def __init__(self, path: Path, *, redact: Redactor | None = None, alert_hook: AlertHook | None = None,
                 audit_key: bytes | None = None) -> None:
        self.path = Path(path)
        self._redact: Redactor = redact or (lambda text: text)
        self._alert_hook = alert_hook
        self._audit_key = audit_key
        self._audit_problems: list[str] = []  # why the chain could not be anchored last time (logged once)
        self._lock = threading.RLock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as error:
            if is_disk_full(error, self.path.parent):
                raise LedgerFull(full_disk_message(self.path.parent, "opening the ledger")) from None
            raise LedgerError(f"cannot open the ledger {self.path}: {error}") from None
        self._db.row_factory = sqlite3.Row
        try:
            _use_wal(self._db, self.path)
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as error:  # not a database, or a damaged one: nothing was written
            self._db.close()
            if self._open_for_reading_only(error):
                return
            if getattr(error, "sqlite_errorname", "").startswith(DAMAGED):
                raise LedgerError(f"the ledger {self.path} is damaged: SQLite says \"{error}\"", damaged=True) from None
            if is_disk_full(error, self.path.parent):
                raise LedgerFull(full_disk_message(self.path.parent, "opening the ledger")) from None
            raise LedgerError(f"cannot open the ledger {self.path}: {error}") from None
        self._reserve = SpaceReserve(self.path.parent)
        self._reserve.keep()

    def _open_for_reading_only(self, error: sqlite3.DatabaseError) -> bool:
        """Open the ledger for reading when this user may only read it (a viewer) and no writer has it open.

        SQLite reads a WAL database through its -shm file, which a reader who cannot write the
        folder cannot create once the last writer has closed (and removed it). Then every change
        is in the ledger file itself, read as it is (``immutable``); writes fail (``LedgerReadOnly``).
        """
        name = getattr(error, "sqlite_errorname", "") or ""
        shm = self.path.with_name(self.path.name + "-shm")
        if not name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN")) or shm.exists() or \
                os.access(self.path.parent, os.W_OK) or not os.access(self.path, os.R_OK):
            return False
        self._db = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True, isolation_level=None,
                                   check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        if self.schema_version != SCHEMA_VERSION:  # only a writer migrates: say what the version check says
            self._db.close()
            return False
        self._reserve = SpaceReserve(self.path.parent)
        return True

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def backup_to(self, path: Path) -> None:
        """Write a consistent copy of the ledger to ``path`` with SQLite's backup API (others may go on writing)."""
        with self._lock, closing(sqlite3.connect(path)) as target:
            self._db.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it

    def set_redactor(self, redact: Redactor) -> None:
        """Mask secret values in every text written from now on."""
        self._redact = redact

    @property
    def holds_audit_key(self) -> bool:
        """Whether this process seals the audit chain (it was given the audit key)."""
        return self._audit_key is not None

    @property
    def schema_version(self) -> int:
        """How many migrations have been applied."""
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        with self._lock:
            current = self.schema_version
            if current > SCHEMA_VERSION:
                raise LedgerError(
                    f"the ledger {self.path} has schema version {current}, newer than this flowdeck knows "
                    f"({SCHEMA_VERSION}); upgrade flowdeck"
                )
            if current == SCHEMA_VERSION:
                return
            if current > 0:
                backup = self.path.with_name(f"{self.path.name}.v{current}.bak")
                self._db.execute("PRAGMA wal_checkpoint(FULL)")
                shutil.copy2(self.path, backup)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self.schema_version < SCHEMA_VERSION:  # another process may have migrated meanwhile
                    for index in range(self.schema_version, SCHEMA_VERSION):
                        for statement in _statements(MIGRATIONS[index]):
                            self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken immediately so read-then-write cannot race; ``LedgerFull`` when
        the disk is full (the transaction rolled back, nothing half-written)."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    if self._db.in_transaction:  # SQLite has already rolled back after some errors (a full disk)
                        self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as error:
                if getattr(error, "sqlite_errorname", "").startswith("SQLITE_READONLY"):
                    raise self._read_only() from None
                if not is_disk_full(error, self.path.parent):
                    raise
                if self._db.in_transaction:
                    try:
                        self._db.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                raise LedgerFull(full_disk_message(self.path.parent, "writing the ledger")) from None

    def require_writable(self) -> None:
        """Refuse, before anything changes, when this user cannot write the ledger: an action done then could
        not be audited after it (``LedgerReadOnly``)."""
        files = [self.path, *(self.path.with_name(self.path.name + suffix) for suffix in ("-wal", "-shm"))]
        if any(path.exists() and not os.access(path, os.W_OK) for path in files) or \
                not os.access(self.path.parent, os.W_OK | os.X_OK):
            raise self._read_only()

    def _read_only(self) -> LedgerReadOnly:
        return LedgerReadOnly(f"this user cannot write the ledger {self.path}: nothing was changed "
                              "(the runtime folder and its files must be writable by the group of admins and "
                              "operators; docs/security.md, \"File permissions\")")

    def _event(
        self,
        db: sqlite3.Connection,
        run_id: str | None,
        kind: str,
        message: str,
        *,
        step: str | None = None,
        level: str = "info",
        payload: dict[str, Any] | None = None,
        ts: float | None = None,
    ) -> int:
        payload_json = self._redact(json.dumps(payload, default=str)) if payload else None
        cursor = db.execute(
            "INSERT INTO events (run_id, ts, kind, step, level, message, payload_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run_id, ts or time.time(), kind, step, level, self._redact(message), payload_json),
        )
        return int(cursor.lastrowid or 0)

    # -- runs ----------------------------------------------------------------------------------

    def create_run(
        self,
        pipeline: str,
        *,
        trigger_kind: str,
        trigger_key: str | None = None,
        params: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        requested_by: str | None = None,
        parent_run_id: str | None = None,
        owner: RunOwner | None = None,
        environment: str = "prod",
    ) -> tuple[RunRecord, bool]:
        """Queue a run (in ``environment``); with a trigger key already used, return that run and ``False``.

        With ``owner`` the new run is claimed for that process in the same transaction (it runs
        where it was asked for, `flowdeck run` in the foreground): no daemon can take it meanwhile.
        """
        now = time.time()
        with self._write() as db:
            run_id = new_run_id(now)
            while db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone():  # same second, same random
                run_id = new_run_id(now)
            key = trigger_key or f"manual:{run_id}"
            existing = db.execute("SELECT * FROM runs WHERE trigger_key = ?", (key,)).fetchone()
            if existing is not None:
                return RunRecord.from_row(existing), False
            # prod is the column's default: a prod run is written as it was before environments
            named = ", environment" if environment != "prod" else ""
            db.execute(
                f"""INSERT INTO runs (run_id, pipeline, trigger_kind, trigger_key, status, params_json, options_json,
                                      requested_by, parent_run_id, created_at{named})
                    VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?{", ?" if named else ""})""",
                (
                    run_id,
                    pipeline,
                    trigger_kind,
                    key,
                    json.dumps(params or {}, default=str, sort_keys=True),
                    json.dumps(options or {}, default=str, sort_keys=True),
                    requested_by,
                    parent_run_id,
                    now,
                    *((environment,) if named else ()),
                ),
            )
            by = f" by {requested_by}" if requested_by else ""
            self._event(db, run_id, "run.queued", f"run queued ({trigger_kind}{by})",
                        payload={"trigger_key": key, "environment": environment}, ts=now)
            if owner is not None:
                self._claim(db, run_id, owner, now)
            row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return RunRecord.from_row(row), True

    def claim_run(
        self, run_id: str, *, pid: int | None = None, host: str | None = None, process_started: str | None = None
    ) -> bool:
        """Move a queued run to running for this process; ``False`` if someone else has it.

        ``process_started`` identifies the owner process beyond its pid (its start time), so
        that a later process given the same pid is not mistaken for the owner.
        """
        owner = RunOwner(pid or os.getpid(), host or socket.gethostname(), process_started)
        with self._write() as db:
            return self._claim(db, run_id, owner, time.time())

    def _claim(self, db: sqlite3.Connection, run_id: str, owner: RunOwner, now: float) -> bool:
        changed = db.execute(
            """UPDATE runs SET status = 'running', started_at = ?, heartbeat_at = ?, owner_pid = ?, owner_host = ?,
                               owner_started = ?, version = version + 1
               WHERE run_id = ? AND status = 'queued' AND cancel_requested = 0""",
            (now, now, owner.pid, owner.host, owner.process_started, run_id),
        ).rowcount
        if changed != 1:
            return False
        self._event(db, run_id, "run.started", f"run started (pid {owner.pid} on {owner.host})",
                    payload={"pid": owner.pid, "host": owner.host}, ts=now)
        return True

    def heartbeat(self, run_id: str) -> bool:
        """Record that the run's owner is alive; ``False`` if the run is no longer running."""
        with self._write() as db:
            return db.execute(
                "UPDATE runs SET heartbeat_at = ? WHERE run_id = ? AND status = 'running'", (time.time(), run_id)
            ).rowcount == 1

    def finish_run(self, run_id: str, status: RunStatus, error: str | None = None) -> bool:
        """Move a running run to a final state; ``False`` if it was not running.

        On a full disk the space reserve is given back and the end recorded with it, so a run that
        failed for want of space says so instead of being found abandoned later with no cause.
        """
        if status not in RUN_FINISHED:
            raise ValueError(f"not a final status: {status}")
        try:
            return self._finish_run(run_id, status, error)
        except LedgerFull:
            if not self._reserve.release():
                raise
            return self._finish_run(run_id, status, error)

    def _finish_run(self, run_id: str, status: RunStatus, error: str | None) -> bool:
        now = time.time()
        with self._write() as db:
            changed = db.execute(
                """UPDATE runs SET status = ?, ended_at = ?, error = ?, version = version + 1
                   WHERE run_id = ? AND status = 'running'""",
                (status, now, self._redact(error) if error else None, run_id),
            ).rowcount
            if changed != 1:
                return False
            if status != RunStatus.SUCCEEDED:  # steps that never finished did not run to the end
                db.execute(
                    "UPDATE steps SET status = 'canceled', ended_at = ? WHERE run_id = ? AND status IN ('pending', 'running')",
                    (now, run_id),
                )
                db.execute(
                    "UPDATE step_attempts SET status = 'canceled', ended_at = ? WHERE run_id = ? AND status = 'running'",
                    (now, run_id),
                )
            message = f"run {status}" + (f": {error}" if error else "")
            self._event(db, run_id, f"run.{status}", message, level="info" if status == RunStatus.SUCCEEDED else "error",
                        ts=now)
            self._run_transition(db, run_id, now)
        return True

    def _run_transition(self, db: sqlite3.Connection, run_id: str, now: float) -> None:
        row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        self._transition(db, Transition(kind="run.finished", ts=now, run=RunRecord.from_row(row)))

    def request_cancel(self, run_id: str, requested_by: str | None = None) -> RunRecord:
        """Ask a run to stop. A queued run is canceled at once; a running one at its next check."""
        now = time.time()
        by = f" by {requested_by}" if requested_by else ""
        with self._write() as db:
            row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise KeyError(run_id)
            if row["status"] == RunStatus.QUEUED:
                db.execute(
                    "UPDATE runs SET status = 'canceled', cancel_requested = 1, ended_at = ?, version = version + 1 WHERE run_id = ?",
                    (now, run_id),
                )
                self._event(db, run_id, "run.canceled", f"run canceled before it started{by}", ts=now)
            elif row["status"] == RunStatus.RUNNING and not row["cancel_requested"]:
                db.execute("UPDATE runs SET cancel_requested = 1, version = version + 1 WHERE run_id = ?", (run_id,))
                self._event(db, run_id, "run.cancel_requested", f"cancel requested{by}", level="warning", ts=now)
            row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return RunRecord.from_row(row)

    def mark_abandoned(self, run_id: str, reason: str) -> bool:
        """Record that a running run's owner died; ``False`` if it was not running."""
        now = time.time()
        with self._write() as db:
            changed = db.execute(
                """UPDATE runs SET status = 'abandoned', ended_at = ?, error = ?, version = version + 1
                   WHERE run_id = ? AND status = 'running'""",
                (now, self._redact(reason), run_id),
            ).rowcount
            if changed != 1:
                return False
            db.execute(
                "UPDATE steps SET status = 'failed', ended_at = ?, error = ? WHERE run_id = ? AND status = 'running'",
                (now, "the run's process died", run_id),
            )
            db.execute(
                "UPDATE step_attempts SET status = 'failed', ended_at = ?, error = ? WHERE run_id = ? AND status = 'running'",
                (now, "the run's process died", run_id),
            )
            db.execute(
                "UPDATE steps SET status = 'canceled', error = ? WHERE run_id = ? AND status = 'pending'",
                ("not started: the run's process died", run_id),
            )
            self._event(db, run_id, "run.abandoned", f"run abandoned: {reason}", level="error", ts=now)
            self._run_transition(db, run_id, now)
        return True

    # -- steps ---------------------------------------------------------------------------------

    def add_steps(self, run_id: str, steps: Sequence[tuple[str, str, str | None]]) -> None:
        """Record the steps a run will execute, in plan order, as pending."""
        with self._write() as db:
            db.executemany(
                "INSERT OR IGNORE INTO steps (run_id, step, kind, output, position, status) VALUES (?, ?, ?, ?, ?, 'pending')",
                [(run_id, name, kind, output, position) for position, (name, kind, output) in enumerate(steps)],
            )

    def step_started(self, run_id: str, step: str, *, engine: str | None = None, plan: str | None = None) -> int:
        """Mark a step running on ``engine`` (duckdb, spark): one more attempt, recorded on its own;
        return the attempt number. ``plan`` says why the step runs (its fingerprint's verdict)."""
        now = time.time()
        with self._write() as db:
            db.execute(
                "UPDATE steps SET status = 'running', started_at = coalesce(started_at, ?), ended_at = NULL, error = NULL, "
                "attempts = attempts + 1, engine = coalesce(?, engine) WHERE run_id = ? AND step = ?",
                (now, engine, run_id, step),
            )
            row = db.execute("SELECT attempts FROM steps WHERE run_id = ? AND step = ?", (run_id, step)).fetchone()
            attempt = int(row["attempts"]) if row else 1
            db.execute(
                "INSERT OR REPLACE INTO step_attempts (run_id, step, attempt, status, started_at) VALUES (?, ?, ?, 'running', ?)",
                (run_id, step, attempt, now),
            )
            again = f" (attempt {attempt})" if attempt > 1 else ""
            on = f" on {engine}" if engine else ""
            self._event(db, run_id, "step.started", f"{step} started{on}{again}", step=step,
                        payload={"attempt": attempt, **({"engine": engine} if engine else {}),
                                 **({"plan": plan} if plan else {})}, ts=now)
        return attempt

    def step_retrying(self, run_id: str, step: str, attempt: int, error: str, retry_in: float) -> None:
        """Record that an attempt failed transiently and the step will be tried again in ``retry_in`` seconds."""
        now = time.time()
        with self._write() as db:
            db.execute(
                "UPDATE step_attempts SET status = 'failed', ended_at = ?, transient = 1, retry_in = ?, error = ? "
                "WHERE run_id = ? AND step = ? AND attempt = ?",
                (now, retry_in, self._redact(error), run_id, step, attempt),
            )
            self._event(db, run_id, "step.retrying",
                        f"{step} attempt {attempt} failed ({error}); retrying in {retry_in:g}s",
                        step=step, level="warning", payload={"attempt": attempt, "retry_in": retry_in}, ts=now)

    def step_finished(
        self,
        run_id: str,
        step: str,
        status: StepStatus,
        *,
        rows: int | None = None,
        error: str | None = None,
        payload: dict[str, Any] | None = None,
        transient: bool | None = None,
        commit: CommitRecord | None = None,
        export: ExportRecord | None = None,
        version: StepVersion | None = None,
    ) -> None:
        """Mark a step succeeded, failed, skipped or canceled, with its row count or error.

        A publish's commit marker (and the incremental state it carried), a load step's export
        and the fingerprint of what the step was run from (``version``) are recorded in the same
        transaction as the step's success.
        """
        now = time.time()
        with self._write() as db:
            db.execute(
                "UPDATE steps SET status = ?, ended_at = ?, rows_out = ?, error = ?, fingerprint = ? "
                "WHERE run_id = ? AND step = ?",
                (status, now, rows, self._redact(error) if error else None,
                 version.fingerprint if version is not None and status == StepStatus.SUCCEEDED else None, run_id, step),
            )
            if version is not None and status == StepStatus.SUCCEEDED:
                self._insert_version(db, version, now)
            if status in (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.CANCELED):  # a skipped step never started
                db.execute(
                    "UPDATE step_attempts SET status = ?, ended_at = ?, transient = ?, error = ? "
                    "WHERE run_id = ? AND step = ? AND status = 'running'",
                    (status, now, None if transient is None else int(transient),
                     self._redact(error) if error else None, run_id, step),
                )
            if commit is not None:
                self._insert_commit(db, commit, now)
            if export is not None:
                db.execute(
                    "INSERT INTO exports (run_id, step, path, format, rows, bytes, sha256, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (export.run_id, export.step, export.path, export.format, export.rows, export.bytes, export.sha256,
                     export.ts),
                )
            detail = f" ({rows:,} rows)" if rows is not None and status == StepStatus.SUCCEEDED else ""
            detail += f": {error}" if error else ""
            detail += f"; {payload['note']}" if payload and payload.get("note") else ""
            level = {StepStatus.FAILED: "error", StepStatus.CANCELED: "warning"}.get(status, "info")
            self._event(db, run_id, f"step.{status}", f"{step} {status}{detail}", step=step, level=level,
                        payload=payload, ts=now)

    def step_reused(self, run_id: str, step: str, *, from_run: str, rows: int | None, reason: str | None = None,
                    version: StepVersion | None = None) -> None:
        """Mark a step done without running it: run ``from_run`` already published its output.

        ``reason`` is ``unchanged`` when nothing the step depends on changed since (its fingerprint,
        ``version``, is the current output's); None when a resume takes what its parent did.
        """
        now = time.time()
        unchanged = reason in (UNCHANGED, FROM_PROD)
        with self._write() as db:
            # an unchanged step neither started nor wrote rows: no start time (so no duration joins the step's
            # timings, which "slower than usual" compares with) and no rows out (none were processed)
            db.execute(
                "UPDATE steps SET status = 'succeeded', started_at = ?, ended_at = ?, rows_out = ?, reused_from = ?, "
                "reuse_reason = ?, fingerprint = coalesce(?, fingerprint) WHERE run_id = ? AND step = ?",
                (None if unchanged else now, now, None if unchanged else rows, from_run, reason,
                 version.fingerprint if version else None, run_id, step),
            )
            if version is not None:
                self._insert_version(db, version, now)
            message = (f"{step} unchanged: nothing it depends on changed since run {from_run}" if reason == UNCHANGED
                       else f"{step} unchanged since prod's version (run {from_run}): read from prod, not built here"
                       if reason == FROM_PROD else f"{step} reused: run {from_run} already completed it")
            self._event(db, run_id, "step.reused", message, step=step,
                        payload={"from_run": from_run, "rows": rows,
                                 **({"reason": reason, "plan": f"unchanged: its output is run {from_run}'s, made "
                                                               "from the same inputs"} if reason else {})}, ts=now)

    @staticmethod
    def _insert_version(db: sqlite3.Connection, version: StepVersion, now: float) -> None:
        """Remember what a fingerprint was made of (once per fingerprint)."""
        db.execute(
            "INSERT OR IGNORE INTO step_versions (fingerprint, pipeline, step, detail_json, recorded_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (version.fingerprint, version.pipeline, version.step, json.dumps(version.detail, sort_keys=True), now),
        )

    # -- commits, reconciliation and incremental state ------------------------------------------

    def _insert_commit(self, db: sqlite3.Connection, commit: CommitRecord, now: float) -> bool:
        """Insert a commit and its state rows unless the ledger has it already; whether it was new."""
        inserted = db.execute(
            """INSERT OR IGNORE INTO commits (warehouse_id, seq, run_id, step, output, kind, data_run_id, base_run_id,
                                              rows, checksum, committed_at, recorded_at, reconciled, requested_by,
                                              fingerprint)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (commit.warehouse_id, commit.seq, commit.run_id, commit.step, commit.output, commit.kind,
             commit.data_run_id, commit.base_run_id, commit.rows, commit.checksum, commit.committed_at, now,
             int(commit.reconciled), commit.requested_by, commit.version.fingerprint if commit.version else None),
        ).rowcount == 1
        if not inserted:
            return False
        if commit.version is not None:
            self._insert_version(db, commit.version, now)
        key = (commit.warehouse_id, commit.seq, commit.run_id, commit.output)
        db.executemany(
            "INSERT INTO input_files (warehouse_id, seq, run_id, output, path, size, mtime_ns, sha256) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(*key, f.path, f.size, f.mtime_ns, f.sha256) for f in commit.files],
        )
        if commit.watermark is not None:
            mark = commit.watermark
            db.execute(
                "INSERT INTO watermarks (warehouse_id, seq, run_id, output, column_name, value, value_type) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*key, mark.column, mark.value, mark.value_type),
            )
        db.executemany(
            "INSERT INTO intervals (warehouse_id, seq, run_id, output, column_name, range_start, range_end) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(*key, interval.column, interval.start, interval.end) for interval in commit.intervals],
        )
        return True

    def reconcile_position(self, warehouse_id: str) -> int:
        """The last marker sequence number reconciliation has read from this warehouse (0: none)."""
        rows = self._query("SELECT last_seq FROM reconciled_markers WHERE warehouse_id = ?", (warehouse_id,))
        return int(rows[0][0]) if rows else 0

    def last_commit_seq(self, warehouse_id: str) -> int:
        """The number of the last commit marker of this warehouse the ledger has recorded (0: none)."""
        rows = self._query("SELECT coalesce(max(seq), 0) FROM commits WHERE warehouse_id = ?", (warehouse_id,))
        return int(rows[0][0]) if rows else 0

    def reconcile(self, warehouse_id: str, markers: Sequence[CommitRecord]) -> list[CommitRecord]:
        """Record every marker the ledger lacks (a crash came between the warehouse commit and
        the ledger write); return those. Marks the publishing step succeeded, with an event.
        """
        now = time.time()
        recovered: list[CommitRecord] = []
        with self._write() as db:
            for marker in sorted(markers, key=lambda m: m.seq):
                if not self._insert_commit(db, marker, now):
                    continue
                recovered.append(marker)
                if marker.kind == "rollback":
                    self._event(db, None, "table.rolled_back",
                                f"table {marker.output} rolled back to run {marker.data_run_id} (recovered from the "
                                f"warehouse's commit marker)", payload={"output": marker.output,
                                                                        "to_run": marker.data_run_id}, ts=now)
                    continue
                changed = db.execute(
                    "UPDATE steps SET status = 'succeeded', rows_out = ?, error = NULL, ended_at = coalesce(ended_at, ?), "
                    "fingerprint = coalesce(?, fingerprint) WHERE run_id = ? AND step = ? AND status != 'succeeded'",
                    (marker.rows, now, marker.version.fingerprint if marker.version else None, marker.run_id,
                     marker.step),
                ).rowcount
                if changed:
                    self._event(db, marker.run_id, "step.reconciled",
                                f"{marker.step} had published {marker.output} (commit {marker.seq}) before its process "
                                f"stopped; recorded from the warehouse's commit marker", step=marker.step,
                                level="warning", payload={"seq": marker.seq, "rows": marker.rows}, ts=now)
            last = max([m.seq for m in markers], default=0)
            db.execute(
                "INSERT INTO reconciled_markers (warehouse_id, last_seq) VALUES (?, ?) "
                "ON CONFLICT (warehouse_id) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)",
                (warehouse_id, last),
            )
        return recovered

    def record_rollback(self, commit: CommitRecord, previous_run: str | None) -> None:
        """Record a rollback of a table (its commit marker) and its event."""
        now = time.time()
        by = f" by {commit.requested_by}" if commit.requested_by else ""
        with self._write() as db:
            self._insert_commit(db, commit, now)
            self._event(db, None, "table.rolled_back",
                        f"table {commit.output} rolled back from run {previous_run} to run {commit.data_run_id}{by}",
                        payload={"output": commit.output, "to_run": commit.data_run_id, "from_run": previous_run,
                                 "rollback_id": commit.run_id, "requested_by": commit.requested_by}, ts=now)

    def record_promote(self, commits: Sequence[CommitRecord], runs: Sequence[PromoteRun], *, environment: str,
                       promote_id: str, requested_by: str | None, started_at: float) -> None:
        """Record a promote of an environment's tables to prod in one transaction: per pipeline a run
        (trigger ``promote``) whose steps are the tables it published, succeeded, with the commit markers
        the promote wrote in prod's warehouse and an ``env.promoted`` event. The runs are never queued, so
        nothing can claim them; ending as succeeded with commits, they count as publishes (``after:``)."""
        now = time.time()
        by = f" by {requested_by}" if requested_by else ""
        host = socket.gethostname()
        with self._write() as db:
            for run in runs:
                db.execute(
                    """INSERT INTO runs (run_id, pipeline, trigger_kind, trigger_key, status, options_json, requested_by,
                                         created_at, started_at, heartbeat_at, owner_pid, owner_host)
                       VALUES (?, ?, 'promote', ?, 'running', ?, ?, ?, ?, ?, ?, ?)""",
                    (run.run_id, run.pipeline, f"promote:{environment}:{promote_id}:{run.pipeline}",
                     json.dumps({"promote": environment, "promote_id": promote_id}, sort_keys=True), requested_by,
                     started_at, started_at, now, os.getpid(), host),
                )
                db.executemany(
                    "INSERT INTO steps (run_id, step, kind, output, position, status, attempts, started_at, ended_at, "
                    "rows_out, engine, fingerprint) VALUES (?, ?, ?, ?, ?, 'succeeded', 1, ?, ?, ?, 'duckdb', ?)",
                    [(run.run_id, step.step, step.kind, step.output, position, started_at, now, step.rows,
                      step.fingerprint) for position, step in enumerate(run.steps)],
                )
            for commit in commits:
                self._insert_commit(db, commit, now)
            for run in runs:
                tables = ", ".join(step.output for step in run.steps)
                self._event(db, run.run_id, "env.promoted", f"environment {environment} promoted to prod{by}: {tables}",
                            payload={"environment": environment, "promote_id": promote_id, "requested_by": requested_by,
                                     "outputs": [step.output for step in run.steps]}, ts=now)
                db.execute("UPDATE runs SET status = 'succeeded', ended_at = ?, version = version + 1 WHERE run_id = ?",
                           (now, run.run_id))
                self._event(db, run.run_id, "run.succeeded", "run succeeded", ts=now)

    def current_input_files(self, warehouse_id: str, output: str) -> list[InputFile]:
        """The input files in the table's current data (its data chain), each path once, the newest record of it."""
        chain = self.data_chain(warehouse_id, output)
        if not chain:
            return []
        marks = ", ".join("?" * len(chain))
        rows = self._query(
            f"SELECT path, size, mtime_ns, sha256 FROM input_files WHERE warehouse_id = ? AND output = ? "
            f"AND run_id IN ({marks}) ORDER BY seq", (warehouse_id, output, *chain),
        )
        return list({row["path"]: InputFile(row["path"], row["size"], row["mtime_ns"], row["sha256"])
                     for row in rows}.values())

    def commits_of_output(self, warehouse_id: str, output: str) -> list[CommitRecord]:
        """Every commit of one table in one warehouse, oldest first."""
        rows = self._query("SELECT * FROM commits WHERE warehouse_id = ? AND output = ? ORDER BY seq",
                           (warehouse_id, output))
        return [CommitRecord.from_row(row) for row in rows]

    def commits_of_run(self, run_id: str) -> list[CommitRecord]:
        """The commits a run made, oldest first."""
        rows = self._query("SELECT * FROM commits WHERE run_id = ? ORDER BY seq", (run_id,))
        return [CommitRecord.from_row(row) for row in rows]

    def data_chain(self, warehouse_id: str, output: str) -> list[str]:
        """The runs whose batches make up the table's current data, newest first.

        An incremental publish adds its batch to the data of ``base_run_id``; a full publish
        starts a new chain; a rollback makes an older run's data current again.
        """
        commits = self.commits_of_output(warehouse_id, output)
        if not commits:
            return []
        base_of = {c.run_id: c.base_run_id for c in commits if c.kind == "publish"}
        chain: list[str] = []
        current: str | None = commits[-1].data_run_id
        while current is not None and current not in chain:
            chain.append(current)
            current = base_of.get(current)
        return chain

    def processed_files(self, warehouse_id: str, output: str) -> dict[str, str]:
        """Path → sha256 of the input files in the table's current data."""
        chain = self.data_chain(warehouse_id, output)
        if not chain:
            return {}
        marks = ", ".join("?" * len(chain))
        rows = self._query(
            f"SELECT path, sha256 FROM input_files WHERE warehouse_id = ? AND output = ? AND run_id IN ({marks}) "
            "ORDER BY seq", (warehouse_id, output, *chain),
        )
        return {row["path"]: row["sha256"] for row in rows}

    def watermark(self, warehouse_id: str, output: str, column: str) -> Watermark | None:
        """The newest watermark of ``column`` in the table's current data."""
        chain = self.data_chain(warehouse_id, output)
        if not chain:
            return None
        marks = ", ".join("?" * len(chain))
        rows = self._query(
            f"SELECT column_name, value, value_type FROM watermarks WHERE warehouse_id = ? AND output = ? "
            f"AND column_name = ? AND run_id IN ({marks}) ORDER BY seq DESC LIMIT 1",
            (warehouse_id, output, column, *chain),
        )
        return Watermark(rows[0]["column_name"], rows[0]["value"], rows[0]["value_type"]) if rows else None

    def processed_intervals(self, warehouse_id: str, output: str, column: str) -> list[Interval]:
        """The intervals of ``column`` in the table's current data, by start."""
        chain = self.data_chain(warehouse_id, output)
        if not chain:
            return []
        marks = ", ".join("?" * len(chain))
        rows = self._query(
            f"SELECT DISTINCT column_name, range_start, range_end FROM intervals WHERE warehouse_id = ? AND output = ? "
            f"AND column_name = ? AND run_id IN ({marks}) ORDER BY range_start",
            (warehouse_id, output, column, *chain),
        )
        return [Interval(row["column_name"], row["range_start"], row["range_end"]) for row in rows]

    def publish_count(self, warehouse_id: str, output: str) -> int:
        """How many times the table has been published in this warehouse (rollbacks not counted)."""
        rows = self._query("SELECT count(*) FROM commits WHERE warehouse_id = ? AND output = ? AND kind = 'publish'",
                           (warehouse_id, output))
        return int(rows[0][0])

    def publishing_engines(self) -> set[str]:
        """The engines (duckdb, spark) that ever published a table recorded here."""
        rows = self._query("SELECT DISTINCT coalesce(s.engine, 'duckdb') FROM commits c "
                           "JOIN steps s ON s.run_id = c.run_id AND s.step = c.step")
        return {row[0] for row in rows}

    def current_commits(self, outputs: Sequence[str]) -> dict[str, tuple[str, CommitRecord]]:
        """The newest commit of each of ``outputs`` over every warehouse, with the engine that warehouse
        belongs to (duckdb, spark: the engine of the steps that published into it). A table published by
        one engine and then by the other has its current version on the second; the first holds a stale one.
        Tables never published (or only into a warehouse no recorded step names) are left out."""
        if not outputs:
            return {}
        marks = ", ".join("?" for _ in outputs)
        rows = self._query(
            f"""WITH engines AS (
                    SELECT c.warehouse_id, max(coalesce(s.engine, 'duckdb')) AS engine
                    FROM commits c JOIN steps s ON s.run_id = c.run_id AND s.step = c.step
                    GROUP BY c.warehouse_id)
                SELECT c.*, e.engine FROM commits c JOIN engines e ON e.warehouse_id = c.warehouse_id
                WHERE c.output IN ({marks}) ORDER BY c.committed_at, c.seq""",
            tuple(outputs),
        )
        return {row["output"]: (row["engine"], CommitRecord.from_row(row)) for row in rows}  # the newest wins

    def known_sha256(self, path: str, size: int, mtime_ns: int) -> str | None:
        """The content hash recorded for a file with this path, size and modification time, if any."""
        rows = self._query("SELECT sha256 FROM file_checksums WHERE path = ? AND size = ? AND mtime_ns = ?",
                           (path, size, mtime_ns))
        if not rows:
            rows = self._query(
                "SELECT sha256 FROM input_files WHERE path = ? AND size = ? AND mtime_ns = ? ORDER BY rowid DESC LIMIT 1",
                (path, size, mtime_ns),
            )
        return rows[0]["sha256"] if rows else None

    def remember_sha256(self, path: str, size: int, mtime_ns: int, sha256: str) -> None:
        """Remember a file's content hash for its current size and modification time (one row a path)."""
        with self._write() as db:
            db.execute(
                "INSERT INTO file_checksums (path, size, mtime_ns, sha256, checked_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, "
                "sha256 = excluded.sha256, checked_at = excluded.checked_at",
                (path, size, mtime_ns, sha256, time.time()),
            )

    # -- fingerprints: the versions a run compares its steps with --------------------------------

    def step_version(self, fingerprint: str) -> StepVersion | None:
        """What a recorded fingerprint was made of."""
        rows = self._query("SELECT * FROM step_versions WHERE fingerprint = ?", (fingerprint,))
        if not rows:
            return None
        return StepVersion(fingerprint=rows[0]["fingerprint"], pipeline=rows[0]["pipeline"], step=rows[0]["step"],
                           detail=json.loads(rows[0]["detail_json"]))

    def current_output_commit(self, output: str, warehouse_id: str | None = None) -> CommitRecord | None:
        """The publish whose data ``output`` holds now (after a rollback: the publish it restored), in
        ``warehouse_id`` (or the warehouse that committed it last), with the fingerprint it carried."""
        where, args = ("warehouse_id = ? AND output = ?", (warehouse_id, output)) if warehouse_id else \
            ("output = ?", (output,))
        rows = self._query(f"SELECT * FROM commits WHERE {where} ORDER BY committed_at DESC, seq DESC LIMIT 1", args)
        if not rows:
            return None
        newest = CommitRecord.from_row(rows[0])
        if newest.kind == "rollback":
            found = self._query("SELECT * FROM commits WHERE warehouse_id = ? AND output = ? AND run_id = ? "
                                "AND kind = 'publish' ORDER BY seq DESC LIMIT 1",
                                (newest.warehouse_id, output, newest.data_run_id))
            if not found:
                return None
            newest = CommitRecord.from_row(found[0])
        return newest

    def warehouse_of(self, environment: str) -> str | None:
        """The id of the warehouse ``environment``'s runs publish into now (that of its newest publish), if any."""
        rows = self._query("SELECT commits.warehouse_id FROM commits JOIN runs USING (run_id) WHERE runs.environment = ? "
                           "AND commits.kind = 'publish' ORDER BY commits.recorded_at DESC, commits.seq DESC LIMIT 1",
                           (environment,))
        return str(rows[0]["warehouse_id"]) if rows else None

    def environments(self) -> list[tuple[str, int, RunRecord | None]]:
        """Every environment runs were queued in, prod first, each with how many runs it had and its newest run."""
        rows = self._query("SELECT environment, count(*) AS runs, max(created_at) AS newest FROM runs "
                           "GROUP BY environment ORDER BY environment != 'prod', environment")
        found: list[tuple[str, int, RunRecord | None]] = []
        for row in rows:
            newest = self._query("SELECT * FROM runs WHERE environment = ? ORDER BY created_at DESC LIMIT 1",
                                 (row["environment"],))
            found.append((str(row["environment"]), int(row["runs"]), RunRecord.from_row(newest[0]) if newest else None))
        return found

    def environment_output_commit(self, output: str, environment: str, warehouse_id: str | None,
                                  prod_warehouse_id: str | None) -> tuple[CommitRecord | None, bool]:
        """The version ``output`` holds in a development environment, and whether it is prod's: the
        environment's own publish (in ``warehouse_id``), unless a run in it read the output from prod since,
        else prod's current one (in ``prod_warehouse_id``)."""
        own = self.current_output_commit(output, warehouse_id) if warehouse_id else None
        if own is not None:
            switched = self._query(
                "SELECT 1 FROM steps JOIN runs USING (run_id) WHERE steps.output = ? AND steps.reuse_reason = ? "
                "AND runs.environment = ? AND steps.ended_at > ? LIMIT 1",
                (output, FROM_PROD, environment, own.committed_at))
            if not switched:
                return own, False
        prod = self.current_output_commit(output, prod_warehouse_id) if prod_warehouse_id else None
        return prod, prod is not None

    def last_step_run(self, pipeline: str, step: str, environment: str = "prod") -> StepRecord | None:
        """The newest succeeded (or unchanged) execution of a pipeline's step that recorded a fingerprint, in
        ``environment`` or prod (a development environment may take prod's result; prod, only its own)."""
        rows = self._query(
            "SELECT steps.* FROM steps JOIN runs USING (run_id) WHERE steps.step = ? AND runs.pipeline = ? "
            "AND runs.environment IN (?, 'prod') "
            "AND steps.fingerprint IS NOT NULL AND steps.status = 'succeeded' ORDER BY steps.ended_at DESC LIMIT 1",
            (step, pipeline, environment),
        )
        return StepRecord.from_row(rows[0]) if rows else None

    def files_of_run(self, run_id: str) -> list[tuple[str, InputFile]]:
        """(output, file) of every input file a run's commits recorded."""
        rows = self._query("SELECT * FROM input_files WHERE run_id = ? ORDER BY seq, path", (run_id,))
        return [(row["output"], InputFile(row["path"], row["size"], row["mtime_ns"], row["sha256"])) for row in rows]

    def exports_of(self, run_id: str, step: str | None = None) -> list[ExportRecord]:
        """Files a run's load steps wrote (optionally of one step), oldest first."""
        if step is None:
            rows = self._query("SELECT * FROM exports WHERE run_id = ? ORDER BY ts", (run_id,))
        else:
            rows = self._query("SELECT * FROM exports WHERE run_id = ? AND step = ? ORDER BY ts", (run_id, step))
        return [ExportRecord.from_row(row) for row in rows]

    def attempts_of(self, run_id: str) -> list[AttemptRecord]:
        """Every attempt of every step of a run, in the order they started."""
        rows = self._query("SELECT * FROM step_attempts WHERE run_id = ? ORDER BY started_at, attempt", (run_id,))
        return [AttemptRecord.from_row(row) for row in rows]

    def children_of(self, run_id: str) -> list[RunRecord]:
        """Runs that resumed this one."""
        rows = self._query("SELECT * FROM runs WHERE parent_run_id = ? ORDER BY created_at", (run_id,))
        return [RunRecord.from_row(row) for row in rows]

    # -- checks and log lines --------------------------------------------------------------------

    def record_check(
        self,
        run_id: str,
        step: str,
        check_name: str,
        *,
        severity: str,
        status: str,
        failing_rows: int,
        message: str | None = None,
        sample: list[dict[str, Any]] | None = None,
    ) -> None:
        """Store a check's outcome (with a few failing rows) and its event."""
        now = time.time()
        sample_json = self._redact(json.dumps(sample, default=str)) if sample else None
        with self._write() as db:
            db.execute(
                """INSERT INTO check_results (run_id, step, check_name, severity, status, failing_rows, message, sample_json, ts)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (run_id, step, check_name, severity, status, failing_rows,
                 self._redact(message) if message else None, sample_json, now),
            )
            level = {"failed": "error", "warned": "warning"}.get(status, "info")
            text = message or f"check {check_name} {status}"
            self._event(db, run_id, f"check.{status}", text, step=step, level=level,
                        payload={"check": check_name, "failing_rows": failing_rows, "severity": severity}, ts=now)
            check = CheckRecord(run_id=run_id, step=step, check_name=check_name, severity=severity, status=status,
                                failing_rows=failing_rows, message=self._redact(message) if message else None,
                                sample=[], ts=now)
            self._transition(db, Transition(kind="check.recorded", ts=now, check=check))

    def log(self, run_id: str | None, message: str, *, step: str | None = None, level: str = "info",
            kind: str = "log", payload: dict[str, Any] | None = None) -> int:
        """Append one event that changes no state (a log line, progress)."""
        with self._write() as db:
            return self._event(db, run_id, kind, message, step=step, level=level, payload=payload)

    # -- the daemon ----------------------------------------------------------------------------

    def take_daemon_lease(self, holder_id: str, *, pid: int, host: str, http_address: str | None) -> None:
        """Record that this daemon now runs the project (the caller holds the OS lock)."""
        now = time.time()
        with self._write() as db:
            db.execute(
                """INSERT INTO daemon_lease (name, holder_id, pid, host, started_at, heartbeat_at, http_address)
                   VALUES ('daemon', ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (name) DO UPDATE SET holder_id = excluded.holder_id, pid = excluded.pid,
                       host = excluded.host, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
                       http_address = excluded.http_address, stopped_at = NULL, report_json = NULL""",
                (holder_id, pid, host, now, now, http_address),
            )
            where = f", serving on http://{http_address}" if http_address else ""
            self._event(db, None, "daemon.started", f"daemon started (pid {pid} on {host}{where})",
                        payload={"pid": pid, "host": host, "http": http_address}, ts=now)

    def renew_daemon_lease(self, holder_id: str, report: dict[str, Any]) -> bool:
        """Heartbeat the lease with the daemon's current report; ``False`` if another daemon took it."""
        with self._write() as db:
            return db.execute(
                "UPDATE daemon_lease SET heartbeat_at = ?, report_json = ? WHERE name = 'daemon' AND holder_id = ?",
                (time.time(), self._redact(json.dumps(report, default=str)), holder_id),
            ).rowcount == 1

    def release_daemon_lease(self, holder_id: str, report: dict[str, Any]) -> None:
        """Record that the daemon stopped cleanly."""
        now = time.time()
        with self._write() as db:
            changed = db.execute(
                "UPDATE daemon_lease SET heartbeat_at = ?, stopped_at = ?, report_json = ? "
                "WHERE name = 'daemon' AND holder_id = ?",
                (now, now, self._redact(json.dumps(report, default=str)), holder_id),
            ).rowcount
            if changed:
                self._event(db, None, "daemon.stopped", "daemon stopped", ts=now)

    def daemon_lease(self) -> DaemonLease | None:
        """The lease of the running (or last) daemon, if any daemon ever ran."""
        rows = self._query("SELECT * FROM daemon_lease WHERE name = 'daemon'")
        return DaemonLease.from_row(rows[0]) if rows else None

    def schedule_since(self, pipeline: str, key: str, description: str) -> float:
        """Since when the schedule identified by ``key`` is the pipeline's; a new or changed one starts
        now (recorded in an event that gives the schedule's ``description``)."""
        now = time.time()
        with self._write() as db:
            row = db.execute("SELECT key, since FROM schedule_state WHERE pipeline = ?", (pipeline,)).fetchone()
            if row is not None and row["key"] == key:
                return float(row["since"])
            db.execute(
                "INSERT INTO schedule_state (pipeline, key, since) VALUES (?, ?, ?) "
                "ON CONFLICT (pipeline) DO UPDATE SET key = excluded.key, since = excluded.since",
                (pipeline, key, now),
            )
            self._event(db, None, "schedule.changed", f"schedule of {pipeline} is now {description}",
                        payload={"pipeline": pipeline, "spec": description, "key": key}, ts=now)
        return now

    def last_tick_slot(self, pipeline: str) -> float | None:
        """The latest slot of the pipeline's schedule that was handled (fired, skipped or missed)."""
        rows = self._query("SELECT MAX(slot) FROM schedule_ticks WHERE pipeline = ?", (pipeline,))
        slot: float | None = rows[0][0]
        return slot

    def record_tick(self, pipeline: str, slot: float, status: str, *, run_id: str | None = None,
                    reason: str | None = None) -> bool:
        """Record what became of one slot; ``False`` if that slot was already recorded."""
        now = time.time()
        with self._write() as db:
            inserted = db.execute(
                "INSERT OR IGNORE INTO schedule_ticks (pipeline, slot, status, run_id, reason, ts) VALUES (?, ?, ?, ?, ?, ?)",
                (pipeline, slot, status, run_id, self._redact(reason) if reason else None, now),
            ).rowcount == 1
            if inserted and status != "submitted":
                level = "error" if status == "failed" else "warning"
                self._event(db, run_id, f"schedule.{status}", f"schedule of {pipeline}: slot {status}"
                            + (f": {reason}" if reason else ""), level=level,
                            payload={"pipeline": pipeline, "slot": slot}, ts=now)
            if inserted:
                tick = ScheduleTick(pipeline=pipeline, slot=slot, status=status, run_id=run_id,  # type: ignore[arg-type]
                                    reason=self._redact(reason) if reason else None, ts=now)
                self._transition(db, Transition(kind="tick.recorded", ts=now, tick=tick))
        return inserted

    def ticks(self, pipeline: str, limit: int = 20) -> list[ScheduleTick]:
        """The pipeline's latest schedule slots, newest first."""
        rows = self._query("SELECT * FROM schedule_ticks WHERE pipeline = ? ORDER BY slot DESC LIMIT ?",
                           (pipeline, limit))
        return [ScheduleTick.from_row(row) for row in rows]

    def run_by_trigger_key(self, trigger_key: str) -> RunRecord | None:
        """The run started for a trigger key (a slot, a file's content, a resumed run), if any."""
        rows = self._query("SELECT * FROM runs WHERE trigger_key = ?", (trigger_key,))
        return RunRecord.from_row(rows[0]) if rows else None

    # -- aggregates (for /metrics) ---------------------------------------------------------------

    def run_counts(self) -> list[tuple[str, str, RunStatus, int]]:
        """(pipeline, trigger kind, status, number of runs) the ledger holds now (counted: for backups)."""
        rows = self._query("SELECT pipeline, trigger_kind, status, COUNT(*) FROM runs GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")
        return [(row[0], row[1], RunStatus(row[2]), int(row[3])) for row in rows]

    def run_totals(self) -> list[tuple[str, str, RunStatus, int]]:
        """(pipeline, trigger kind, status, runs) from the running totals: runs queued or running now, and
        runs that ever ended in each final status (pruning does not lower these)."""
        rows = self._query("SELECT pipeline, trigger_kind, status, runs FROM run_totals ORDER BY 1, 2, 3")
        return [(row[0], row[1], RunStatus(row[2]), int(row[3])) for row in rows]

    def run_duration_buckets(self) -> list[tuple[str, RunStatus, list[int], int, float]]:
        """Finished runs' durations per (pipeline, status), from the running totals: cumulative counts at
        ``RUN_DURATION_BOUNDS``, count, sum of seconds."""
        rows = self._query("SELECT pipeline, status, le, runs, seconds FROM run_duration_totals ORDER BY 1, 2, 3")
        found: dict[tuple[str, str], tuple[list[int], int, float]] = {}
        for pipeline, status, le, runs, seconds in (tuple(row) for row in rows):
            cumulative, count, total = found.get((pipeline, status), ([0] * len(RUN_DURATION_BOUNDS), 0, 0.0))
            for index, bound in enumerate(RUN_DURATION_BOUNDS):
                if le <= bound:
                    cumulative[index] += int(runs)
            found[(pipeline, status)] = (cumulative, count + int(runs), total + float(seconds))
        return [(pipeline, RunStatus(status), *value) for (pipeline, status), value in sorted(found.items())]

    def environment_run_totals(self) -> list[tuple[str, str, RunStatus, int]]:
        """(environment, pipeline, final status, runs that ever ended so), from the running totals."""
        rows = self._query("SELECT environment, pipeline, status, runs FROM environment_run_totals ORDER BY 1, 2, 3")
        return [(row[0], row[1], RunStatus(row[2]), int(row[3])) for row in rows]

    def last_success_times(self) -> dict[str, float]:
        """When each pipeline's latest successful run ended."""
        rows = self._query("SELECT pipeline, MAX(last_ended_at) FROM run_totals WHERE status = 'succeeded' "
                           "AND last_ended_at IS NOT NULL GROUP BY 1")
        return {row[0]: float(row[1]) for row in rows}

    def rows_processed(self) -> list[tuple[str, str, int]]:
        """(pipeline, step kind, rows written by succeeded steps), from the running totals."""
        rows = self._query("SELECT pipeline, kind, rows FROM step_row_totals ORDER BY 1, 2")
        return [(row[0], row[1], int(row[2])) for row in rows]

    def tick_counts(self) -> list[tuple[str, str, int]]:
        """(pipeline, tick status, number of slots), from the running totals."""
        rows = self._query("SELECT pipeline, status, slots FROM tick_totals ORDER BY 1, 2")
        return [(row[0], row[1], int(row[2])) for row in rows]

    # -- the audit log -------------------------------------------------------------------------

    def append_audit(
        self,
        *,
        actor: str,
        source: str,
        action: str,
        target: str | None = None,
        outcome: str = "ok",
        details: dict[str, Any] | None = None,
    ) -> AuditRecord:
        """Append one entry to the hash-chained audit log."""
        with self._write() as db:
            return self._append_audit(db, actor, source, action, target, outcome, details)

    def _append_audit(
        self, db: sqlite3.Connection, actor: str, source: str, action: str, target: str | None, outcome: str,
        details: dict[str, Any] | None, prev_hash: str | None = None,
    ) -> AuditRecord:
        sequence = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").fetchone()
        entry_id = (int(sequence[0]) if sequence else 0) + 1
        if prev_hash is None:
            last = db.execute("SELECT hash FROM audit_log ORDER BY entry_id DESC LIMIT 1").fetchone()
            prev_hash = last[0] if last else GENESIS
        ts = time.time()
        target = self._redact(target) if target else target
        details_json = self._redact(json.dumps(details, sort_keys=True, default=str)) if details else None
        digest = entry_hash(entry_id, ts, actor, source, action, target, outcome, details_json, prev_hash)
        db.execute(
            """INSERT INTO audit_log (entry_id, ts, actor, source, action, target, outcome, details_json, prev_hash, hash)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (entry_id, ts, actor, source, action, target, outcome, details_json, prev_hash, digest),
        )
        self._anchor(db, allow_pruned=entry_id if action == PRUNED else None)  # a key holder seals what it writes
        row = db.execute("SELECT * FROM audit_log WHERE entry_id = ?", (entry_id,)).fetchone()
        return AuditRecord.from_row(row)

    def _anchor(self, db: sqlite3.Connection, *, allow_pruned: int | None = None) -> AuditAnchor | None:
        """Seal the chain through its head with the audit key, in the caller's transaction.

        Only when the entries since the newest sealed anchor link up and hold no ``audit.pruned``
        entry written without the key: a tampered log is never sealed (the problems are logged
        once and ``audit verify`` reports them). Return the newest anchor (``None`` without the key).
        """
        if self._audit_key is None:
            return None
        head = db.execute("SELECT entry_id, hash FROM audit_log ORDER BY entry_id DESC LIMIT 1").fetchone()
        if head is None:
            return None
        after = self._newest_sealed_anchor(db)
        if after is not None and (after.entry_id, after.hash) == (head[0], head[1]):
            return after
        problems = segment_problems(db, after, allow_pruned=allow_pruned)
        if problems:
            if problems != self._audit_problems:
                log.error("the audit log was tampered with, so it is not anchored: %s; run `flowdeck audit verify`",
                          "; ".join(problems))
            self._audit_problems = problems
            return None
        self._audit_problems = []
        ts = time.time()
        anchor = AuditAnchor(head[0], head[1], ts, anchor_mac(self._audit_key, head[0], head[1], ts))
        db.execute("INSERT INTO audit_anchors (entry_id, hash, ts, mac) VALUES (?, ?, ?, ?)",
                   (anchor.entry_id, anchor.hash, anchor.ts, anchor.mac))
        return anchor

    def _newest_sealed_anchor(self, db: sqlite3.Connection) -> AuditAnchor | None:
        """The newest anchor in the ledger whose seal is this key's (forged ones are skipped)."""
        assert self._audit_key is not None
        for row in db.execute("SELECT entry_id, hash, ts, mac FROM audit_anchors ORDER BY anchor_id DESC LIMIT 50"):
            anchor = AuditAnchor(row[0], row[1], row[2], row[3])
            if anchor.sealed_by(self._audit_key):
                return anchor
        return None

    def anchor_audit(self) -> tuple[AuditAnchor | None, list[str]]:
        """Seal the chain through its head now (the daemon does, for entries written without the key).

        Return the newest anchor and, when the log could not be sealed, why.
        """
        with self._write() as db:
            anchor = self._anchor(db)
        return anchor, list(self._audit_problems)

    def audit_head(self) -> tuple[int, str] | None:
        """The newest entry's id and hash (``None`` for an empty log)."""
        rows = self._query("SELECT entry_id, hash FROM audit_log ORDER BY entry_id DESC LIMIT 1")
        return (int(rows[0][0]), str(rows[0][1])) if rows else None

    def audit_anchored(self) -> bool:
        """Whether any anchor was ever written in this ledger (its chain is kept sealed)."""
        return bool(self._query("SELECT 1 FROM audit_anchors LIMIT 1"))

    def audit_segment_problems(self, after: AuditAnchor | None) -> list[str]:
        """What keeps the entries written since anchor ``after`` from being anchored (see ``segment_problems``)."""
        with self._lock:
            return segment_problems(self._db, after)

    def audit_entries(self, *, limit: int = 100, action: str | None = None, actor: str | None = None,
                      before_id: int | None = None) -> list[AuditRecord]:
        """Audit entries, newest first, filtered by action (prefix) and actor."""
        where = Where()
        if action:
            where.add("action LIKE ?", action + "%")
        if actor:
            where.add("actor = ?", actor)
        if before_id is not None:
            where.add("entry_id < ?", before_id)
        rows = self._query(f"SELECT * FROM audit_log {where.sql()} ORDER BY entry_id DESC LIMIT ?",
                           (*where.args, limit))
        return [AuditRecord.from_row(row) for row in rows]

    def verify_audit(self, outside_anchors: Sequence[AuditAnchor] = (), *,
                     outside: Sequence[str] = ()) -> AuditVerification:
        """Check the whole chain against its anchors in the ledger and ``outside_anchors`` (read from
        ``outside``, e.g. the daemon's anchor file); every changed or removed entry is reported, and
        what cannot be proven is said."""
        rows = self._query("SELECT * FROM audit_log ORDER BY entry_id")
        anchors = [AuditAnchor(row[0], row[1], row[2], row[3])
                   for row in self._query("SELECT entry_id, hash, ts, mac FROM audit_anchors ORDER BY anchor_id")]
        return verify_rows(rows, [*anchors, *outside_anchors], self._audit_key, outside=outside)

    # -- lineage -------------------------------------------------------------------------------

    def record_lineage(
        self,
        run_id: str,
        step: str,
        *,
        output: str,
        output_kind: str,
        output_checksum: str | None,
        inputs: Sequence[tuple[str, str, str | None]],
    ) -> None:
        """Record which inputs, ``(name, kind, checksum)``, fed ``output`` in this run."""
        now = time.time()
        with self._write() as db:
            db.executemany(
                """INSERT INTO lineage (run_id, step, output, output_kind, output_checksum, input, input_kind,
                                        input_checksum, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [(run_id, step, output, output_kind, output_checksum, name, kind, checksum, now)
                 for name, kind, checksum in inputs],
            )

    def lineage_into(self, output: str, *, latest_only: bool = True) -> list[LineageRecord]:
        """What fed ``output``: in its latest run (default), or in every recorded run, newest first."""
        if latest_only:
            rows = self._query(
                """SELECT * FROM lineage WHERE output = ? AND run_id = (
                       SELECT run_id FROM lineage WHERE output = ? ORDER BY ts DESC LIMIT 1) ORDER BY input""",
                (output, output),
            )
        else:
            rows = self._query("SELECT * FROM lineage WHERE output = ? ORDER BY ts DESC, input", (output,))
        return [LineageRecord.from_row(row) for row in rows]

    def lineage_of_run(self, run_id: str) -> list[LineageRecord]:
        """Every input that fed an output in run ``run_id``, by step."""
        rows = self._query("SELECT * FROM lineage WHERE run_id = ? ORDER BY step, output, input", (run_id,))
        return [LineageRecord.from_row(row) for row in rows]

    def lineage_from(self, source: str) -> list[LineageRecord]:
        """Latest recorded edges that read ``source`` (one per output)."""
        rows = self._query(
            """SELECT * FROM lineage AS l WHERE input = ? AND ts = (
                   SELECT max(ts) FROM lineage WHERE input = l.input AND output = l.output) ORDER BY output""",
            (source,),
        )
        return [LineageRecord.from_row(row) for row in rows]

    # -- retention -----------------------------------------------------------------------------

    def prune(
        self,
        *,
        runs_before: float | None,
        events_before: float | None,
        audit_before: float | None,
        lineage_before: float | None,
        dry_run: bool = False,
    ) -> dict[str, int]:
        """Remove what is older than each cutoff (``None`` keeps it); return how many rows of each kind.

        Only finished runs are removed. Audit entries leave through the gate, and an
        ``audit.pruned`` entry records the new anchor of the chain. A dry run counts exactly
        what would go, through the indexes the cutoffs use, and writes nothing: its cost grows
        with what is due, not with the history kept.
        """
        if not dry_run:
            with self._write() as db:
                return self._prune(db, runs_before, events_before, audit_before, lineage_before)
        with self._lock:
            self._db.execute("BEGIN")  # one consistent view; only the temporary selection is written
            try:
                return self._prune_counts(self._db, runs_before, events_before, audit_before, lineage_before)
            finally:
                self._db.execute("ROLLBACK")

    @staticmethod
    def _select_prunable(db: sqlite3.Connection, runs_before: float | None) -> None:
        """Fill the temporary table ``prune_runs`` with the finished runs that ended before the cutoff."""
        db.execute("CREATE TEMP TABLE IF NOT EXISTS prune_runs (run_id TEXT PRIMARY KEY)")
        db.execute("DELETE FROM prune_runs")
        if runs_before is None:
            return
        finished = tuple(sorted(RUN_FINISHED))
        db.execute(  # through runs_by_end: the expression must be written exactly as the index has it
            f"""INSERT INTO prune_runs SELECT run_id FROM runs
                WHERE IFNULL(ended_at, created_at) < ? AND status IN ({", ".join("?" * len(finished))})""",
            (runs_before, *finished),
        )

    def _prune_counts(self, db: sqlite3.Connection, runs_before: float | None, events_before: float | None,
                      audit_before: float | None, lineage_before: float | None) -> dict[str, int]:
        """What ``_prune`` would remove, counted without removing anything."""
        counts = dict.fromkeys(_PRUNE_COUNTS, 0)
        self._select_prunable(db, runs_before)
        counts["runs"] = int(db.execute("SELECT COUNT(*) FROM prune_runs").fetchone()[0])
        if counts["runs"]:
            for table in _PRUNED_WITH_RUNS:
                counts[table] = int(db.execute(
                    f"SELECT COUNT(*) FROM {table} WHERE run_id IN (SELECT run_id FROM prune_runs)").fetchone()[0])
        if events_before is not None:
            counts["events"] += int(db.execute(
                """SELECT COUNT(*) FROM events WHERE ts < ? AND (run_id IS NULL OR (
                       run_id NOT IN (SELECT run_id FROM runs WHERE status IN ('queued', 'running'))
                       AND run_id NOT IN (SELECT run_id FROM prune_runs)))""", (events_before,)).fetchone()[0])
        if lineage_before is not None:
            counts["lineage"] += int(db.execute(
                "SELECT COUNT(*) FROM lineage WHERE ts < ? AND run_id NOT IN (SELECT run_id FROM prune_runs)",
                (lineage_before,)).fetchone()[0])
        if audit_before is not None:
            last = db.execute("SELECT entry_id FROM audit_log WHERE ts < ? ORDER BY entry_id DESC LIMIT 1",
                              (audit_before,)).fetchone()
            if last is not None:
                counts["audit"] = int(db.execute("SELECT COUNT(*) FROM audit_log WHERE entry_id <= ?",
                                                 (last[0],)).fetchone()[0])
        return counts

    def _prune(self, db: sqlite3.Connection, runs_before: float | None, events_before: float | None,
               audit_before: float | None, lineage_before: float | None) -> dict[str, int]:
        counts = dict.fromkeys(_PRUNE_COUNTS, 0)
        self._select_prunable(db, runs_before)
        newest = db.execute("SELECT MAX(created_at) FROM runs WHERE run_id IN (SELECT run_id FROM prune_runs)"
                            ).fetchone()[0]
        if newest is not None:
            # commits and the incremental state they carry stay: they describe data, not runs
            for table in _PRUNED_WITH_RUNS:
                counts[table] += db.execute(f"DELETE FROM {table} WHERE run_id IN (SELECT run_id FROM prune_runs)").rowcount
            for table in PER_RUN_MEASURES:  # a pruned run's measures go with it (not counted apart)
                db.execute(f"DELETE FROM {table} WHERE run_id IN (SELECT run_id FROM prune_runs)")
            # and its OpenLineage events the catalog has (or never will): one still waiting stays to be sent
            db.execute("""DELETE FROM lineage_outbox WHERE state IN ('sent', 'failed')
                              AND run_id IN (SELECT run_id FROM prune_runs)""")
            self._detach_from_pruned_runs(db)
            counts["runs"] = db.execute("DELETE FROM runs WHERE run_id IN (SELECT run_id FROM prune_runs)").rowcount
            # what a fingerprint was made of, once no step left and no published version has it: a plan
            # compares with the current versions (commits) and the latest steps only
            db.execute("""DELETE FROM step_versions
                          WHERE fingerprint NOT IN (SELECT fingerprint FROM steps WHERE fingerprint IS NOT NULL)
                            AND fingerprint NOT IN (SELECT fingerprint FROM commits WHERE fingerprint IS NOT NULL)""")
            # the daily rollups of the days runs left: recounted from the runs those days still hold
            boundary = (int(newest // 86400) + 1) * 86400.0
            for statement in rebuild_rollups():
                db.execute(statement, {"before": boundary})
        if events_before is not None:
            counts["events"] += db.execute(
                """DELETE FROM events WHERE ts < ? AND (run_id IS NULL OR run_id NOT IN (
                       SELECT run_id FROM runs WHERE status IN ('queued', 'running')))""",
                (events_before,),
            ).rowcount
        if lineage_before is not None:
            counts["lineage"] += db.execute("DELETE FROM lineage WHERE ts < ?", (lineage_before,)).rowcount
        if audit_before is not None:
            last = db.execute(
                "SELECT entry_id, hash FROM audit_log WHERE ts < ? ORDER BY entry_id DESC LIMIT 1", (audit_before,)
            ).fetchone()
            if last is not None:
                db.execute("UPDATE audit_gate SET open = 1 WHERE id = 1")
                counts["audit"] = db.execute("DELETE FROM audit_log WHERE entry_id <= ?", (last[0],)).rowcount
                db.execute("UPDATE audit_gate SET open = 0 WHERE id = 1")
                self._append_audit(db, "flowdeck", "retention", PRUNED, "audit_log", "ok",
                                   {"removed": counts["audit"], "through": last[0], "anchor": last[1]},
                                   prev_hash=self._audit_head(db) or last[1])
        return counts

    @staticmethod
    def _detach_from_pruned_runs(db: sqlite3.Connection) -> None:
        """Other rows that point at a pruned run (a parent run, a schedule tick ...) forget it; the rows stay."""
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for reference in db.execute(f"PRAGMA foreign_key_list({table})").fetchall():
                if reference["table"] == "runs" and table not in ("check_results", "steps", "events", "lineage",
                                                                  *PER_RUN_MEASURES):
                    column = reference["from"]
                    db.execute(f"UPDATE {table} SET {column} = NULL "
                               f"WHERE {column} IN (SELECT run_id FROM prune_runs)")

    @staticmethod
    def _audit_head(db: sqlite3.Connection) -> str | None:
        row = db.execute("SELECT hash FROM audit_log ORDER BY entry_id DESC LIMIT 1").fetchone()
        return row[0] if row else None

    # -- reading -------------------------------------------------------------------------------

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def get_run(self, run_id: str) -> RunRecord | None:
        """One run by its exact id."""
        rows = self._query("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        return RunRecord.from_row(rows[0]) if rows else None

    def find_runs(self, prefix: str, limit: int = 5) -> list[RunRecord]:
        """Runs whose id starts with ``prefix`` (for ids typed by hand)."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._query(
            "SELECT * FROM runs WHERE run_id LIKE ? ESCAPE '\\' ORDER BY created_at DESC LIMIT ?", (escaped + "%", limit)
        )
        return [RunRecord.from_row(row) for row in rows]

    def list_runs(
        self,
        *,
        pipeline: str | None = None,
        status: str | None = None,
        text: str | None = None,
        limit: int = 50,
        before: float | None = None,
        environment: str | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first, filtered by pipeline, status (a ``RunStatus``, or a word someone typed: an
        unknown one matches no run), free text (in id, pipeline, error) and environment."""
        where = Where()
        if pipeline:
            where.add("pipeline = ?", pipeline)
        if environment:
            where.add("environment = ?", environment)
        if status:
            where.add("status = ?", status)
        if text:
            where.add("(run_id LIKE ? OR pipeline LIKE ? OR IFNULL(error, '') LIKE ? OR trigger_kind LIKE ?)",
                      *[f"%{text}%"] * 4)
        if before is not None:
            where.add("created_at < ?", before)
        rows = self._query(f"SELECT * FROM runs {where.sql()} ORDER BY created_at DESC LIMIT ?", (*where.args, limit))
        return [RunRecord.from_row(row) for row in rows]

    def runs_in_status(self, *statuses: RunStatus) -> list[RunRecord]:
        """Every run currently in one of ``statuses``, oldest first."""
        marks = ", ".join("?" * len(statuses))
        # by the status index, always: in a big ledger the planner may take scanning every run in creation
        # order for cheaper than sorting the few queued and running ones (it does not know they are few)
        rows = self._query(f"SELECT * FROM runs INDEXED BY runs_by_status WHERE status IN ({marks}) ORDER BY created_at",
                           statuses)
        return [RunRecord.from_row(row) for row in rows]

    def file_runs(self, pipeline: str, sha256s: Sequence[str], *, environment: str) -> dict[str, RunRecord]:
        """The file-triggered run of ``environment`` each of these contents already went into, by sha256: a
        run of one file (``options.sha256``) or a micro-batch (``options.files[].sha256``); contents in none are
        absent. Each environment's trigger takes every file once: prod's run of a file is no run of dev's."""
        found: dict[str, RunRecord] = {}
        wanted = list(dict.fromkeys(sha256s))
        for start in range(0, len(wanted), 500):  # well under SQLite's limit of bound parameters
            chunk = wanted[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self._query(
                f"""SELECT runs.*, json_extract(runs.options_json, '$.sha256') AS member FROM runs
                    WHERE pipeline = ? AND environment = ? AND trigger_kind = 'file' AND member IN ({marks})
                    UNION ALL
                    SELECT runs.*, json_extract(batched.value, '$.sha256') AS member
                    FROM runs, json_each(runs.options_json, '$.files') AS batched
                    WHERE pipeline = ? AND environment = ? AND trigger_kind = 'file' AND member IN ({marks})
                    ORDER BY created_at""",
                (pipeline, environment, *chunk, pipeline, environment, *chunk),
            )
            for row in rows:
                found.setdefault(row["member"], RunRecord.from_row(row))  # the first run that took it
        return found

    def last_run_of(self, pipeline: str) -> RunRecord | None:
        """The newest run of a pipeline."""
        runs = self.list_runs(pipeline=pipeline, limit=1)
        return runs[0] if runs else None

    def steps_of(self, run_id: str) -> list[StepRecord]:
        """A run's steps in plan order."""
        rows = self._query("SELECT * FROM steps WHERE run_id = ? ORDER BY position", (run_id,))
        return [StepRecord.from_row(row) for row in rows]

    def checks_of(self, run_id: str) -> list[CheckRecord]:
        """A run's check outcomes in the order they ran."""
        rows = self._query("SELECT * FROM check_results WHERE run_id = ? ORDER BY ts", (run_id,))
        return [CheckRecord.from_row(row) for row in rows]

    def events(self, *, run_id: str | None = None, after: int = 0, limit: int = 1000,
               step: str | None = None) -> list[EventRecord]:
        """Events after the cursor ``after`` (an event id), oldest first, for one run or all (or one step of a run)."""
        if run_id is not None and step is not None:
            rows = self._query("SELECT * FROM events WHERE run_id = ? AND step = ? AND event_id > ? ORDER BY event_id "
                               "LIMIT ?", (run_id, step, after, limit))
        elif run_id is None:
            rows = self._query("SELECT * FROM events WHERE event_id > ? ORDER BY event_id LIMIT ?", (after, limit))
        else:
            rows = self._query(
                "SELECT * FROM events WHERE run_id = ? AND event_id > ? ORDER BY event_id LIMIT ?", (run_id, after, limit)
            )
        return [EventRecord.from_row(row) for row in rows]

    def change_stamp(self) -> tuple[int, int]:
        """What moves whenever anything is committed to the ledger: by another connection (SQLite's
        ``data_version``) or by this one (its total changes). Two equal stamps: nothing was written between."""
        with self._lock:
            return int(self._db.execute("PRAGMA data_version").fetchone()[0]), self._db.total_changes

    def last_event_id(self) -> int:
        """The id of the newest event (0 when there is none); a cheap "anything new?" probe."""
        rows = self._query("SELECT IFNULL(MAX(event_id), 0) FROM events")
        return int(rows[0][0])


def _statements(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
