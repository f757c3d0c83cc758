"""The Spark backend: each step's SQL transpiled to Spark SQL; flowdeck owns storage and publishing.

Published outputs are Parquet datasets under the Spark warehouse
(``<warehouse>/tables/<output>/<version>/``); a version folder is written once and never
changed, so a merge writes a new one and a rollback only points back at an older one.
Publishing writes a commit marker as one JSON file under ``<warehouse>/_flowdeck/markers/<seq>/``:
the marker *is* the commit. It names the table's current folder (or a view's SQL), the folders
kept as versions, and the incremental state, so the newest marker of a table says everything
about it; a crash before the marker leaves the previous version current, and folders no
marker names are leftovers. Each backend opens its own Spark Connect session and registers a
published output in it as a temporary view when a query first reads it, so steps read them by
name, as they do in DuckDB.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from flowdeck.engine.backends.base import (
    ARROW_RELATION,
    Backend,
    CommitMarker,
    Failing,
    FileRead,
    Leftover,
    MergeSpec,
    QueryResult,
    Staged,
    TableVersion,
    rollback_refusal,
    run_tag,
)
from flowdeck.engine.backends.files import write_file
from flowdeck.engine.backends.spark import marker_files
from flowdeck.engine.backends.spark.failures import error_origin
from flowdeck.engine.backends.spark.file_functions import resolve_path, view_name
from flowdeck.engine.backends.spark.outputs import OutputColumn, file_columns
from flowdeck.engine.backends.spark.served import served_spark
from flowdeck.engine.backends.spark.session import connect, first_line
from flowdeck.engine.backends.spark.sources import reader_options
from flowdeck.engine.backends.spark.transpile import transpile
from flowdeck.engine.debug_hooks import crash_point
from flowdeck.engine.errors import (
    EngineRefusal, FlowdeckError, SqlError, StepFailed, TranslatedSql, UnknownColumn,
)
from flowdeck.engine.sql.analysis import DIALECT
from flowdeck.engine.sql.render import identifier, identifiers

if TYPE_CHECKING:
    from pyspark.sql import DataFrame  # the interface: Connect's methods return it, typed as such
    from pyspark.sql.connect.session import SparkSession
    from pyspark.sql.types import StructType

    from flowdeck.engine.project.project import Project

# schema_json: the Spark schema of the current version's Parquet files, so reading them needs no schema
# inference (a Spark job per read); NULL in markers written before it was kept (the files are inferred then)
_MARKER_FIELDS = ("seq BIGINT, run_id STRING, step STRING, output STRING, kind STRING, data_run_id STRING, "
                  "base_run_id STRING, rows BIGINT, checksum STRING, state_json STRING, committed_at DOUBLE, "
                  "published_at DOUBLE, location STRING, view_sql STRING, kept_json STRING, schema_json STRING")
_MARKER_COLUMNS = [part.split()[0] for part in _MARKER_FIELDS.split(", ")]
_SEQ_DIGITS = 12
_ARROW_CHUNK_BYTES = 32 * 1024 * 1024  # rows sent to Spark per write when reading from a database


def warehouse_root(project: Project) -> str:
    """Where this project's Spark outputs live: ``spark.warehouse``, or spark-warehouse in the runtime dir."""
    configured = project.config.spark.warehouse
    if configured is None:
        return str(project.runtime_dir / "spark-warehouse")
    return configured if "://" in configured else str(project.resolve_path(configured))


def open_scratch_spark_backend(project: Project, warehouse: Path) -> SparkBackend:
    """A Spark backend of its own session over the empty folder ``warehouse``: nothing published is read or
    written (SQL unit tests)."""
    settings = project.config.spark
    served = None if settings.remote else served_spark(project.runtime_dir, settings.master)
    return SparkBackend(connect(settings, served), str(warehouse), root=project.root)


def open_spark_backend(project: Project) -> SparkBackend:
    """A Spark backend on the project's configured server (started in-process in master mode)."""
    settings = project.config.spark
    served = None if settings.remote else served_spark(project.runtime_dir, settings.master)
    return SparkBackend(connect(settings, served), warehouse_root(project), root=project.root)


@dataclass(frozen=True)
class _Kept:
    """A version folder kept for rollback, and whose data it holds."""

    run_id: str
    location: str
    rows: int | None
    checksum: str | None
    published_at: float | None


@dataclass(frozen=True)
class _Entry:
    """One commit marker as stored: the engine's marker plus where the table's data is after it."""

    marker: CommitMarker
    published_at: float | None  # when the current data was published (a rollback keeps the original time)
    location: str | None  # the current version's folder; None for a view
    view_sql: str | None
    kept: tuple[_Kept, ...] = field(default_factory=tuple)
    schema_json: str | None = None  # the Spark schema of the current version's files

    def row(self) -> tuple[Any, ...]:
        marker = self.marker
        kept = json.dumps([vars(version) for version in self.kept])
        return (marker.seq, marker.run_id, marker.step, marker.output, marker.kind, marker.data_run_id,
                marker.base_run_id, marker.rows, marker.checksum, json.dumps(marker.state, sort_keys=True, default=str),
                marker.committed_at, self.published_at, self.location, self.view_sql, kept, self.schema_json)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> _Entry:
        marker = CommitMarker(run_id=row["run_id"], step=row["step"], output=row["output"], rows=row["rows"],
                              checksum=row["checksum"], kind=row["kind"], data_run_id=row["data_run_id"],
                              base_run_id=row["base_run_id"], state=json.loads(row["state_json"] or "{}"),
                              seq=int(row["seq"]), committed_at=float(row["committed_at"]))
        kept = tuple(_Kept(**version) for version in json.loads(row["kept_json"] or "[]"))
        return cls(marker=marker, published_at=row["published_at"], location=row["location"],
                   view_sql=row["view_sql"], kept=kept, schema_json=row.get("schema_json"))

    def version(self) -> _Kept:
        """The current data, as it is kept once something replaces it."""
        assert self.location is not None
        return _Kept(run_id=self.marker.data_run_id or self.marker.run_id, location=self.location,
                     rows=self.marker.rows, checksum=self.marker.checksum, published_at=self.published_at)


class SparkBackend(Backend):
    """Stage, check, publish and export with Spark, through one Spark Connect session."""

    name = "spark"
    breaks_ties_by_duckdb_hash = False  # Spark has no DuckDB row hash: tied rows must be equal

    def __init__(self, session: SparkSession, warehouse: str, *, root: Path | None = None) -> None:
        self.spark = session
        self.warehouse = warehouse.rstrip("/")
        # files a query reads itself (read_csv(...), FROM 'x.parquet'), found in the project as DuckDB finds them
        self._files = _SessionFiles(self, str(root)) if root is not None else None
        self._locations: dict[str, str] = {}  # staging view → its Parquet location
        self._written: dict[str, StructType] = {}  # staging view → the Spark schema of its Parquet files
        self._schemas: dict[str, dict[str, str]] = {}
        self._publish_lock = threading.Lock()
        self._entries: list[_Entry] = []  # every marker read so far, in commit order
        self._current: dict[str, _Entry] = {}  # output → its newest marker
        self._registered: dict[str, int | None] = {}  # output → the seq of the marker its temporary view shows
        with self._errors("opening the Spark warehouse"):
            self._id = self._read_warehouse_id()
            self._refresh()  # the tables become views when a query first reads them (_readable)

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def _markers_dir(self) -> str:
        return f"{self.warehouse}/_flowdeck/markers"

    @property
    def _local(self) -> bool:
        return "://" not in self.warehouse or self.warehouse.startswith("file://")

    def _path(self, location: str) -> Path:
        """A location of a local warehouse as a path on this machine."""
        return Path(location.removeprefix("file://"))

    @contextmanager
    def _errors(self, doing: str) -> Iterator[_Ran]:
        """Spark's errors as ``StepFailed``; once the block sets the Spark SQL it runs (``ran.sql``), carrying
        that SQL and where Spark pointed in it (``TranslatedSql``), which the step maps back to the user's line."""
        ran = _Ran()
        try:
            yield ran
        except FlowdeckError:  # already says what went wrong (a refused rollback, a failed step)
            raise
        except Exception as error:
            text = first_line(error)
            transient = any(word in text for word in ("UNAVAILABLE", "Connection refused", "DEADLINE_EXCEEDED"))
            if "OPERATION_CANCELED" in text or "cancelled" in text.lower():
                raise StepFailed(f"{doing}: interrupted (the run was canceled)") from None
            failure = UnknownColumn if "UNRESOLVED_COLUMN" in text else StepFailed
            translated = None
            if ran.sql is not None and not transient:  # the step maps Spark's position back to the user's line
                start, names = error_origin(error, ran.sql)
                translated = TranslatedSql(ran.sql, start, names)
            raise failure(f"{doing}: {text}", transient=transient, hint=_hint_for(text), ran=translated) from None

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One publisher at a time: threads of this process, and (on a local warehouse) other processes."""
        with self._publish_lock:
            if not self._local:
                yield  # a cluster's warehouse: one writing process at a time, as documented
                return
            lock_path = self._path(f"{self.warehouse}/_flowdeck/publish.lock")
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            with open(lock_path, "a+") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    def _read_warehouse_id(self) -> str:
        """The id kept in ``_flowdeck/info`` (written by the first backend to open the warehouse)."""
        info = f"{self.warehouse}/_flowdeck/info"
        if self._local:  # read and written as files: no Spark job (marker_files.py)
            for _ in range(2):
                found = marker_files.read_rows(self._path(info), ["warehouse_id"])
                if found and found[0]["warehouse_id"]:
                    return str(found[0]["warehouse_id"])
                marker_files.write_rows(self._path(info), [{"warehouse_id": str(uuid.uuid4())}])
            raise StepFailed(f"cannot read or write the warehouse id in {info}")
        for _ in range(2):
            try:
                rows = self.spark.read.schema("warehouse_id STRING").json(info).collect()
                if rows and rows[0]["warehouse_id"]:
                    return str(rows[0]["warehouse_id"])
            except Exception as error:
                if "PATH_NOT_FOUND" not in str(error) and "does not exist" not in str(error):
                    raise
            try:
                self.spark.createDataFrame([(str(uuid.uuid4()),)], schema="warehouse_id STRING").coalesce(1) \
                    .write.mode("error").json(info)
            except Exception as error:
                if "PATH_ALREADY_EXISTS" not in str(error) and "already exists" not in str(error):
                    raise  # otherwise another process wrote it first: read theirs
        raise StepFailed(f"cannot read or write the warehouse id in {info}")

    def _refresh(self) -> None:
        """Read the markers committed since the last read (by this or another process)."""
        last = self._entries[-1].marker.seq if self._entries else 0
        assert last is not None
        if self._local:
            folder = self._path(self._markers_dir)
            names = sorted(name for name in os.listdir(folder) if name.isdigit() and int(name) > last) \
                if folder.is_dir() else []
            found = [row for name in names for row in marker_files.read_rows(folder / name, _MARKER_COLUMNS)]
        else:
            frame: DataFrame = self.spark.read.schema(_MARKER_FIELDS).option("recursiveFileLookup", "true") \
                .json(self._markers_dir).where(f"seq > {int(last)}")
            try:
                found = [row.asDict() for row in frame.collect()]
            except Exception as error:
                if "PATH_NOT_FOUND" in str(error):
                    return
                raise
        for row in sorted(found, key=lambda row: int(row["seq"])):
            entry = _Entry.from_row(row)
            self._entries.append(entry)
            self._current[entry.marker.output] = entry
            self._schemas.pop(entry.marker.output, None)

    def _readable(self, names: set[str] | list[str], *, reading: frozenset[str] = frozenset()) -> None:
        """Make the published tables among ``names`` readable by name in this session, as of their newest
        marker read. Registering is a round trip per table, so a session registers a table when a query
        first reads it, not every table of the warehouse when it opens (a run reads a few of them)."""
        by_lower = {output.lower(): output for output in self._current}
        for name in names:
            output = by_lower.get(name.lower())
            if output is None or output in reading:
                continue  # not a published table (a CTE, a staged or file view), or a view reading itself
            entry = self._current[output]
            if self._registered.get(output, -1) == entry.marker.seq:
                continue
            if entry.view_sql:  # a view is created over the tables it reads: those first
                read = _tables_of(entry.view_sql, "spark")
                self._readable(list(self._current) if read is None else read, reading=reading | {output})
            self._register_published([output])

    def _register_published(self, outputs: list[str]) -> None:
        """Make published ``outputs`` readable by name in this session (their newest marker's data or view)."""
        for output in outputs:
            entry = self._current[output]
            self._registered[output] = entry.marker.seq  # a view that cannot be created is not tried again
            if entry.view_sql:
                try:
                    self.spark.sql(f"CREATE OR REPLACE TEMP VIEW {_name(output)} AS {entry.view_sql}")
                except Exception:
                    continue  # a view over a table that no longer exists; the next publish replaces it
            elif entry.location:
                self._read_parquet(entry.location, entry.schema_json).createOrReplaceTempView(output)
                if entry.schema_json:  # its columns are known: the next query's typing need not ask Spark
                    self._schemas[output] = _types(_struct(entry.schema_json))

    def _read_parquet(self, location: str, schema: StructType | str | None) -> DataFrame:
        """A version folder's rows; with its schema given, Spark reads no file to infer it (a job)."""
        reader = self.spark.read
        if schema is not None:
            reader = reader.schema(_struct(schema) if isinstance(schema, str) else schema)
        frame: DataFrame = reader.parquet(location)
        return frame

    def _write_marker(self, entry: _Entry) -> _Entry:
        """Commit: write the marker under the next free number, and return it as committed."""
        while True:
            seq = (self._entries[-1].marker.seq or 0) + 1 if self._entries else 1
            committed = replace(entry, marker=replace(entry.marker, seq=seq, committed_at=time.time()))
            folder = f"{self._markers_dir}/{seq:0{_SEQ_DIGITS}d}"
            if self._local:  # a file flowdeck writes itself: a Spark job per commit was most of a step's cost
                if marker_files.write_rows(self._path(folder), [dict(zip(_MARKER_COLUMNS, committed.row()))]):
                    break
                self._refresh()  # another process committed this number first
                continue
            try:
                self.spark.createDataFrame([committed.row()], schema=_MARKER_FIELDS).coalesce(1).write \
                    .mode("error").json(folder)
                break
            except Exception as error:
                if "PATH_ALREADY_EXISTS" not in str(error) and "already exists" not in str(error):
                    raise
                self._refresh()  # another process committed this number first
        self._entries.append(committed)
        self._current[committed.marker.output] = committed
        return committed

    def _referenced(self) -> set[str]:
        """Every folder a table's newest marker names (current or kept): the data nobody may remove."""
        return {location for entry in self._current.values()
                for location in (entry.location, *(kept.location for kept in entry.kept)) if location}

    def _remove_local(self, location: str) -> None:
        """Delete a folder of a local warehouse, and its table's folder if nothing else is left in it."""
        folder = self._path(location)
        shutil.rmtree(folder, ignore_errors=True)
        try:
            folder.parent.rmdir()
        except OSError:
            pass  # other versions live there (or a writer just made it again): keep it

    def _remove_folders(self, locations: set[str]) -> None:
        """Delete version folders no marker needs any more (on a local warehouse; a cluster's are left)."""
        if not self._local:
            return
        for location in locations - self._referenced():
            shutil.rmtree(self._path(location), ignore_errors=True)

    def _translate(self, sql: str, *, output: bool, name_columns: bool | None = None) -> str:
        translated = transpile(sql, schema=self._schema_of(sql), schema_dialect="spark", output=output,
                               name_columns=name_columns, files=self._files)
        if translated.refused:
            finding = translated.findings[0]
            raise EngineRefusal(finding.message(), line=finding.line, column=finding.column, hint=finding.hint())
        return translated.sql

    def _query(self, spark_sql: str) -> DataFrame:
        """A query's rows, lazily: ``spark.sql`` sends the query to the server at once (a round trip, only to
        hand back a reference to it); this relation goes with the action that reads it."""
        from pyspark.sql.connect.dataframe import DataFrame as ConnectFrame
        from pyspark.sql.connect.plan import SQL

        frame: DataFrame = ConnectFrame(SQL(spark_sql, [], {}, []), self.spark)
        return frame

    def _schema_of(self, sql: str) -> dict[str, dict[str, str]]:
        """Types of the tables ``sql`` reads, from Spark (so type-dependent rewrites can decide)."""
        schema: dict[str, dict[str, str]] = {}
        names = _tables_of(sql, DIALECT)
        if names is None:  # sqlglot cannot read it; Spark may: every published table is there for it
            self._readable(list(self._current))
            return schema
        self._readable(names)
        for name in names:
            if name not in self._schemas:
                try:
                    fields = self.spark.table(_name(name)).schema.fields
                except Exception:
                    continue  # a CTE or a table this session does not know: no types
                self._schemas[name] = {field.name: field.dataType.simpleString() for field in fields}
            schema[name] = self._schemas[name]
        return schema

    def _new_location(self, run_id: str, output: str) -> str:
        """A fresh version folder for ``output``, named for the run that writes it."""
        return f"{self.warehouse}/tables/{output}/{run_tag(run_id)}-{uuid.uuid4().hex[:8]}"

    def _write_staged(self, run_id: str, output: str, frame: DataFrame) -> Staged:
        name = self.stage_name(run_id, output)
        location = self._new_location(run_id, output)
        rows, checksum, schema = self._write_measured(frame, location)
        self._read_parquet(location, schema).createOrReplaceTempView(name)
        self._locations[name] = location
        self._written[name] = schema
        self._schemas[name] = _types(schema)
        return Staged(name=name, rows=rows, checksum=checksum)

    def _write_measured(self, frame: DataFrame, location: str) -> tuple[int, str, StructType]:
        """Write ``frame`` as Parquet to the fresh folder ``location`` (never overwriting), measuring its row count
        and checksum in the same job (observed metrics); return them with the schema written."""
        from pyspark.sql.connect import functions

        schema = frame.schema  # an analysis, no job: reading the files back with it needs no inference
        count, digest = _measures([field.name for field in schema.fields])
        # a named observation: an Observation object asks the server first whether the frame is a stream
        observed = frame.observe("fd_measure", functions.expr(count).alias("n"), functions.expr(digest).alias("c"))
        observed.write.parquet(location)
        info = observed.executionInfo
        measured = dict(info.flows).get("fd_measure", {}) if info is not None else {}
        if "n" not in measured:  # no metrics came back (not seen, but a wrong count would be committed): read them
            return (*_measure(self._read_parquet(location, schema)), schema)
        return int(measured["n"]), str(measured["c"]), schema

    # -- Backend -------------------------------------------------------------------------------

    def stage_query(self, run_id: str, output: str, sql: str, *, view: bool = False) -> Staged:
        with self._errors(f"building {output}") as ran:
            spark_sql = ran.sql = self._translate(sql, output=True)
            self.remember_statement("view" if view else "stage", spark_sql)  # the Spark SQL that runs, transpiled
            if view:
                name = self.stage_name(run_id, output)
                self.spark.sql(f"CREATE OR REPLACE TEMP VIEW {_name(name)} AS {spark_sql}")
                self._schemas.pop(name, None)
                return Staged(name=name, rows=None, checksum="view", is_view=True, sql=spark_sql, engine_sql=spark_sql)
            return replace(self._write_staged(run_id, output, self._query(spark_sql)), engine_sql=spark_sql)

    def stage_files(self, run_id: str, output: str, read: FileRead) -> Staged:
        with self._errors(f"reading the files of {output}"):
            frame = self._reader_frame(read)
            return self._write_staged(run_id, output, frame)

    def file_query(self, read: FileRead) -> str:
        """The files as a temporary view read by spark.read, and the (DuckDB-dialect) SELECT of it."""
        name = view_name(read)
        with self._errors("reading the source files"):
            self._reader_frame(read).createOrReplaceTempView(name)
        self._schemas.pop(name, None)
        return f"SELECT * FROM {identifier(name)}"  # DuckDB's dialect, like every query the run layer writes

    def _reader_frame(self, read: FileRead) -> DataFrame:
        options, schema = reader_options(read)
        columns = file_columns(read)  # DuckDB's names and types; None when DuckDB cannot read the files
        as_text = schema is None and read.format == "csv" and columns is not None and not read.filename \
            and not read.hive_partitioning and not any(_renamed_by_duckdb(column.name) for column in columns)
        if as_text:
            # Spark would read the files once to find their header and once more to infer types (a job each,
            # before the step's own). DuckDB's reader has named and typed the columns already: Spark reads them
            # as text and _as_duckdb_reads casts each to DuckDB's type, as it casts what Spark infers (a value
            # that does not fit fails the step under ANSI, it does not turn NULL); the header is still checked
            # against the names (enforceSchema false), so a file whose header differs fails rather than shifts.
            assert columns is not None
            schema = ", ".join(f"{_name(column.name)} STRING" for column in columns)
            options = {**options, "inferSchema": "false", "enforceSchema": "false"}
        reader = self.spark.read.format(read.format).options(**options)
        if schema:
            reader = reader.schema(schema)
        frame: DataFrame = reader.load(read.paths if len(read.paths) > 1 else read.paths[0])
        if read.filename:  # DuckDB's `filename` column: the path of the file each row came from
            frame = frame.selectExpr("*", "regexp_replace(_metadata.file_path, '^file:(//)?', '') AS filename")
        return _as_duckdb_reads(frame, columns, [column.name for column in columns or []] if as_text else None)

    def stage_arrow(self, run_id: str, output: str, batches: Any, *, sql: str | None = None) -> Staged:
        """Land the Arrow batches as Parquet through Spark Connect (a chunk at a time, so the rows
        never sit in memory whole), then stage ``sql`` over them, or the rows as they came."""
        import pyarrow as pa  # imported here: only steps reading a database need it

        landing = self._new_location(run_id, output)  # named like a version folder: a leftover if we die
        relation = f"{ARROW_RELATION}_{uuid.uuid4().hex[:12]}"  # steps run in parallel on one session
        try:
            with self._errors(f"writing the rows of {output}"):
                chunk: list[Any] = []
                size, written = 0, False
                for batch in batches:
                    chunk.append(batch)
                    size += batch.nbytes
                    if size >= _ARROW_CHUNK_BYTES:
                        self._append_rows(pa.Table.from_batches(chunk, schema=batches.schema), landing)
                        chunk, size, written = [], 0, True
                if chunk or not written:  # an empty read still lands its columns
                    self._append_rows(pa.Table.from_batches(chunk, schema=batches.schema), landing)
                self.spark.read.parquet(landing).createOrReplaceTempView(relation)
            query = sql or f"SELECT * FROM {ARROW_RELATION}"
            return self.stage_query(run_id, output, re.sub(rf"\b{ARROW_RELATION}\b", relation, query))
        finally:
            self.spark.catalog.dropTempView(relation)
            self._schemas.pop(relation, None)
            if self._local:
                self._remove_local(landing)

    def _append_rows(self, table: Any, location: str) -> None:
        """Add an Arrow table's rows to the Parquet folder ``location`` (sent to Spark over Connect)."""
        self.spark.createDataFrame(table).write.mode("append").parquet(location)

    def arrow_batches(self, table: str) -> Any:
        """The rows of ``table`` as a pyarrow RecordBatchReader (fetched through Spark Connect's Arrow stream)."""
        with self._errors(f"reading {table}"):
            self._readable([table])
            return self.spark.table(_name(table)).toArrow().to_reader()

    def relation(self, table: str) -> Any:
        """``table`` as a Spark DataFrame (lazy: the Python step's Spark implementation transforms it on the cluster)."""
        with self._errors(f"reading {table}"):
            self._readable([table])
            return self.spark.table(_name(table))

    def stage_relation(self, run_id: str, output: str, relation: Any, *, sql: str | None = None) -> Staged:
        """Stage a DataFrame a Python step's Spark implementation returned (``sql`` over it when given)."""
        if sql is None:
            with self._errors(f"building {output}"):
                return self._write_staged(run_id, output, relation)
        view = f"{ARROW_RELATION}_{uuid.uuid4().hex[:12]}"  # steps run in parallel on one session
        try:
            with self._errors(f"building {output}"):
                relation.createOrReplaceTempView(view)
            return self.stage_query(run_id, output, re.sub(rf"\b{ARROW_RELATION}\b", view, sql))
        finally:
            self.spark.catalog.dropTempView(view)
            self._schemas.pop(view, None)

    def failing_rows(self, sql: str, *, sample: int = 5) -> Failing:
        with self._errors("running a check") as ran:
            spark_sql = self._translate(sql, output=False)
            self.remember_statement("check", spark_sql)
            ran.sql = _sampled(spark_sql, sample)
            return self._failing(ran.sql)

    def failing_rows_of(self, sqls: list[str], *, sample: int = 5) -> Iterator[Failing]:
        """Several checks' failing rows: first how many each query returns, all in one Spark query (one job
        where each check was one), then samples of those that failed (a passing check has none to take).
        When that query fails, the checks run one at a time, so the error names its check and line."""
        if len(sqls) < 2:
            for sql in sqls:
                yield self.failing_rows(sql, sample=sample)
            return
        try:
            with self._errors("running a check"):
                translated = [self._translate(sql, output=False) for sql in sqls]
                counts = " UNION ALL ".join(f"SELECT {index} AS query, count(*) AS failing FROM (\n{spark_sql}\n) "
                                            f"AS q{index}" for index, spark_sql in enumerate(translated))
                failing = {int(row["query"]): int(row["failing"]) for row in self._query(counts).collect()}
        except StepFailed:
            for sql in sqls:
                yield self.failing_rows(sql, sample=sample)
            return
        for index, spark_sql in enumerate(translated):
            self.remember_statement("check", spark_sql)
            if not failing.get(index):
                yield Failing(count=0, sample=[])
                continue
            with self._errors("running a check") as ran:
                ran.sql = _sampled(spark_sql, sample)
                yield self._failing(ran.sql)

    def _failing(self, sampled_sql: str) -> Failing:
        """A check's failing rows from its ``_sampled`` query: how many, and the first few."""
        rows = self._query(sampled_sql).collect()
        if not rows:
            return Failing(count=0, sample=[])
        samples = [{key: value for key, value in row.asDict().items() if key != "__fd_failing"} for row in rows]
        return Failing(count=int(rows[0]["__fd_failing"]), sample=samples)

    def columns(self, relation_sql: str) -> list[tuple[str, str]]:
        """(name, type) of a table or query's columns, the types spelled in DuckDB's dialect (the engine's); the
        names as DuckDB gives them (`MixedCase`, where sqlglot's star expansion for Spark would lower-case them)."""
        is_query = re.match(r"\s*(\(|select\b|with\b|from\b)", relation_sql, re.IGNORECASE)
        sql = relation_sql if is_query else f"SELECT * FROM {relation_sql}"
        with self._errors("reading column names"):
            fields = self._query(self._translate(sql, output=False, name_columns=True)).schema.fields
        return [(field.name, exp.DataType.build(field.dataType.simpleString(), dialect="spark").sql("duckdb"))
                for field in fields]

    def publish(
        self, staged: Staged, output: str, marker: CommitMarker, *, merge: MergeSpec | None = None,
        keep_versions: int = 1,
    ) -> CommitMarker:
        with self._writing(), self._errors(f"publishing {output}"):
            self._refresh()
            previous = self._current.get(output)
            replaced = previous.location if previous is not None else None  # the table's data before
            kept = list(previous.kept) if previous is not None else []
            location: str | None = None
            rows, checksum = staged.rows, staged.checksum
            schema = self._written.get(staged.name)
            if staged.is_view:
                replaced = None  # a view is not versioned; its table (if it was one) goes
                if previous is not None and previous.location:
                    replaced = previous.location
            elif merge is None or replaced is None:
                location = self._locations[staged.name]
            elif staged.rows == 0:  # an empty batch changes nothing: the table keeps its folder
                assert previous is not None
                location, rows, checksum = replaced, previous.marker.rows, previous.marker.checksum
                schema = _struct(previous.schema_json) if previous.schema_json else None
                replaced = None
            else:
                self.check_same_columns(staged, output, marker.step)
                location = self._new_location(marker.run_id, output)
                rows, checksum, schema = self._write_measured(
                    self._query(_merge_sql(self._spark_columns(output), staged.name, output, merge)), location)
            if replaced is not None and keep_versions > 1 and location is not None:
                assert previous is not None
                kept.insert(0, previous.version())
            dropped = {version.location for version in kept[max(keep_versions - 1, 0):]}
            kept = kept[:max(keep_versions - 1, 0)]
            crash_point("publishing", marker.step)  # the data is written, the marker is not: nothing happened
            committed = self._write_marker(_Entry(
                marker=replace(marker, rows=rows, checksum=checksum, data_run_id=marker.data_run_id or marker.run_id),
                published_at=time.time(), location=location, view_sql=staged.sql if staged.is_view else None,
                kept=tuple(kept), schema_json=schema.json() if schema is not None and location else None))
            self._schemas.pop(output, None)
            self._register_published([output])
            self.spark.catalog.dropTempView(staged.name)
            self._written.pop(staged.name, None)
            self._schemas.pop(staged.name, None)
            staged_location = self._locations.pop(staged.name, None)
            self._remove_folders({*dropped, *(item for item in (replaced, staged_location) if item)})
        return committed.marker

    def _spark_columns(self, table: str) -> list[tuple[str, str]]:
        """(name, Spark type) of a table registered in this session, in its order."""
        self._readable([table])
        return [(field.name, field.dataType.simpleString()) for field in self.spark.table(_name(table)).schema.fields]

    def discard(self, staged: Staged) -> None:
        with self._errors("removing a staged table"):
            self.spark.catalog.dropTempView(staged.name)
            self._written.pop(staged.name, None)
            self._schemas.pop(staged.name, None)
            location = self._locations.pop(staged.name, None)
            if location and self._local:
                self._remove_local(location)

    def commit_markers(self, after_seq: int = 0) -> list[CommitMarker]:
        with self._errors("reading the commit markers"):
            self._refresh()
        return [entry.marker for entry in self._entries if (entry.marker.seq or 0) > after_seq]

    def warehouse_id(self) -> str:
        return self._id

    def versions(self, output: str) -> list[TableVersion]:
        with self._errors("reading the commit markers"):
            self._refresh()
        entry = self._current.get(output)
        if entry is None:
            return []
        marker = entry.marker
        current = TableVersion(output=output, run_id=marker.data_run_id or marker.run_id,
                               table=entry.location or output, rows=marker.rows,
                               checksum=None if entry.view_sql else marker.checksum,
                               published_at=entry.published_at, current=True)
        return [current, *(TableVersion(output=output, run_id=kept.run_id, table=kept.location, rows=kept.rows,
                                        checksum=kept.checksum, published_at=kept.published_at, current=False)
                           for kept in entry.kept)]

    def rollback(self, output: str, to_run_id: str, marker: CommitMarker) -> CommitMarker:
        with self._writing(), self._errors(f"rolling back {output}"):
            self._refresh()
            entry = self._current.get(output)
            target = next((kept for kept in entry.kept if kept.run_id == to_run_id), None) if entry else None
            if entry is None or target is None:
                raise rollback_refusal(output, to_run_id, self.versions(output))
            kept = [kept for kept in entry.kept if kept is not target]
            if entry.location is not None:
                kept.insert(0, entry.version())  # so a rollback can be rolled back
            committed = self._write_marker(_Entry(
                marker=replace(marker, rows=target.rows, checksum=target.checksum or "", data_run_id=to_run_id),
                published_at=target.published_at, location=target.location, view_sql=None, kept=tuple(kept)))
            self._schemas.pop(output, None)
            self._register_published([output])
        return committed.marker

    def staging_leftovers(self) -> list[Leftover]:
        """Version folders no marker names (staged by a run, or replaced before their removal)."""
        if not self._local:
            return []  # listing a cluster's storage needs its file system; see docs/spark.md
        with self._errors("reading the commit markers"):
            self._refresh()
        referenced = {self._path(location) for location in self._referenced()}
        tables = self._path(f"{self.warehouse}/tables")
        found: list[Leftover] = []
        for folder in sorted(tables.glob("*/*")) if tables.is_dir() else []:
            if folder.is_dir() and folder not in referenced and "-" in folder.name:
                found.append(Leftover(name=str(folder.relative_to(tables)), run_tag=folder.name.rsplit("-", 1)[0]))
        return found

    def drop_leftover(self, leftover: Leftover) -> None:
        folder = self._path(f"{self.warehouse}/tables/{leftover.name}")
        with self._errors(f"removing {leftover.name}"):
            self._refresh()
            if folder in {self._path(location) for location in self._referenced()}:
                return  # published since it was listed
            shutil.rmtree(folder)

    def export(
        self, table: str, path: Path, file_format: str, options: dict[str, Any], *,
        order_by: list[str] | None = None,
    ) -> int:
        import duckdb  # imported here: a Spark run needs DuckDB only to write files

        with self._errors(f"exporting {table} to {path.name}"):
            self._readable([table])
            arrow = self.spark.table(_name(table)).toArrow()
        # The rows are sorted and written by the same writer as on DuckDB, so the same data gives the same file.
        connection = duckdb.connect()
        try:
            connection.register(table, arrow)
            return write_file(connection, table, path, file_format, options, order_by=order_by)
        except duckdb.Error as error:
            raise StepFailed(f"exporting {table} to {path.name}: {first_line(error)}") from None
        finally:
            connection.close()

    def query(self, sql: str, *, limit: int = 1000) -> QueryResult:
        try:
            is_query = isinstance(sqlglot.parse_one(sql, read=DIALECT), exp.Query)
        except Exception:
            is_query = True  # a syntax error: let the query report it
        if not is_query:
            raise SqlError("a query on Spark only reads; this statement would change something",
                           hint="change tables through pipelines")
        with self._errors("running the query"):
            frame = self._query(self._translate(sql, output=False, name_columns=True))  # DuckDB's names and types
            rows = frame.limit(limit + 1).collect()
            columns = list(frame.columns)
        return QueryResult(columns=columns, rows=[tuple(row) for row in rows[:limit]], truncated=len(rows) > limit)

    def load_rows(self, name: str, sql: str) -> None:
        with self._errors(f"loading the rows of {name}") as ran:
            ran.sql = self._translate(sql, output=False, name_columns=True)
            frame = self._query(ran.sql)
            frame.createOrReplaceTempView(name)
            self._schemas.pop(name, None)

    def table_exists(self, name: str) -> bool:
        with self._errors("looking up a table"):
            self._readable([name])
            return bool(self.spark.catalog.tableExists(name))

    def interrupt(self) -> None:
        try:
            self.spark.interruptAll()
        except Exception:
            pass

    def close(self) -> None:
        try:
            self.spark.stop()
        except Exception:
            pass


@dataclass
class _Ran:
    """The Spark SQL a block of ``_errors`` runs, once it is known."""

    sql: str | None = None


class _SessionFiles:
    """The file reads a query writes itself, as temporary views of the backend's session (each registered
    once, read by the Spark reader an extract step uses, with DuckDB's column types)."""

    def __init__(self, backend: SparkBackend, root: str) -> None:
        self.backend = backend
        self.root = root

    def resolve(self, path: str) -> str:
        """A path as DuckDB finds it (in the project)."""
        return resolve_path(self.root, path)

    def view(self, read: FileRead) -> tuple[str, dict[str, str]]:
        """The view holding ``read``'s rows (registered now if it is not yet), and its Spark column types."""
        backend = self.backend
        name = view_name(read)
        if name not in backend._schemas:
            backend._reader_frame(read).createOrReplaceTempView(name)
            backend._schemas[name] = {field.name: field.dataType.simpleString()
                                      for field in backend.spark.table(_name(name)).schema.fields}
        return name, backend._schemas[name]


def _name(name: str) -> str:
    """A table, view or column name in Spark SQL."""
    return identifier(name, "spark")


def _tables_of(sql: str, dialect: str) -> set[str] | None:
    """The names of the tables ``sql`` reads (CTE names among them), or None when sqlglot cannot parse it."""
    try:
        return {table.name for table in sqlglot.parse_one(sql, read=dialect).find_all(exp.Table) if table.name}
    except Exception:
        return None


def _merge_sql(columns: list[tuple[str, str]], batch: str, output: str, merge: MergeSpec) -> str:
    """The Spark query giving ``output`` after merging ``batch`` into it, row for row what DuckDB's
    ``_merge_statements`` leave: the batch's columns by name, cast to the table's types."""
    table, new = _name(output), _name(batch)
    batch_rows = ", ".join(f"CAST(b.{_name(name)} AS {kind}) AS {_name(name)}" for name, kind in columns)
    same_key = " AND ".join(f"t.{_name(key)} <=> b.{_name(key)}" for key in merge.unique_key)
    if merge.on_duplicate == "skip":
        return (f"SELECT * FROM {table} UNION ALL "
                f"SELECT {batch_rows} FROM {new} AS b LEFT ANTI JOIN {table} AS t ON {same_key}")
    if merge.on_duplicate == "update":
        # DuckDB deletes the table's rows of the batch's keys unless the table's is strictly later by
        # order_by (row comparison: NULL above every value), then inserts the batch rows whose key is gone
        newer = _row_greater([f"t.{_name(c)}" for c in merge.order_by],
                             [f"b.{_name(c)}" for c in merge.order_by])
        return (f"WITH kept AS (SELECT t.* FROM {table} AS t LEFT ANTI JOIN {new} AS b ON {same_key} AND NOT ({newer})) "
                f"SELECT * FROM kept UNION ALL "
                f"SELECT {batch_rows} FROM {new} AS b LEFT ANTI JOIN kept AS t ON {same_key}")
    return f"SELECT * FROM {table} UNION ALL SELECT {batch_rows} FROM {new} AS b"  # keep, error


def _row_greater(left: list[str], right: list[str]) -> str:
    """DuckDB's ``row(left) > row(right)``, never NULL: compared in order, NULL greater than any value."""
    if not left:
        return "false"
    terms = []
    for index, (a, b) in enumerate(zip(left, right)):
        equal_before = [f"({x} <=> {y})" for x, y in zip(left[:index], right[:index])]
        greater = f"(CASE WHEN {a} IS NULL THEN {b} IS NOT NULL WHEN {b} IS NULL THEN false ELSE {a} > {b} END)"
        terms.append(" AND ".join([*equal_before, greater]))
    return " OR ".join(f"({term})" for term in terms)


def _as_duckdb_reads(frame: DataFrame, columns: list[OutputColumn] | None, names: list[str] | None) -> DataFrame:
    """The columns of a file read in DuckDB's order, with the types DuckDB's reader gives them (``columns``;
    Spark's CSV inference types small integers INT where DuckDB's sniffer says BIGINT, for one); as Spark read
    them when DuckDB cannot read the files (a path only the cluster sees). ``names``: the frame's columns
    when they are known without asking Spark."""
    if columns is None:
        return frame
    spark_names = {name.lower(): name for name in (names if names is not None else frame.columns)}
    if not all(column.name.lower() in spark_names for column in columns):
        if len(frame.columns) != len(columns) or not all(
                _same_header(column.name, spark_name, index)
                for index, (column, spark_name) in enumerate(zip(columns, frame.columns))):
            return frame  # the readers disagree on the columns themselves: leave Spark's (the data will tell)
        # a header both renamed, each its own way (a repeated name `x`, `x_1` / `x0`, `x1`; a blank one
        # `column3` / `_c3`): the same columns, by position
        frame = frame.toDF(*[column.name for column in columns])
        spark_names = {column.name.lower(): column.name for column in columns}
    projections = []
    for column in columns:
        name = _name(spark_names[column.name.lower()])
        target = column.spark_type
        projections.append(f"CAST({name} AS {target}) AS {_name(column.name)}" if target else
                           f"{name} AS {_name(column.name)}")
    return frame.selectExpr(*projections)


def _renamed_by_duckdb(name: str) -> bool:
    """Whether DuckDB's CSV reader may have named this column itself: a blank header (`column3`) or a repeated
    one (`name_1`); Spark names those its own way (`_c3`, `name1`), so they are matched by position."""
    return re.fullmatch(r"column\d+|.+_\d+", name) is not None


def _same_header(duckdb_name: str, spark_name: str, index: int) -> bool:
    """Whether the CSV column at ``index`` is one column that DuckDB and Spark named alike, or renamed each
    their own way (DuckDB `x_1` or `column3`, Spark `x1` or `_c3`: the header's name suffixed with the index)."""
    lowered, spark_lowered = duckdb_name.lower(), spark_name.lower()
    if lowered == spark_lowered:
        return True
    spark_renamed = spark_lowered == f"_c{index}" or (
        spark_lowered.endswith(str(index)) and lowered.startswith(spark_lowered[: -len(str(index))]))
    return spark_renamed and (_renamed_by_duckdb(duckdb_name) or lowered == spark_lowered[: -len(str(index))])


def _sampled(spark_sql: str, sample: int) -> str:
    """A check query's first ``sample`` rows, each with how many rows it returns in all."""
    return f"SELECT *, count(*) OVER () AS __fd_failing FROM (\n{spark_sql}\n) AS failing LIMIT {int(sample)}"


def _measures(columns: list[str]) -> tuple[str, str]:
    """The row count and the order-independent checksum of rows of ``columns``, as Spark SQL aggregates."""
    digest = f"xxhash64({identifiers(columns, dialect='spark')})" if columns else "0"
    return "count(1)", f"coalesce(sum(CAST({digest} AS DECIMAL(38, 0))), 0)"


def _measure(frame: DataFrame) -> tuple[int, str]:
    """Row count and checksum of ``frame``, in one pass."""
    count, digest = _measures(list(frame.columns))
    row = frame.selectExpr(f"{count} AS n", f"{digest} AS c").collect()[0]
    return int(row["n"]), str(row["c"])


def _struct(schema_json: str) -> StructType:
    """A Spark schema from its JSON (``StructType.json()``)."""
    from pyspark.sql.types import StructType

    return StructType.fromJson(json.loads(schema_json))


def _types(schema: StructType) -> dict[str, str]:
    """Column → Spark type (``simpleString``), as the typing of a query wants a table's columns."""
    return {field.name: field.dataType.simpleString() for field in schema.fields}


def _hint_for(text: str) -> str | None:
    if "DIVIDE_BY_ZERO" in text:
        return "a zero divisor; guard it with NULLIF(divisor, 0)"
    if "PATH_NOT_FOUND" in text:
        return "check the source path: on a cluster it must be a path the cluster sees (s3a://, hdfs://)"
    if "CAST_INVALID_INPUT" in text or "CAST_OVERFLOW" in text:
        return "a value does not fit its type; TRY_CAST returns NULL instead of failing"
    if "UNRESOLVED_COLUMN" in text:
        return "check the column name against the tables the query reads"
    return None


__all__ = ["SparkBackend", "open_spark_backend", "warehouse_root"]
