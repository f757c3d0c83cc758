"""The ledger's schema as an ordered list of forward migrations.

``PRAGMA user_version`` holds how many have been applied. Never edit a released migration;
append a new one. Before migrating an existing ledger, ``Ledger`` copies it aside.
"""

from __future__ import annotations

# The values the first migration allows, spelled as it was released (a released migration never changes);
# the code uses the enums of state/status.py, which hold the same values (tests/state/test_statuses.py).
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


_V_RERUNS = """
-- pid reuse: the owner process's start time, so a recycled pid is not taken for the owner
ALTER TABLE runs ADD COLUMN owner_started TEXT;
-- a step a resumed run did not execute because an earlier run had already published it
ALTER TABLE steps ADD COLUMN reused_from TEXT;

-- every attempt of every step (retries included), in the order they ran
CREATE TABLE step_attempts (
    run_id     TEXT NOT NULL REFERENCES runs(run_id),
    step       TEXT NOT NULL,
    attempt    INTEGER NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'canceled')),
    started_at REAL NOT NULL,
    ended_at   REAL,
    transient  INTEGER,
    retry_in   REAL,
    error      TEXT,
    PRIMARY KEY (run_id, step, attempt)
);

-- the ledger's copy of the warehouse's commit markers (written after the warehouse commit,
-- or by reconciliation from the markers when that write was lost)
CREATE TABLE commits (
    warehouse_id TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    run_id       TEXT NOT NULL,
    step         TEXT NOT NULL,
    output       TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('publish', 'rollback')),
    data_run_id  TEXT NOT NULL,
    base_run_id  TEXT,
    rows         INTEGER,
    checksum     TEXT NOT NULL,
    committed_at REAL NOT NULL,
    recorded_at  REAL NOT NULL,
    reconciled   INTEGER NOT NULL DEFAULT 0,
    requested_by TEXT,
    PRIMARY KEY (warehouse_id, seq)
);
CREATE INDEX commits_by_output ON commits (warehouse_id, output, seq);
CREATE INDEX commits_by_run ON commits (run_id);

-- how far reconciliation has read each warehouse's markers
CREATE TABLE reconciled_markers (
    warehouse_id TEXT PRIMARY KEY,
    last_seq     INTEGER NOT NULL
);

-- incremental state, committed in the warehouse with the data it describes (see commits)
CREATE TABLE input_files (
    warehouse_id TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    run_id       TEXT NOT NULL,
    output       TEXT NOT NULL,
    path         TEXT NOT NULL,
    size         INTEGER NOT NULL,
    mtime_ns     INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    rows         INTEGER
);
CREATE INDEX input_files_by_output ON input_files (warehouse_id, output, path);
CREATE INDEX input_files_by_path ON input_files (path, size, mtime_ns);

CREATE TABLE watermarks (
    warehouse_id TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    run_id       TEXT NOT NULL,
    output       TEXT NOT NULL,
    column_name  TEXT NOT NULL,
    value        TEXT NOT NULL,
    value_type   TEXT NOT NULL
);
CREATE INDEX watermarks_by_output ON watermarks (warehouse_id, output);

CREATE TABLE intervals (
    warehouse_id TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    run_id       TEXT NOT NULL,
    output       TEXT NOT NULL,
    column_name  TEXT NOT NULL,
    range_start  TEXT NOT NULL,
    range_end    TEXT NOT NULL
);
CREATE INDEX intervals_by_output ON intervals (warehouse_id, output);

-- files written by load steps: complete, renamed into place, with their checksum
CREATE TABLE exports (
    run_id  TEXT NOT NULL REFERENCES runs(run_id),
    step    TEXT NOT NULL,
    path    TEXT NOT NULL,
    format  TEXT NOT NULL,
    rows    INTEGER NOT NULL,
    bytes   INTEGER NOT NULL,
    sha256  TEXT NOT NULL,
    ts      REAL NOT NULL
);
CREATE INDEX exports_by_run ON exports (run_id, step);
CREATE INDEX exports_by_path ON exports (path, ts);
"""

# Monitoring: per-step measures (rows in, bytes in and out, what kind of error) and the run
# process's samples over time (CPU, memory, I/O, and DuckDB's query progress per step),
# written in batches by the run's monitor thread.
_V_MONITORING = """
CREATE TABLE step_metrics (
    run_id     TEXT NOT NULL REFERENCES runs(run_id),
    step       TEXT NOT NULL,
    rows_in    INTEGER,
    bytes_in   INTEGER,
    bytes_out  INTEGER,
    error_kind TEXT,
    PRIMARY KEY (run_id, step)
);

CREATE TABLE resource_samples (
    run_id      TEXT NOT NULL REFERENCES runs(run_id),
    ts          REAL NOT NULL,
    cpu_percent REAL,
    rss_bytes   INTEGER,
    read_bytes  INTEGER,
    write_bytes INTEGER,
    threads     INTEGER
);
CREATE INDEX resource_samples_by_run ON resource_samples (run_id, ts);

CREATE TABLE progress_samples (
    run_id  TEXT NOT NULL REFERENCES runs(run_id),
    step    TEXT NOT NULL,
    ts      REAL NOT NULL,
    percent REAL NOT NULL
);
CREATE INDEX progress_samples_by_run ON progress_samples (run_id, step, ts);
CREATE INDEX runs_by_pipeline_status ON runs (pipeline, status, ended_at);
"""

# Alerting: alert state by fingerprint (one row per alert identity, its current episode), the
# notification log deciding what was already told to which channel (Alertmanager's nflog),
# the outbox the sender drains (rows written in the transaction of the event that caused
# them), every delivery attempt, and silences.
_V_ALERTS = """
DROP TABLE IF EXISTS alert_acknowledgements;  -- the console's first, derived alerts: acknowledgements now live on alerts
CREATE TABLE alerts (
    fingerprint      TEXT PRIMARY KEY,
    rule             TEXT NOT NULL,
    severity         TEXT NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),
    labels_json      TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('firing', 'resolved')),
    summary          TEXT NOT NULL,
    annotations_json TEXT NOT NULL DEFAULT '{}',
    pipeline         TEXT,
    run_id           TEXT,
    starts_at        REAL NOT NULL,
    ends_at          REAL,
    last_seen_at     REAL NOT NULL,
    occurrences      INTEGER NOT NULL DEFAULT 1,
    acknowledged_by  TEXT,
    acknowledged_at  REAL
);
CREATE INDEX alerts_by_status ON alerts (status, last_seen_at);
CREATE INDEX alerts_by_pipeline ON alerts (pipeline, rule, status);

CREATE TABLE alert_notifications (
    fingerprint TEXT NOT NULL REFERENCES alerts(fingerprint),
    channel     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('firing', 'resolved')),
    notified_at REAL NOT NULL,
    PRIMARY KEY (fingerprint, channel)
);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key       TEXT NOT NULL UNIQUE,
    channel         TEXT NOT NULL,
    fingerprint     TEXT,
    kind            TEXT NOT NULL CHECK (kind IN ('firing', 'resolved', 'reminder', 'test')),
    payload_json    TEXT NOT NULL,
    created_at      REAL NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    claimed_by      TEXT,
    lease_until     REAL,
    sent_at         REAL,
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);

CREATE TABLE outbox_attempts (
    outbox_id  INTEGER NOT NULL REFERENCES outbox(id),
    attempt    INTEGER NOT NULL,
    claimed_by TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at   REAL,
    outcome    TEXT CHECK (outcome IN ('sent', 'failed', 'interrupted')),
    error      TEXT,
    PRIMARY KEY (outbox_id, attempt)
);

CREATE TABLE silences (
    silence_id INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline   TEXT NOT NULL,
    starts_at  REAL NOT NULL,
    ends_at    REAL NOT NULL,
    created_by TEXT,
    comment    TEXT
);
CREATE INDEX silences_by_pipeline ON silences (pipeline, ends_at);
"""


# Database connectors: lineage inputs and outputs may be database tables (``connection:table``).
# SQLite cannot alter a CHECK constraint, so the table is rebuilt with its rows and indexes.
_CONNECTORS = """
CREATE TABLE lineage_with_databases (
    run_id          TEXT NOT NULL REFERENCES runs(run_id),
    step            TEXT NOT NULL,
    output          TEXT NOT NULL,
    output_kind     TEXT NOT NULL CHECK (output_kind IN ('table', 'file', 'database')),
    output_checksum TEXT,
    input           TEXT NOT NULL,
    input_kind      TEXT NOT NULL CHECK (input_kind IN ('table', 'file', 'database')),
    input_checksum  TEXT,
    ts              REAL NOT NULL
);
INSERT INTO lineage_with_databases (run_id, step, output, output_kind, output_checksum, input, input_kind,
                                    input_checksum, ts)
    SELECT run_id, step, output, output_kind, output_checksum, input, input_kind, input_checksum, ts FROM lineage;
DROP TABLE lineage;
ALTER TABLE lineage_with_databases RENAME TO lineage;
CREATE INDEX lineage_by_output ON lineage (output, ts);
CREATE INDEX lineage_by_input ON lineage (input, ts);
CREATE INDEX lineage_by_run ON lineage (run_id);
"""

# Which engine (duckdb, spark) ran each step: a column rather than an event payload, so history,
# `show` and the console can read and filter it like any other property of a step.
_STEP_ENGINE = """
ALTER TABLE steps ADD COLUMN engine TEXT;
"""

# A schedule's identity is a stable key (``cron:<time zone>:<expression>``, ``interval:<seconds>``),
# not its description (``cron '0 6 * * *' (Europe/Paris)``, ``every 900s``): rewording a description
# must not restart every schedule. Rows written with descriptions get their keys, so an unchanged
# schedule keeps the moment it came into force (and so its catch-up) across the upgrade.
_SCHEDULE_KEYS = """
ALTER TABLE schedule_state RENAME COLUMN spec TO key;
UPDATE schedule_state
   SET key = 'cron:' || substr(key, instr(key, ''' (') + 3, length(key) - instr(key, ''' (') - 3)
             || ':' || substr(key, 7, instr(key, ''' (') - 7)
 WHERE key LIKE 'cron ''%'' (%)';
UPDATE schedule_state SET key = 'interval:' || substr(key, 7, length(key) - 7)
 WHERE key GLOB 'every [0-9]*s' AND substr(key, 7, length(key) - 7) NOT GLOB '*[^0-9]*';
"""

# Anchors of the audit chain: "the chain through entry E had hash H at time T", sealed with an
# HMAC under the audit key (held by the service user and admins, never by operators), so entries
# removed at either end, or a forged audit.pruned entry, are found by `flowdeck audit verify`.
_AUDIT_ANCHORS = """
CREATE TABLE audit_anchors (
    anchor_id INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id  INTEGER NOT NULL,
    hash      TEXT NOT NULL,
    ts        REAL NOT NULL,
    mac       TEXT NOT NULL
);
CREATE INDEX audit_anchors_by_entry ON audit_anchors (entry_id);
"""

# Running aggregates, kept by triggers in the transaction of every change, so /metrics and
# `flowdeck stats` cost the same with a million runs as with ten. Totals (for /metrics) count
# since the ledger began, like Prometheus counters: pruning does not lower them. Daily rollups
# (for stats, by the UTC day a run was created) follow what the ledger holds: prune rebuilds the
# days it removed runs from. And the indexes retention and its foreign keys need.
RUN_DURATION_BOUNDS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400)  # seconds; +Inf is 9e999
# spelled out, as in the first migration: a released migration never changes (RUN_FINISHED holds the same values)
_FINISHED = "('succeeded', 'failed', 'canceled', 'abandoned')"
_DAY = "CAST({ts} / 86400 AS INTEGER)"
_ERROR_KIND = """IFNULL((SELECT error_kind FROM step_metrics m WHERE m.run_id = {run}.run_id
                           AND m.error_kind IS NOT NULL LIMIT 1),
                          CASE {run}.status WHEN 'abandoned' THEN 'abandoned' ELSE 'run error' END)"""


def _run_added(run: str) -> str:
    """Statements (for a trigger body) counting run ``run`` (NEW) in its current status."""
    day = _DAY.format(ts=f"{run}.created_at")
    return f"""
    INSERT INTO run_totals (pipeline, trigger_kind, status, runs, last_ended_at)
        VALUES ({run}.pipeline, {run}.trigger_kind, {run}.status, 1, {run}.ended_at)
        ON CONFLICT (pipeline, trigger_kind, status) DO UPDATE SET runs = runs + 1,
            last_ended_at = max(coalesce(last_ended_at, excluded.last_ended_at),
                                coalesce(excluded.last_ended_at, last_ended_at));
    INSERT INTO run_duration_totals (pipeline, status, le, runs, seconds)
        SELECT {run}.pipeline, {run}.status,
               IFNULL((SELECT MIN(le) FROM run_duration_bounds WHERE le >= {run}.ended_at - {run}.started_at), 9e999),
               1, {run}.ended_at - {run}.started_at
        WHERE {run}.status IN {_FINISHED} AND {run}.started_at IS NOT NULL AND {run}.ended_at IS NOT NULL
        ON CONFLICT (pipeline, status, le) DO UPDATE SET runs = runs + 1, seconds = seconds + excluded.seconds;
    INSERT INTO run_days (day, pipeline, status, runs) VALUES ({day}, {run}.pipeline, {run}.status, 1)
        ON CONFLICT (day, pipeline, status) DO UPDATE SET runs = runs + 1;
    INSERT INTO error_days (day, pipeline, kind, runs)
        SELECT {day}, {run}.pipeline, {_ERROR_KIND.format(run=run)}, 1 WHERE {run}.status IN ('failed', 'abandoned')
        ON CONFLICT (day, pipeline, kind) DO UPDATE SET runs = runs + 1;"""


def _step_succeeded(step: str) -> str:
    """Statements (for a trigger body) counting step ``step`` (NEW), which just succeeded."""
    return f"""
    INSERT INTO step_row_totals (pipeline, kind, rows)
        SELECT pipeline, {step}.kind, IFNULL({step}.rows_out, 0) FROM runs WHERE run_id = {step}.run_id
        ON CONFLICT (pipeline, kind) DO UPDATE SET rows = rows + excluded.rows;
    INSERT INTO step_days (day, pipeline, step, runs, seconds, max_seconds)
        SELECT {_DAY.format(ts="created_at")}, pipeline, {step}.step, 1, {step}.ended_at - {step}.started_at,
               {step}.ended_at - {step}.started_at
        FROM runs WHERE run_id = {step}.run_id AND {step}.started_at IS NOT NULL AND {step}.ended_at IS NOT NULL
        ON CONFLICT (day, pipeline, step) DO UPDATE SET runs = runs + 1, seconds = seconds + excluded.seconds,
            max_seconds = max(max_seconds, excluded.max_seconds);
    INSERT INTO step_last (pipeline, step, seconds, ended_at)
        SELECT pipeline, {step}.step, {step}.ended_at - {step}.started_at, {step}.ended_at
        FROM runs WHERE run_id = {step}.run_id AND {step}.started_at IS NOT NULL AND {step}.ended_at IS NOT NULL
        ON CONFLICT (pipeline, step) DO UPDATE SET seconds = excluded.seconds, ended_at = excluded.ended_at
        WHERE excluded.ended_at >= ended_at;"""


def rebuild_rollups(*, initial: bool = False) -> list[str]:
    """Statements recounting the daily rollups of the runs created before ``:before`` (the first time:
    of every run). Retention runs them for the days it removed runs from."""
    before = "9e999" if initial else ":before"
    day = f"< CAST({before} / 86400 AS INTEGER)"
    return [
        *([] if initial else [f"DELETE FROM {table} WHERE day {day}" for table in ("run_days", "error_days", "step_days")]),
        f"""INSERT INTO run_days (day, pipeline, status, runs)
            SELECT {_DAY.format(ts="created_at")}, pipeline, status, COUNT(*) FROM runs WHERE created_at < {before}
            GROUP BY 1, 2, 3""",
        f"""INSERT INTO error_days (day, pipeline, kind, runs)
            SELECT {_DAY.format(ts="runs.created_at")}, runs.pipeline, {_ERROR_KIND.format(run="runs")}, COUNT(*)
            FROM runs WHERE runs.created_at < {before} AND runs.status IN ('failed', 'abandoned') GROUP BY 1, 2, 3""",
        f"""INSERT INTO step_days (day, pipeline, step, runs, seconds, max_seconds)
            SELECT {_DAY.format(ts="runs.created_at")}, runs.pipeline, steps.step, COUNT(*),
                   SUM(steps.ended_at - steps.started_at), MAX(steps.ended_at - steps.started_at)
            FROM runs JOIN steps USING (run_id)
            WHERE runs.created_at < {before} AND steps.status = 'succeeded' AND steps.started_at IS NOT NULL
              AND steps.ended_at IS NOT NULL GROUP BY 1, 2, 3""",
    ]


_INITIAL_ROLLUPS = ";\n".join(rebuild_rollups(initial=True))
_AGGREGATES = f"""
CREATE TABLE run_totals (
    pipeline      TEXT NOT NULL,
    trigger_kind  TEXT NOT NULL,
    status        TEXT NOT NULL,
    runs          INTEGER NOT NULL,   -- queued, running: runs in it now; finished: runs that ended in it, ever
    last_ended_at REAL,
    PRIMARY KEY (pipeline, trigger_kind, status)
);
CREATE TABLE run_duration_bounds (le REAL PRIMARY KEY);
INSERT INTO run_duration_bounds (le) VALUES {", ".join(f"({bound})" for bound in RUN_DURATION_BOUNDS)};
CREATE TABLE run_duration_totals (
    pipeline TEXT NOT NULL,
    status   TEXT NOT NULL,
    le       REAL NOT NULL,           -- the bucket a run's duration fell in (not cumulative); 9e999 is +Inf
    runs     INTEGER NOT NULL,
    seconds  REAL NOT NULL,
    PRIMARY KEY (pipeline, status, le)
);
CREATE TABLE step_row_totals (
    pipeline TEXT NOT NULL,
    kind     TEXT NOT NULL,
    rows     INTEGER NOT NULL,
    PRIMARY KEY (pipeline, kind)
);
CREATE TABLE tick_totals (
    pipeline TEXT NOT NULL,
    status   TEXT NOT NULL,
    slots    INTEGER NOT NULL,
    PRIMARY KEY (pipeline, status)
);
CREATE TABLE notification_totals (
    channel       TEXT NOT NULL,
    state         TEXT NOT NULL,
    notifications INTEGER NOT NULL,
    PRIMARY KEY (channel, state)
);
CREATE TABLE run_days (
    day      INTEGER NOT NULL,         -- UTC day of the run's created_at (days since 1970-01-01)
    pipeline TEXT NOT NULL,
    status   TEXT NOT NULL,
    runs     INTEGER NOT NULL,
    PRIMARY KEY (day, pipeline, status)
);
CREATE TABLE error_days (
    day      INTEGER NOT NULL,
    pipeline TEXT NOT NULL,
    kind     TEXT NOT NULL,
    runs     INTEGER NOT NULL,
    PRIMARY KEY (day, pipeline, kind)
);
CREATE TABLE step_days (
    day         INTEGER NOT NULL,      -- UTC day its run was created
    pipeline    TEXT NOT NULL,
    step        TEXT NOT NULL,
    runs        INTEGER NOT NULL,      -- succeeded executions
    seconds     REAL NOT NULL,
    max_seconds REAL NOT NULL,
    PRIMARY KEY (day, pipeline, step)
);
CREATE TABLE step_last (
    pipeline TEXT NOT NULL,
    step     TEXT NOT NULL,
    seconds  REAL NOT NULL,
    ended_at REAL NOT NULL,
    PRIMARY KEY (pipeline, step)
);

CREATE TRIGGER run_inserted_counts AFTER INSERT ON runs
BEGIN{_run_added("NEW")}
END;
CREATE TRIGGER run_status_counts AFTER UPDATE OF status ON runs WHEN OLD.status != NEW.status
BEGIN
    UPDATE run_totals SET runs = runs - 1
        WHERE pipeline = OLD.pipeline AND trigger_kind = OLD.trigger_kind AND status = OLD.status
          AND OLD.status NOT IN {_FINISHED};
    UPDATE run_days SET runs = runs - 1
        WHERE day = {_DAY.format(ts="OLD.created_at")} AND pipeline = OLD.pipeline AND status = OLD.status;
    {_run_added("NEW")}
END;
CREATE TRIGGER step_inserted_counts AFTER INSERT ON steps WHEN NEW.status = 'succeeded'
BEGIN{_step_succeeded("NEW")}
END;
CREATE TRIGGER step_status_counts AFTER UPDATE OF status ON steps
    WHEN NEW.status = 'succeeded' AND OLD.status != 'succeeded'
BEGIN{_step_succeeded("NEW")}
END;
CREATE TRIGGER tick_counts AFTER INSERT ON schedule_ticks
BEGIN
    INSERT INTO tick_totals (pipeline, status, slots) VALUES (NEW.pipeline, NEW.status, 1)
        ON CONFLICT (pipeline, status) DO UPDATE SET slots = slots + 1;
END;
CREATE TRIGGER notification_inserted_counts AFTER INSERT ON outbox
BEGIN
    INSERT INTO notification_totals (channel, state, notifications) VALUES (NEW.channel, NEW.state, 1)
        ON CONFLICT (channel, state) DO UPDATE SET notifications = notifications + 1;
END;
CREATE TRIGGER notification_state_counts AFTER UPDATE OF state ON outbox WHEN OLD.state != NEW.state
BEGIN
    UPDATE notification_totals SET notifications = notifications - 1 WHERE channel = OLD.channel AND state = OLD.state;
    INSERT INTO notification_totals (channel, state, notifications) VALUES (NEW.channel, NEW.state, 1)
        ON CONFLICT (channel, state) DO UPDATE SET notifications = notifications + 1;
END;

-- what the ledger held when this migration ran
INSERT INTO run_totals (pipeline, trigger_kind, status, runs, last_ended_at)
    SELECT pipeline, trigger_kind, status, COUNT(*), MAX(ended_at) FROM runs GROUP BY 1, 2, 3;
INSERT INTO run_duration_totals (pipeline, status, le, runs, seconds)
    SELECT pipeline, status,
           IFNULL((SELECT MIN(le) FROM run_duration_bounds WHERE le >= ended_at - started_at), 9e999) AS bucket,
           COUNT(*), SUM(ended_at - started_at)
    FROM runs WHERE status IN {_FINISHED} AND started_at IS NOT NULL AND ended_at IS NOT NULL GROUP BY 1, 2, 3;
INSERT INTO step_row_totals (pipeline, kind, rows)
    SELECT runs.pipeline, steps.kind, IFNULL(SUM(steps.rows_out), 0) FROM steps JOIN runs USING (run_id)
    WHERE steps.status = 'succeeded' GROUP BY 1, 2;
INSERT INTO tick_totals (pipeline, status, slots) SELECT pipeline, status, COUNT(*) FROM schedule_ticks GROUP BY 1, 2;
INSERT INTO notification_totals (channel, state, notifications) SELECT channel, state, COUNT(*) FROM outbox GROUP BY 1, 2;
{_INITIAL_ROLLUPS};
INSERT INTO step_last (pipeline, step, seconds, ended_at)
    SELECT pipeline, step, seconds, ended_at FROM (
        SELECT runs.pipeline, steps.step, steps.ended_at - steps.started_at AS seconds, steps.ended_at,
               row_number() OVER (PARTITION BY runs.pipeline, steps.step ORDER BY steps.ended_at DESC) AS newest
        FROM steps JOIN runs USING (run_id)
        WHERE steps.status = 'succeeded' AND steps.started_at IS NOT NULL AND steps.ended_at IS NOT NULL)
    WHERE newest = 1;

-- retention: what it selects by, and what its foreign-key checks look up
CREATE INDEX runs_by_end ON runs (IFNULL(ended_at, created_at), status);
CREATE INDEX runs_by_parent ON runs (parent_run_id);
CREATE INDEX schedule_ticks_by_run ON schedule_ticks (run_id);
CREATE INDEX events_by_ts ON events (ts);
CREATE INDEX lineage_by_ts ON lineage (ts);
"""

# The SQL each step ran, statement by statement, as the engine that ran it received it (on Spark
# the transpiled text), for the console's step view and `flowdeck show --step`: a failed step's
# SQL is the first thing an operator wants to read.
_STEP_STATEMENTS = """
CREATE TABLE step_statements (
    run_id  TEXT NOT NULL REFERENCES runs(run_id),
    step    TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    purpose TEXT NOT NULL,
    engine  TEXT NOT NULL,
    sql     TEXT NOT NULL,
    ts      REAL NOT NULL,
    PRIMARY KEY (run_id, step, attempt, seq)
);
"""

# How much a run had spilled to its private temporary folder at each sample (DuckDB writes there what
# does not fit in memory_limit): the folder is removed when the run ends, so only the samples remember
# it, for the performance hints (`flowdeck show`, the console).
_SPILL_SAMPLES = """
ALTER TABLE resource_samples ADD COLUMN temp_bytes INTEGER;
"""

# Plugins' step kinds read from outside the warehouse, files and databases (an HTTP API): such an
# input is `external`. SQLite cannot alter a CHECK constraint, so the table is rebuilt again,
# with every index the table had (retention's lineage_by_ts too).
_EXTERNAL_INPUTS = """
CREATE TABLE lineage_with_external (
    run_id          TEXT NOT NULL REFERENCES runs(run_id),
    step            TEXT NOT NULL,
    output          TEXT NOT NULL,
    output_kind     TEXT NOT NULL CHECK (output_kind IN ('table', 'file', 'database', 'external')),
    output_checksum TEXT,
    input           TEXT NOT NULL,
    input_kind      TEXT NOT NULL CHECK (input_kind IN ('table', 'file', 'database', 'external')),
    input_checksum  TEXT,
    ts              REAL NOT NULL
);
INSERT INTO lineage_with_external (run_id, step, output, output_kind, output_checksum, input, input_kind,
                                   input_checksum, ts)
    SELECT run_id, step, output, output_kind, output_checksum, input, input_kind, input_checksum, ts FROM lineage;
DROP TABLE lineage;
ALTER TABLE lineage_with_external RENAME TO lineage;
CREATE INDEX lineage_by_output ON lineage (output, ts);
CREATE INDEX lineage_by_input ON lineage (input, ts);
CREATE INDEX lineage_by_run ON lineage (run_id);
CREATE INDEX lineage_by_ts ON lineage (ts);
"""

# OpenLineage events waiting for (or given to) the catalog: written when a run or a step changes
# state, sent by whoever delivers the outbox, kept until sent so a catalog that is down loses none.
_LINEAGE_OUTBOX = """
CREATE TABLE lineage_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_key       TEXT NOT NULL UNIQUE,
    run_id          TEXT NOT NULL,
    job             TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload_json    TEXT NOT NULL,
    created_at      REAL NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    claimed_by      TEXT,
    lease_until     REAL,
    sent_at         REAL,
    last_error      TEXT
);
CREATE INDEX lineage_outbox_due ON lineage_outbox (state, next_attempt_at);
CREATE INDEX lineage_outbox_by_run ON lineage_outbox (run_id, id);
"""

# Fingerprints (docs/plans.md): each published version, and each succeeded or unchanged step, carries
# the fingerprint of everything that determined its output; ``step_versions`` keeps, once per
# fingerprint, what it was made of (the normalised SQL, the configuration, the hash of each
# component) so a plan can say which part changed. ``reuse_reason`` tells a step reused because
# nothing changed (``unchanged``) from one a resume took from its parent (NULL). ``file_checksums``
# remembers the sha256 of every file flowdeck has read by its (path, size, modification time), so
# an unchanged file is never read again to learn that it is unchanged.
_FINGERPRINTS = """
ALTER TABLE commits ADD COLUMN fingerprint TEXT;
ALTER TABLE steps ADD COLUMN fingerprint TEXT;
ALTER TABLE steps ADD COLUMN reuse_reason TEXT;
CREATE INDEX steps_by_fingerprint ON steps (step, ended_at) WHERE fingerprint IS NOT NULL;
CREATE TABLE step_versions (
    fingerprint TEXT PRIMARY KEY,
    pipeline    TEXT NOT NULL,
    step        TEXT NOT NULL,
    detail_json TEXT NOT NULL,
    recorded_at REAL NOT NULL
);
CREATE TABLE file_checksums (
    path       TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    mtime_ns   INTEGER NOT NULL,
    sha256     TEXT NOT NULL,
    checked_at REAL NOT NULL
);
"""

# Pipelines that follow others (`triggers: - after: [...]`). A publish is a run that succeeded
# having committed at least one table; the trigger below records it, in the transaction that
# marks the run succeeded, whichever process finished it, so `seq` is the order runs published
# in and the daemon follows it by that cursor. `follow_state` is each follower's memory: since
# which publish its trigger is in force, and the publish of each upstream its last run took.
_PUBLISHES = """
CREATE TABLE publishes (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline     TEXT NOT NULL,
    run_id       TEXT NOT NULL UNIQUE,
    published_at REAL NOT NULL
);
CREATE INDEX publishes_by_pipeline ON publishes (pipeline, seq);
CREATE TRIGGER run_published AFTER UPDATE OF status ON runs
    WHEN NEW.status = 'succeeded' AND OLD.status != 'succeeded'
         AND EXISTS (SELECT 1 FROM commits WHERE commits.run_id = NEW.run_id AND commits.kind = 'publish')
BEGIN
    INSERT OR IGNORE INTO publishes (pipeline, run_id, published_at)
        VALUES (NEW.pipeline, NEW.run_id, IFNULL(NEW.ended_at, NEW.created_at));
END;
INSERT INTO publishes (pipeline, run_id, published_at)
    SELECT pipeline, run_id, IFNULL(ended_at, created_at) FROM runs
    WHERE status = 'succeeded' AND run_id IN (SELECT run_id FROM commits WHERE kind = 'publish')
    ORDER BY IFNULL(ended_at, created_at);

CREATE TABLE follow_state (
    pipeline      TEXT NOT NULL,
    key           TEXT NOT NULL,
    since         INTEGER NOT NULL,
    taken_json    TEXT NOT NULL DEFAULT '{}',
    last_run_id   TEXT,
    updated_at    REAL NOT NULL,
    PRIMARY KEY (pipeline, key)
);
"""

# Environments (docs/environments.md): each run is in one, ``prod`` (the project's own warehouse) unless
# it said otherwise; runs before this migration were all prod's. Only a prod run publishes for the
# pipelines that follow others: a development environment's build is not a publish anyone follows.
_ENVIRONMENTS = f"""
ALTER TABLE runs ADD COLUMN environment TEXT NOT NULL DEFAULT 'prod';
CREATE INDEX runs_by_environment ON runs (environment, created_at);
DROP TRIGGER run_published;
CREATE TRIGGER run_published AFTER UPDATE OF status ON runs
    WHEN NEW.status = 'succeeded' AND OLD.status != 'succeeded' AND NEW.environment = 'prod'
         AND EXISTS (SELECT 1 FROM commits WHERE commits.run_id = NEW.run_id AND commits.kind = 'publish')
BEGIN
    INSERT OR IGNORE INTO publishes (pipeline, run_id, published_at)
        VALUES (NEW.pipeline, NEW.run_id, IFNULL(NEW.ended_at, NEW.created_at));
END;
-- finished runs per environment, for the daemon's metrics: kept by a trigger as run_totals is, so a scrape
-- costs the same with a million runs, and pruning old runs never lowers a counter
CREATE TABLE environment_run_totals (
    environment TEXT NOT NULL,
    pipeline    TEXT NOT NULL,
    status      TEXT NOT NULL,
    runs        INTEGER NOT NULL,
    PRIMARY KEY (environment, pipeline, status)
);
INSERT INTO environment_run_totals (environment, pipeline, status, runs)
    SELECT environment, pipeline, status, COUNT(*) FROM runs WHERE status IN {_FINISHED} GROUP BY 1, 2, 3;
CREATE TRIGGER run_environment_counts AFTER UPDATE OF status ON runs
    WHEN OLD.status != NEW.status AND NEW.status IN {_FINISHED}
BEGIN
    INSERT INTO environment_run_totals (environment, pipeline, status, runs)
        VALUES (NEW.environment, NEW.pipeline, NEW.status, 1)
        ON CONFLICT (environment, pipeline, status) DO UPDATE SET runs = runs + 1;
END;
"""

MIGRATIONS: list[str] = [_V1, _V_DAEMON, _SECURITY, _V_ALERT_ACKNOWLEDGEMENTS, _V_RERUNS, _V_MONITORING, _V_ALERTS,
                         _CONNECTORS, _STEP_ENGINE, _SCHEDULE_KEYS, _AUDIT_ANCHORS, _AGGREGATES, _STEP_STATEMENTS,
                         _SPILL_SAMPLES, _EXTERNAL_INPUTS, _LINEAGE_OUTBOX, _FINGERPRINTS, _PUBLISHES,
                         _ENVIRONMENTS]
SCHEMA_VERSION = len(MIGRATIONS)
