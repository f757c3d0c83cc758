"""The ledger's schema as an ordered list of forward migrations.

``PRAGMA user_version`` holds how many have been applied. Never edit a released migration;
append a new one. Before migrating an existing ledger, ``Ledger`` copies it aside.
"""

from __future__ import annotations

RUN_STATUSES = ("queued", "running", "succeeded", "failed", "canceled", "abandoned")
STEP_STATUSES = ("pending", "running", "succeeded", "failed", "skipped", "canceled")

_V1 = f"""
CREATE TABLE runs (
    run_id           TEXT PRIMARY KEY,
    pipeline         TEXT NOT NULL,
    trigger_kind     TEXT NOT NULL,
    trigger_key      TEXT NOT NULL UNIQUE,
    status           TEXT NOT NULL CHECK (status IN {RUN_STATUSES}),
    params_json      TEXT NOT NULL DEFAULT '{{}}',
    options_json     TEXT NOT NULL DEFAULT '{{}}',
    requested_by     TEXT,
    parent_run_id    TEXT REFERENCES runs(run_id),
    created_at       REAL NOT NULL,
    started_at       REAL,
    ended_at         REAL,
    heartbeat_at     REAL,
    owner_pid        INTEGER,
    owner_host       TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    error            TEXT,
    version          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_by_created ON runs (created_at);
CREATE INDEX runs_by_pipeline ON runs (pipeline, created_at);
CREATE INDEX runs_by_status ON runs (status, created_at);

CREATE TABLE steps (
    run_id     TEXT NOT NULL REFERENCES runs(run_id),
    step       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    output     TEXT,
    position   INTEGER NOT NULL,
    status     TEXT NOT NULL CHECK (status IN {STEP_STATUSES}),
    attempts   INTEGER NOT NULL DEFAULT 0,
    started_at REAL,
    ended_at   REAL,
    rows_out   INTEGER,
    error      TEXT,
    PRIMARY KEY (run_id, step)
);

CREATE TABLE events (
    event_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id       TEXT,
    ts           REAL NOT NULL,
    kind         TEXT NOT NULL,
    step         TEXT,
    level        TEXT NOT NULL DEFAULT 'info',
    message      TEXT NOT NULL,
    payload_json TEXT
);
CREATE INDEX events_by_run ON events (run_id, event_id);
CREATE TRIGGER events_are_append_only BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'ledger events are append-only');
END;

CREATE TABLE check_results (
    run_id       TEXT NOT NULL REFERENCES runs(run_id),
    step         TEXT NOT NULL,
    check_name   TEXT NOT NULL,
    severity     TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('passed', 'failed', 'warned')),
    failing_rows INTEGER NOT NULL,
    message      TEXT,
    sample_json  TEXT,
    ts           REAL NOT NULL
);
CREATE INDEX check_results_by_run ON check_results (run_id, step);
"""

# The daemon: its lease (who runs it, where its HTTP endpoint is, what it reports), the slots
# its schedules have handled, and since when each schedule is in force (never catch up before).
_V_DAEMON = """
CREATE TABLE daemon_lease (
    name         TEXT PRIMARY KEY,
    holder_id    TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    host         TEXT NOT NULL,
    started_at   REAL NOT NULL,
    heartbeat_at REAL NOT NULL,
    stopped_at   REAL,
    http_address TEXT,
    report_json  TEXT
);

CREATE TABLE schedule_ticks (
    pipeline TEXT NOT NULL,
    slot     REAL NOT NULL,
    status   TEXT NOT NULL CHECK (status IN ('submitted', 'skipped', 'missed', 'failed')),
    run_id   TEXT REFERENCES runs(run_id),
    reason   TEXT,
    ts       REAL NOT NULL,
    PRIMARY KEY (pipeline, slot)
);

CREATE TABLE schedule_state (
    pipeline TEXT PRIMARY KEY,
    spec     TEXT NOT NULL,
    since    REAL NOT NULL
);
"""

# Security: the hash-chained, append-only audit log and run lineage (docs/security.md).
_SECURITY = """
CREATE TABLE audit_log (
    entry_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    ts           REAL NOT NULL,
    actor        TEXT NOT NULL,
    source       TEXT NOT NULL,
    action       TEXT NOT NULL,
    target       TEXT,
    outcome      TEXT NOT NULL,
    details_json TEXT,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE
);
CREATE INDEX audit_log_by_ts ON audit_log (ts);
CREATE TABLE audit_gate (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    open INTEGER NOT NULL DEFAULT 0
);
INSERT INTO audit_gate (id, open) VALUES (1, 0);
CREATE TRIGGER audit_log_refuses_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_refuses_delete BEFORE DELETE ON audit_log
WHEN (SELECT open FROM audit_gate WHERE id = 1) = 0
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only; entries leave only through retention (flowdeck prune)');
END;

CREATE TABLE lineage (
    run_id          TEXT NOT NULL REFERENCES runs(run_id),
    step            TEXT NOT NULL,
    output          TEXT NOT NULL,
    output_kind     TEXT NOT NULL CHECK (output_kind IN ('table', 'file')),
    output_checksum TEXT,
    input           TEXT NOT NULL,
    input_kind      TEXT NOT NULL CHECK (input_kind IN ('table', 'file')),
    input_checksum  TEXT,
    ts              REAL NOT NULL
);
CREATE INDEX lineage_by_output ON lineage (output, ts);
CREATE INDEX lineage_by_input ON lineage (input, ts);
CREATE INDEX lineage_by_run ON lineage (run_id);
"""

# Acknowledged alerts: which alert (by its stable id) someone has seen, who and when.
_V_ALERT_ACKNOWLEDGEMENTS = """
CREATE TABLE alert_acknowledgements (
    alert_id        TEXT PRIMARY KEY,
    acknowledged_by TEXT,
    acknowledged_at REAL NOT NULL
);
CREATE INDEX check_results_by_status ON check_results (status, ts);
"""


MIGRATIONS: list[str] = [_V1, _V_DAEMON, _SECURITY, _V_ALERT_ACKNOWLEDGEMENTS]
SCHEMA_VERSION = len(MIGRATIONS)
