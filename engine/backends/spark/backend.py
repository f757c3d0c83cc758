"""The Spark backend: each step's SQL transpiled to Spark SQL; flowdeck owns storage and publishing.

Published outputs are Parquet datasets under the Spark warehouse
(``<warehouse>/tables/<output>/<version>/``). Publishing writes a commit marker (run, step,
output, rows, checksum, location) as one file under ``<warehouse>/_flowdeck/commits/``: the
marker *is* the commit, so a table's current version is the newest marker that names it,
and data nobody's marker points to was never published. Each backend opens its own Spark
Connect session and registers the published outputs in it as temporary views, so steps read
them by name, as they do in DuckDB.
"""

from __future__ import annotations

import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.backends.base import Backend, CommitMarker, Failing, FileRead, QueryResult, Staged
from engine.backends.duckdb_backend import STAGE_PREFIX, write_file
from engine.backends.spark.session import connect, first_line
from engine.backends.spark.sources import reader_options
from engine.backends.spark.transpile import Transpiled, transpile
from engine.errors import SqlError, StepFailed
from engine.sql.analysis import DIALECT

if TYPE_CHECKING:
    from pyspark.sql.connect.dataframe import DataFrame
    from pyspark.sql.connect.session import SparkSession

    from engine.project.project import Project

_MARKER_FIELDS = "run_id STRING, step STRING, output STRING, rows BIGINT, checksum STRING, location STRING, " \
                 "view_sql STRING, committed_at STRING"


def warehouse_root(project: Project) -> str:
    """Where this project's Spark outputs live: ``spark.warehouse``, or spark-warehouse in the runtime dir."""
    configured = project.config.spark.warehouse
    if configured is None:
        return str(project.runtime_dir / "spark-warehouse")
    return configured if "://" in configured else str(project.resolve_path(configured))


def open_spark_backend(project: Project) -> SparkBackend:
    """A Spark backend on the project's configured server (started in-process in master mode)."""
    return SparkBackend(connect(project.config.spark), warehouse_root(project))


class SparkBackend(Backend):
    """Stage, check, publish and export with Spark, through one Spark Connect session."""

    name = "spark"

    def __init__(self, session: SparkSession, warehouse: str) -> None:
        self.spark = session
        self.warehouse = warehouse.rstrip("/")
        self._locations: dict[str, str] = {}  # staging view → its Parquet location
        self._schemas: dict[str, dict[str, str]] = {}
        self._publish_lock = threading.Lock()
        self._current: dict[str, dict[str, Any]] = {}  # output → its current commit marker
        with self._errors("opening the Spark warehouse"):
            self._register_published()

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def _commits_dir(self) -> str:
        return f"{self.warehouse}/_flowdeck/commits"

    @property
    def _local(self) -> bool:
        return "://" not in self.warehouse or self.warehouse.startswith("file://")

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except StepFailed:
            raise
        except Exception as error:
            text = first_line(error)
            transient = any(word in text for word in ("UNAVAILABLE", "Connection refused", "DEADLINE_EXCEEDED"))
            if "OPERATION_CANCELED" in text or "cancelled" in text.lower():
                raise StepFailed(f"{doing}: interrupted (the run was canceled)") from None
            raise StepFailed(f"{doing}: {text}", transient=transient, hint=_hint_for(text)) from None

    def _register_published(self) -> None:
        """Make every published output readable by name in this session, newest marker winning."""
        for marker in self.commits():
            self._current[marker["output"]] = marker
            if marker["view_sql"]:
                try:
                    self.spark.sql(f"CREATE OR REPLACE TEMP VIEW `{marker['output']}` AS {marker['view_sql']}")
                except Exception:
                    continue  # a view over a table that no longer exists; the next publish replaces it
            elif marker["location"]:
                self.spark.read.parquet(marker["location"]).createOrReplaceTempView(marker["output"])

    def commits(self) -> list[dict[str, Any]]:
        """The current commit marker of every published output, oldest first."""
        if self._local and not Path(self._commits_dir.removeprefix("file://")).exists():
            return []
        try:
            rows = self.spark.read.schema(_MARKER_FIELDS).json(self._commits_dir).collect()
        except Exception as error:
            if "PATH_NOT_FOUND" in str(error):
                return []
            raise
        latest: dict[str, dict[str, Any]] = {}
        for row in sorted((row.asDict() for row in rows), key=lambda marker: marker["committed_at"] or ""):
            latest[row["output"]] = row
        return sorted(latest.values(), key=lambda marker: marker["committed_at"] or "")

    def _translate(self, sql: str, *, output: bool) -> str:
        translated = transpile(sql, schema=self._schema_of(sql), schema_dialect="spark", output=output)
        if translated.refused:
            raise StepFailed(_refusal(translated), hint=f"use {translated.findings[0].rule.alternative}")
        return translated.sql

    def _schema_of(self, sql: str) -> dict[str, dict[str, str]]:
        """Types of the tables ``sql`` reads, from Spark (so type-dependent rewrites can decide)."""
        import sqlglot
        from sqlglot import exp

        schema: dict[str, dict[str, str]] = {}
        try:
            names = {table.name for table in sqlglot.parse_one(sql, read=DIALECT).find_all(exp.Table) if table.name}
        except Exception:
            return schema
        for name in names:
            if name not in self._schemas:
                try:
                    fields = self.spark.table(f"`{name}`").schema.fields
                except Exception:
                    continue  # a CTE or a table this session does not know: no types
                self._schemas[name] = {field.name: field.dataType.simpleString() for field in fields}
            schema[name] = self._schemas[name]
        return schema

    @staticmethod
    def stage_name(run_id: str, output: str) -> str:
        """The private name a run builds ``output`` under (the same as on DuckDB)."""
        return f"{STAGE_PREFIX}{output}__{re.sub(r'[^A-Za-z0-9]', '_', run_id)}"

    def _write_staged(self, run_id: str, output: str, frame: DataFrame) -> Staged:
        name = self.stage_name(run_id, output)
        version = f"{re.sub(r'[^A-Za-z0-9]', '_', run_id)}-{uuid.uuid4().hex[:8]}"
        location = f"{self.warehouse}/tables/{output}/{version}"
        frame.write.parquet(location)  # a fresh version folder: never overwrites
        staged_frame = self.spark.read.parquet(location)
        staged_frame.createOrReplaceTempView(name)
        self._locations[name] = location
        self._schemas.pop(name, None)
        rows, checksum = _measure(staged_frame)
        return Staged(name=name, rows=rows, checksum=checksum)

    # -- Backend -------------------------------------------------------------------------------

    def stage_query(self, run_id: str, output: str, sql: str, *, view: bool = False) -> Staged:
        with self._errors(f"building {output}"):
            spark_sql = self._translate(sql, output=True)
            if view:
                name = self.stage_name(run_id, output)
                self.spark.sql(f"CREATE OR REPLACE TEMP VIEW `{name}` AS {spark_sql}")
                self._schemas.pop(name, None)
                return Staged(name=name, rows=None, checksum="view", is_view=True, sql=spark_sql)
            return self._write_staged(run_id, output, self.spark.sql(spark_sql))

    def stage_files(self, run_id: str, output: str, read: FileRead) -> Staged:
        with self._errors(f"reading the files of {output}"):
            frame = self._reader_frame(read)
            return self._write_staged(run_id, output, frame)

    def file_query(self, read: FileRead) -> str:
        """The files as a temporary view read by spark.read, and the (DuckDB-dialect) SELECT of it."""
        import hashlib

        name = "__fd_files_" + hashlib.sha256(repr(read).encode()).hexdigest()[:16]
        with self._errors("reading the source files"):
            self._reader_frame(read).createOrReplaceTempView(name)
        self._schemas.pop(name, None)
        return f'SELECT * FROM "{name}"'

    def _reader_frame(self, read: FileRead) -> DataFrame:
        options, schema = reader_options(read)
        reader = self.spark.read.format(read.format).options(**options)
        if schema:
            reader = reader.schema(schema)
        frame = reader.load(read.paths if len(read.paths) > 1 else read.paths[0])
        if read.filename:  # DuckDB's `filename` column: the path of the file each row came from
            frame = frame.selectExpr("*", "regexp_replace(_metadata.file_path, '^file:(//)?', '') AS filename")
        return frame

    def arrow_batches(self, table: str) -> Any:
        """The rows of ``table`` as a pyarrow RecordBatchReader (fetched through Spark Connect's Arrow stream)."""
        with self._errors(f"reading {table}"):
            return self.spark.table(f"`{table}`").toArrow().to_reader()

    def failing_rows(self, sql: str, *, sample: int = 5) -> Failing:
        with self._errors("running a check"):
            spark_sql = self._translate(sql, output=False)
            rows = self.spark.sql(
                f"SELECT *, count(*) OVER () AS __fd_failing FROM (\n{spark_sql}\n) AS failing LIMIT {int(sample)}"
            ).collect()
        if not rows:
            return Failing(count=0, sample=[])
        samples = [{key: value for key, value in row.asDict().items() if key != "__fd_failing"} for row in rows]
        return Failing(count=int(rows[0]["__fd_failing"]), sample=samples)

    def publish(self, staged: Staged, output: str, marker: CommitMarker) -> None:
        with self._publish_lock, self._errors(f"publishing {output}"):
            location = self._locations.get(staged.name)
            record = (marker.run_id, marker.step, marker.output, marker.rows, marker.checksum,
                      None if staged.is_view else location, staged.sql if staged.is_view else None,
                      datetime.now(timezone.utc).isoformat(timespec="microseconds"))
            previous = self._current.get(output)
            # The marker is the commit: one file, written whole, naming the new version.
            self.spark.createDataFrame([record], schema=_MARKER_FIELDS).coalesce(1).write.mode("append").json(
                self._commits_dir)
            if staged.is_view:
                self.spark.sql(f"CREATE OR REPLACE TEMP VIEW `{output}` AS {staged.sql}")
            else:
                self.spark.read.parquet(location).createOrReplaceTempView(output)
            self.spark.catalog.dropTempView(staged.name)
            self._current[output] = dict(zip(("run_id", "step", "output", "rows", "checksum", "location", "view_sql",
                                               "committed_at"), record))
            self._schemas.pop(output, None)
            self._locations.pop(staged.name, None)
            if previous is not None:
                self._prune(output, keep={location, previous["location"]})

    def _prune(self, output: str, keep: set[str | None]) -> None:
        """Remove versions older than the previous one (on a local warehouse; a cluster's is left alone)."""
        if not self._local:
            return
        folder = Path(f"{self.warehouse}/tables/{output}".removeprefix("file://"))
        kept = [Path(str(location).removeprefix("file://")) for location in keep if location]
        if not folder.is_dir() or not kept:
            return
        oldest_kept = min(path.stat().st_mtime for path in kept if path.exists()) if any(p.exists() for p in kept) else 0
        for version in folder.iterdir():
            # only versions older than both kept ones: a newer one may be another run's staged data
            if version not in kept and version.stat().st_mtime < oldest_kept:
                shutil.rmtree(version, ignore_errors=True)

    def discard(self, staged: Staged) -> None:
        with self._errors("removing a staged table"):
            self.spark.catalog.dropTempView(staged.name)
            location = self._locations.pop(staged.name, None)
            if location and self._local:
                shutil.rmtree(location.removeprefix("file://"), ignore_errors=True)

    def export(self, table: str, path: Path, file_format: str, options: dict[str, Any]) -> int:
        import duckdb

        with self._errors(f"exporting {table} to {path.name}"):
            arrow = self.spark.table(f"`{table}`").toArrow()
        # The file is written by the same writer as on DuckDB, so it is byte-for-byte the same kind of file.
        connection = duckdb.connect()
        try:
            connection.register(table, arrow)
            return write_file(connection, table, path, file_format, options)
        finally:
            connection.close()

    def query(self, sql: str, *, limit: int = 1000) -> QueryResult:
        import sqlglot
        from sqlglot import exp

        try:
            is_query = isinstance(sqlglot.parse_one(sql, read=DIALECT), exp.Query)
        except Exception:
            is_query = True  # a syntax error: let the query report it
        if not is_query:
            raise SqlError("a query on Spark only reads; this statement would change something",
                           hint="change tables through pipelines")
        with self._errors("running the query"):
            frame = self.spark.sql(self._translate(sql, output=False))
            rows = frame.limit(limit + 1).collect()
            columns = list(frame.columns)
        return QueryResult(columns=columns, rows=[tuple(row) for row in rows[:limit]], truncated=len(rows) > limit)

    def table_exists(self, name: str) -> bool:
        with self._errors("looking up a table"):
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


def _measure(frame: DataFrame) -> tuple[int, str]:
    """Row count and an order-independent checksum of the staged data, in one pass."""
    columns = ", ".join("`" + name.replace("`", "``") + "`" for name in frame.columns)
    digest = f"xxhash64({columns})" if columns else "0"
    row = frame.selectExpr("count(1) AS n", f"coalesce(sum(CAST({digest} AS DECIMAL(38, 0))), 0) AS c").collect()[0]
    return int(row["n"]), str(row["c"])


def _refusal(translated: Transpiled) -> str:
    finding = translated.findings[0]
    return f"line {finding.line}: {finding.message()}"


def _hint_for(text: str) -> str | None:
    if "DIVIDE_BY_ZERO" in text:
        return "a zero divisor; guard it with NULLIF(divisor, 0)"
    if "PATH_NOT_FOUND" in text:
        return "check the source path: on a cluster it must be a path the cluster sees (s3a://, hdfs://)"
    if "CAST_INVALID_INPUT" in text or "CAST_OVERFLOW" in text:
        return "a value does not fit its type; TRY_CAST returns NULL instead of failing"
    if "UNRESOLVED_COLUMN" in text:
        return "check the column name against the upstream table"
    return None


__all__ = ["SparkBackend", "open_spark_backend", "warehouse_root"]
