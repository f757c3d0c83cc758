"""Arrow batches into a database table inside ONE transaction, with a load marker, the dlt way
(the database side of a load step, ``engine.steps.load``).

The marker (table ``_flowdeck_loads`` beside the target) is keyed by the pipeline, the step,
the target and the *data version* loaded: the warehouse commit that made the table's current
data. It is written in the same transaction as the rows, so either both are there or
neither. A second load of the same version (a rerun, a resumed run reusing the upstream
steps) finds the marker and loads nothing: the rows are there exactly once.

A failure, a cancel or a killed process rolls the transaction back: the target is left as it
was. Modes: ``replace`` (the rows become the loaded rows; the table, its grants and indexes
stay), ``append``, ``upsert`` (rows whose key exists are replaced, others added).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import adbc_driver_manager
import pyarrow as pa

from flowdeck.engine.connectors.connection import Connection
from flowdeck.engine.connectors.dialects import QualifiedName, adapt_batch, adapted_schema
from flowdeck.engine.connectors.progress import Counted, Report
from flowdeck.engine.debug_hooks import crash_point
from flowdeck.engine.project.config.steps import DatabaseTarget


@dataclass(frozen=True)
class LoadMarker:
    """What identifies one load: this data version, by this step, into this table."""

    load_id: str  # the commit that made the loaded table's data (``data_version``)
    pipeline: str
    step: str
    target: str
    run_id: str  # the run doing the load
    mode: str


@dataclass(frozen=True)
class LoadOutcome:
    """How many rows the load wrote, or found already written by an earlier load of the same version."""

    rows: int
    already_loaded: bool = False


def load_batches(connection: Connection, batches: pa.RecordBatchReader, target: DatabaseTarget, marker: LoadMarker,
                 *, report: Report | None = None) -> LoadOutcome:
    """Write ``batches`` into ``target`` with ``marker`` in one transaction; roll back on any failure."""
    dialect = connection.dialect
    table = QualifiedName.parse(target.table)
    markers = dialect.marker_table(table)
    doing = f"loading into {target.table} (connection `{connection.name}`)"
    _ensure_marker_table(connection, markers, doing)
    schema = adapted_schema(batches.schema, dialect.target_field)
    converted: Any = batches if schema is None else (adapt_batch(batch, schema) for batch in batches)
    counted = Counted(converted, schema or batches.schema, report or (lambda rows, count: None))
    try:
        found = connection.execute(
            f"SELECT rows FROM {dialect.table(markers)} WHERE pipeline = {dialect.literal(marker.pipeline)} "
            f"AND step = {dialect.literal(marker.step)} AND target = {dialect.literal(marker.target)} "
            f"AND load_id = {dialect.literal(marker.load_id)}", doing)
        if found:
            connection.rollback()
            return LoadOutcome(rows=int(found[0][0]), already_loaded=True)
        exists = connection.exists(table)
        with connection.cursor() as cursor:
            if target.mode == "upsert" and exists:
                rows = _upsert(connection, cursor, counted.reader(), table, list(target.key or ()), marker)
            else:
                if target.mode == "replace" and exists:
                    cursor.execute(dialect.empty(table))
                rows = _ingest(cursor, counted.reader(), table, "append" if exists else "create")
            cursor.execute(
                f"INSERT INTO {dialect.table(markers)} (load_id, pipeline, step, target, run_id, mode, rows) VALUES ("
                + ", ".join(dialect.literal(value) for value in (marker.load_id, marker.pipeline, marker.step,
                                                                   marker.target, marker.run_id, marker.mode))
                + f", {int(rows)})")
        crash_point("exporting", marker.step)  # rows and marker written, not committed
        connection.commit()
    except adbc_driver_manager.Error as error:
        connection.rollback()
        raise connection.failure(error, doing, table=target.table) from None
    except BaseException:
        connection.rollback()
        raise
    return LoadOutcome(rows=rows)


def _ingest(cursor: Any, reader: pa.RecordBatchReader, table: QualifiedName, mode: str, *,
            temporary: bool = False) -> int:
    """Bulk-write ``reader`` (COPY for PostgreSQL, prepared inserts for SQLite); return the rows written."""
    written = cursor.adbc_ingest(table.name, reader, mode=mode, db_schema_name=None if temporary else table.schema,
                                 temporary=temporary)
    return int(written) if written is not None and written >= 0 else 0


def _upsert(connection: Connection, cursor: Any, reader: pa.RecordBatchReader, table: QualifiedName, key: list[str],
            marker: LoadMarker) -> int:
    """Stage the rows in a temporary table, delete the target's rows with the same keys, insert them all."""
    dialect = connection.dialect
    stage = dialect.stage_name(re.sub(r"[^A-Za-z0-9]", "_", marker.run_id))
    cursor.execute(f"DROP TABLE IF EXISTS {dialect.table(stage)}")
    rows = _ingest(cursor, reader, stage, "create", temporary=True)
    cursor.execute(dialect.delete_matching(table, stage, key))
    cursor.execute(dialect.insert_from(table, stage, list(reader.schema.names)))
    cursor.execute(f"DROP TABLE {dialect.table(stage)}")
    return rows


def _ensure_marker_table(connection: Connection, markers: QualifiedName, doing: str) -> None:
    """Create the marker table in its own short transaction (two first loads at once: one wins)."""
    for attempt in range(2):
        try:
            with connection.cursor() as cursor:
                cursor.execute(connection.dialect.create_marker_table(markers))
            connection.commit()
            return
        except adbc_driver_manager.Error as error:
            connection.rollback()
            if attempt == 1 or "already exists" not in str(error) and "duplicate key" not in str(error):
                raise connection.failure(error, doing, table=str(markers)) from None
