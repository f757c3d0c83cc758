"""Is a connection usable? ``flowdeck connections test`` and the daemon's scheduled checks.

A test connects (reachability, TLS, credentials), then probes every table the project's
pipelines read from or write to through that connection, without changing anything: reads
are ``WHERE 1 = 0`` queries, writes are tried in a transaction that is rolled back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flowdeck.engine.connectors.connection import Connection, connection_config, describe, open_connection
from flowdeck.engine.connectors.dialects import MARKER_TABLE, QualifiedName
from flowdeck.engine.connectors.failures import ConnectionFailed
from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.masking import mask
from flowdeck.engine.plan.planner import build_plan
from flowdeck.engine.project.config.steps import DatabaseSource, DatabaseTarget, ExtractStep, LoadStep
from flowdeck.engine.secrets import SecretsError
from flowdeck.engine.sql.analysis import statement_text

if TYPE_CHECKING:
    from flowdeck.engine.project.project import Project

PROBE_TABLE = "_flowdeck_probe"


@dataclass(frozen=True)
class TableUse:
    """A table of a connection that a pipeline step reads or writes."""

    table: str | None  # None: the step runs a query
    access: str  # read | write
    step: str  # pipeline.step
    query: str | None = None
    mode: str | None = None  # a load's mode


@dataclass(frozen=True)
class Check:
    """One probe and its outcome."""

    what: str
    ok: bool
    reason: str | None = None
    message: str | None = None
    hint: str | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The JSON form (``flowdeck connections test --json``)."""
        return {"what": self.what, "ok": self.ok, "reason": self.reason, "message": self.message, "hint": self.hint,
                "seconds": round(self.seconds, 3)}


@dataclass
class ConnectionReport:
    """Everything a test of one connection found."""

    name: str
    type: str
    where: str
    checks: list[Check] = field(default_factory=list)
    checked_at: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return all(check.ok for check in self.checks)

    def first_failure(self) -> Check | None:
        """The check that failed first, if any."""
        return next((check for check in self.checks if not check.ok), None)

    def to_json(self) -> dict[str, Any]:
        """The JSON form (``flowdeck connections test --json``, the daemon's status)."""
        return {"name": self.name, "type": self.type, "where": self.where, "ok": self.ok, "checked_at": self.checked_at,
                "checks": [check.to_json() for check in self.checks]}


def tables_used(project: Project, name: str) -> list[TableUse]:
    """The tables of connection ``name`` that the project's (valid) pipelines read or write."""
    uses: list[TableUse] = []
    for pipeline in project.pipeline_names():
        try:
            source = project.pipeline(pipeline)
        except FlowdeckError:
            continue  # an invalid pipeline is reported by `flowdeck validate`
        for step in source.config.steps:
            where = f"{pipeline}.{step.name}"
            if isinstance(step, ExtractStep) and isinstance(step.source, DatabaseSource):
                if step.source.connection == name:
                    query = None
                    if step.source.query is not None:
                        try:
                            query = build_plan(project, pipeline).steps[step.name].source_query
                        except FlowdeckError:
                            continue
                    uses.append(TableUse(step.source.table, "read", where, query=query))
            elif isinstance(step, LoadStep) and isinstance(step.to, DatabaseTarget) and step.to.connection == name:
                uses.append(TableUse(step.to.table, "write", where, mode=step.to.mode))
    return uses


def declared_connections(project: Project) -> list[dict[str, Any]]:
    """The declared database connections: where they point (no password) and which steps use them."""
    listed = []
    for name, config in sorted(project.config.connections.items()):
        listed.append({
            "name": name, "type": config.type, "where": describe(project, name),
            "sslmode": config.sslmode, "health_check": config.health_check,
            "used_by": [{"step": use.step, "access": use.access, "table": use.table}
                        for use in tables_used(project, name)],
        })
    return listed


def chosen_connections(project: Project, names: list[str] | None) -> list[str]:
    """The connections ``names`` (all declared ones when none), each checked to exist."""
    chosen = names or sorted(project.config.connections)
    for name in chosen:
        connection_config(project, name)  # an unknown name is bad input, before anything else
    return chosen


def test_connections(project: Project, names: list[str], *, tables: list[str] | None = None) -> list[ConnectionReport]:
    """``test_connection`` of each of ``names``, in that order."""
    return [test_connection(project, name, tables=tables) for name in names]


def test_connection(project: Project, name: str, *, tables: list[str] | None = None) -> ConnectionReport:
    """Connect to ``name`` and probe the tables the pipelines use (or ``tables``); never raises for a failure."""
    config = connection_config(project, name)
    report = ConnectionReport(name=name, type=config.type, where=describe(project, name))
    started = time.monotonic()
    try:
        connection = open_connection(project, name)
    except FlowdeckError as error:
        report.checks.append(_failed("connect", error, started))
        return report
    try:
        version = _server_version(connection)
        whom = f"connected as {connection.user} to" if connection.user else "opened"
        report.checks.append(Check("connect", True, message=f"{whom} {version or connection.where}",
                                   seconds=time.monotonic() - started))
        uses = [TableUse(table, "read", "--table") for table in tables] if tables else tables_used(project, name)
        for use in uses:
            report.checks.append(_probe(connection, use))
    finally:
        connection.close()
    return report


def probe_reachable(project: Project, name: str) -> Check:
    """Connect and run ``SELECT 1``: what the daemon checks on its schedule."""
    started = time.monotonic()
    try:
        connection = open_connection(project, name)
    except FlowdeckError as error:
        return _failed("connect", error, started)
    try:
        connection.execute("SELECT 1", "checking the connection")
        return Check("connect", True, seconds=time.monotonic() - started)
    except FlowdeckError as error:
        return _failed("connect", error, started)
    finally:
        connection.close()


def _probe(connection: Connection, use: TableUse) -> Check:
    label = use.table or "query"
    what = f"{use.access} {label} ({use.step})"
    started = time.monotonic()
    dialect = connection.dialect
    try:
        if use.access == "read":
            if use.table is not None:
                sql = f"SELECT * FROM {dialect.quoted_table(use.table)} WHERE 1 = 0"
            else:
                sql = f"SELECT * FROM (\n{statement_text(use.query or '')}\n) AS flowdeck_probe WHERE 1 = 0"
            connection.execute(sql, f"reading {label}", table=use.table)
            return Check(what, True, message="readable", seconds=time.monotonic() - started)
        assert use.table is not None
        return _probe_write(connection, use, what, started)
    except FlowdeckError as error:
        connection.rollback()
        return _failed(what, error, started)


def _probe_write(connection: Connection, use: TableUse, what: str, started: float) -> Check:
    """Try what a load does, in a transaction rolled back: the target is never changed."""
    assert use.table is not None
    dialect = connection.dialect
    table = QualifiedName.parse(use.table)
    doing = f"writing {use.table}"
    try:
        if connection.exists(table):
            name = dialect.table(table)
            connection.execute(f"DELETE FROM {name} WHERE 1 = 0", doing, table=use.table)
            connection.execute(f"INSERT INTO {name} SELECT * FROM {name} WHERE 1 = 0", doing, table=use.table)
            missing = dialect.missing_privilege(table, "replace" if use.mode == "replace" else None)
            if missing is not None and connection.execute(missing, doing, table=use.table)[0][0]:
                raise ConnectionFailed(f"{doing}: the database user may not TRUNCATE `{use.table}`, which "
                                       "`mode: replace` does", reason="permission", connection=connection.name,
                                       hint=f"GRANT TRUNCATE ON {use.table} TO the user, or use another mode")
            state = "writable"
        else:
            probe = QualifiedName(table.schema, PROBE_TABLE)
            connection.execute(f"CREATE TABLE {dialect.table(probe)} (x INTEGER)", doing, table=str(probe))
            state = "missing; the load will create it"
        markers = dialect.marker_table(table)
        if not connection.exists(markers):
            connection.execute(dialect.create_marker_table(markers), doing, table=str(markers))
    finally:
        connection.rollback()
    return Check(what, True, message=f"{state} ({MARKER_TABLE} can be kept beside it)",
                 seconds=time.monotonic() - started)


def _server_version(connection: Connection) -> str | None:
    query = connection.dialect.version_query()
    try:
        rows = connection.execute(query, "asking the server's version")
    finally:
        connection.rollback()
    return str(rows[0][0]) if rows else None


def _failed(what: str, error: FlowdeckError, started: float) -> Check:
    reason = "secret" if isinstance(error, SecretsError) else getattr(error, "reason", "unknown")
    return Check(what, False, reason=reason, message=mask(error.what),
                 hint=mask(error.hint) if error.hint else None, seconds=time.monotonic() - started)

