"""Published tables read and restored: read-only queries and previews, kept versions, rollback.

Every one goes through a ``Backend`` from ``run.backend_factory``, so it reads or restores the
tables on the engine the project uses (a query and a preview: the engine holding the current
version of the tables read, ``run.query_engine``), waiting (and saying who holds it) while a run writes.
"""

from __future__ import annotations

from dataclasses import replace

from flowdeck.engine.backends.base import CommitMarker, QueryResult, TableVersion
from flowdeck.engine.errors import FlowdeckError, NotFound, ParamError
from flowdeck.engine.project.config.steps import ExtractStep, TransformStep
from flowdeck.engine.project.project import PROD, Project
from flowdeck.engine.run.backend_factory import OnWait, open_backend, open_catalog
from flowdeck.engine.run.query_engine import EngineChoice, choose_engine
from flowdeck.engine.run.reconcile import commit_record
from flowdeck.engine.sql.render import identifier
from flowdeck.state import Ledger
from flowdeck.state.ledger import new_run_id
from flowdeck.state.records import CommitRecord

CATALOG_WAIT_SECONDS = 2.0  # lineage does without column names rather than wait long for a run


def query(project: Project, sql: str, *, limit: int = 1000, wait: float = 10.0, on_wait: OnWait | None = None,
          ledger: Ledger | None = None, engine: str | None = None) -> QueryResult:
    """Run a read-only query, waiting up to ``wait`` seconds for a writer, on ``engine`` or else the engine that
    published the current version of its tables (known from ``ledger``; ``run.query_engine``): the result
    says which and why, and warns of a table read where its current version is not."""
    if project.environment != PROD:  # a development environment is a DuckDB warehouse (docs/environments.md)
        choice = EngineChoice("duckdb", "", only_duckdb=True)
    elif ledger is not None:
        choice = choose_engine(ledger, sql, configured=project.config.engine, requested=engine)
    else:
        choice = EngineChoice(engine or project.config.engine, "", only_duckdb=True)
    backend = open_backend(project, "read", engine=choice.engine, wait=wait, on_wait=on_wait)
    try:
        result = backend.query(sql, limit=limit)
    finally:
        backend.close()
    return replace(result, engine=choice.engine, reason="" if choice.only_duckdb else choice.reason,
                   warnings=tuple(choice.stale))


def preview(project: Project, table: str, *, limit: int = 200, wait: float = 30.0, on_wait: OnWait | None = None,
            ledger: Ledger | None = None, engine: str | None = None) -> QueryResult:
    """The first ``limit`` rows of a published table (read as ``query`` reads)."""
    return query(project, f"SELECT * FROM {identifier(table)}", limit=limit, wait=wait, on_wait=on_wait,
                 ledger=ledger, engine=engine)


def versions(project: Project, table: str, *, wait: float = 10.0, on_wait: OnWait | None = None) -> list[TableVersion]:
    """The current version of a published table and the versions kept for rollback, newest first."""
    name = table.lower()
    backend = open_backend(project, "read", wait=wait, on_wait=on_wait)
    try:
        found = backend.versions(name)
    finally:
        backend.close()
    if not found:
        raise NotFound(f"no table `{name}` in the warehouse", hint="list tables with `flowdeck query \"SHOW TABLES\"`")
    return found


def rollback(project: Project, ledger: Ledger, table: str, to_run: str, *, requested_by: str,
             on_wait: OnWait | None = None) -> tuple[CommitRecord, str | None]:
    """Make the kept version of ``table`` holding ``to_run``'s data (a unique prefix will do) current
    again, recorded in the warehouse (a commit marker) and then in the ledger; return the record
    and the run whose data it replaced."""
    name = table.lower()
    backend = open_backend(project, "maintain", on_wait=on_wait)
    try:
        kept = backend.versions(name)
        if not kept:
            raise NotFound(f"no table `{name}` in the warehouse",
                           hint="list tables with `flowdeck query \"SHOW TABLES\"`")
        matches = sorted({v.run_id for v in kept if v.run_id.startswith(to_run)})
        if len(matches) > 1:
            raise ParamError(f"{to_run} matches versions of {len(matches)} runs: {', '.join(matches)}",
                             hint="give more of the run id")
        target = matches[0] if matches else to_run
        current = next((v.run_id for v in kept if v.current), None)
        marker = CommitMarker(run_id=f"rollback-{new_run_id()}", step=step_publishing(project, name) or "rollback",
                              output=name, rows=None, checksum="", kind="rollback", data_run_id=target,
                              state={"requested_by": requested_by})
        committed = backend.rollback(name, target, marker)
        record = commit_record(committed, backend.warehouse_id(), requested_by=requested_by)
    finally:
        backend.close()
    ledger.record_rollback(record, previous_run=current)
    return record, current


def step_publishing(project: Project, table: str) -> str | None:
    """The step (of any valid pipeline) that publishes ``table``, if one does."""
    for name in project.pipeline_names():
        try:
            steps = project.pipeline(name).config.steps
        except FlowdeckError:
            continue
        for step in steps:
            if isinstance(step, (ExtractStep, TransformStep)) and (step.output or step.name).lower() == table:
                return step.name
    return None


def warehouse_columns(project: Project) -> dict[str, list[str]]:
    """Columns of every published table, for lineage; empty when the warehouse does not exist, stays
    busy, or is on Spark."""
    try:
        backend = open_catalog(project, wait=CATALOG_WAIT_SECONDS)
    except FlowdeckError:
        return {}
    if backend is None:
        return {}
    try:
        rows = backend.query(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_catalog = current_database() AND table_schema = 'main' "
            "ORDER BY table_name, ordinal_position", limit=1_000_000).rows
    finally:
        backend.close()
    schemas: dict[str, list[str]] = {}
    for table, column in rows:
        schemas.setdefault(str(table).lower(), []).append(str(column))
    return schemas
