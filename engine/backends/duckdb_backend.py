"""The DuckDB backend: the warehouse is one DuckDB file, held by one process at a time.

Steps build into staging tables named with the run id, in the same schema as their output,
so publishing is a rename inside one transaction (no copy) together with the commit marker.
Each thread works through its own cursor, so independent steps run in parallel.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from engine.backends.base import Backend, CommitMarker, Failing, FileRead, QueryResult, Staged
from engine.errors import ConfigError, FlowdeckError, StepFailed, WarehouseBusy
from engine.masking import mask

META_SCHEMA = "_flowdeck"
STAGE_PREFIX = "__fd_stage__"
ARROW_BATCH_ROWS = 64 * 1024
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")
_READERS = {"csv": "read_csv", "parquet": "read_parquet", "json": "read_json"}

WaitCallback = Callable[[int | None, float], None]


def quote(name: str) -> str:
    """A DuckDB identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str:
    """A DuckDB literal for an option value (strings, numbers, booleans, lists, maps)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(str(key))}: {literal(item)}" for key, item in value.items()) + "}"
    return "'" + str(value).replace("'", "''") + "'"


def lock_holder_pid(error: BaseException) -> int | None:
    """The PID named by DuckDB's "Could not set lock" error, if it is one."""
    match = _LOCK_HOLDER.search(str(error))
    return int(match["pid"]) if match else None


def connect_warehouse(
    path: Path,
    *,
    read_only: bool = False,
    timeout: float = 60.0,
    on_wait: WaitCallback | None = None,
    config: dict[str, Any] | None = None,
    encryption_key: str | None = None,
    extension_directory: Path | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, waiting up to ``timeout`` seconds while another process holds it.

    ``on_wait(pid, waited)`` is called about once a second while waiting, so the caller can
    say who holds it. Never lets DuckDB's raw lock error through. With ``encryption_key`` the
    file is attached as an encrypted database (see ``_attach_encrypted``).
    """
    started = time.monotonic()
    next_report = 0.0
    while True:
        try:
            if read_only and not path.exists():
                raise WarehouseBusy(
                    f"the warehouse {path} does not exist yet", hint="run a pipeline first: `flowdeck run PIPELINE`"
                )
            if encryption_key is not None:
                return _attach_encrypted(path, encryption_key, read_only=read_only, config=config or {},
                                         extension_directory=extension_directory)
            return duckdb.connect(str(path), read_only=read_only, config=config or {})
        except duckdb.CatalogException as error:
            if "encrypted database" in str(error):
                raise ConfigError(f"the warehouse {path} is encrypted, and flowdeck.yaml does not say so",
                                  hint="set `warehouse.encrypt: true` (and `encryption_key:`) in flowdeck.yaml") from None
            raise
        except duckdb.IOException as error:
            pid = lock_holder_pid(error)
            if pid is None:
                raise StepFailed(f"cannot open the warehouse {path}: {mask(_first_line(error))}", transient=True) from None
            waited = time.monotonic() - started
            if waited >= timeout:
                raise WarehouseBusy(
                    f"the warehouse {path} is held by process {pid}, and it did not let go within {timeout:.0f}s",
                    hint="wait for that run to finish (`flowdeck runs --status running`), "
                    "or raise warehouse.lock_timeout in flowdeck.yaml",
                ) from None
            if on_wait is not None and waited >= next_report:
                on_wait(pid, waited)
                next_report = waited + 1.0
            time.sleep(min(0.1 + waited / 10, 0.5))


def _attach_encrypted(path: Path, key: str, *, read_only: bool, config: dict[str, Any],
                      extension_directory: Path | None) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with the warehouse attached, decrypted with ``key``, as its default database.

    Reading uses DuckDB's built-in crypto module. Writing needs httpfs (OpenSSL): without it
    DuckDB would only write with a cipher it calls unsafe, so flowdeck refuses instead.
    """
    if extension_directory is not None:
        config = {**config, "extension_directory": str(extension_directory), "autoinstall_known_extensions": False,
                  "autoload_known_extensions": False}
    connection = duckdb.connect(":memory:", config=config)
    try:
        if not read_only:
            load_crypto_extension(connection, extension_directory)
        options = f"ENCRYPTION_KEY {literal(key)}" + (", READ_ONLY" if read_only else "")
        try:
            connection.execute(f"ATTACH {literal(str(path))} AS warehouse ({options})")
        except duckdb.InvalidInputException as error:
            if "encryption key" in str(error).lower():
                raise ConfigError(f"the warehouse key does not open {path}",
                                  hint="check the secret named by warehouse.encryption_key") from None
            raise ConfigError(f"cannot open the encrypted warehouse {path}: {mask(_first_line(error))}",
                              hint="a warehouse created without encryption must be copied into an encrypted one "
                              "(see docs/security.md)") from None
        connection.execute("USE warehouse")
    except BaseException:
        connection.close()
        raise
    return connection


def load_crypto_extension(connection: duckdb.DuckDBPyConnection, extension_directory: Path | None) -> None:
    """Load httpfs, which gives DuckDB the crypto module it needs to write encrypted files; refuse plainly if it cannot."""
    try:
        connection.execute("LOAD httpfs")
        return
    except duckdb.Error as error:
        reason = _first_line(error)
    if extension_directory is None:
        try:  # from DuckDB's extension repository (needs the network)
            connection.execute("INSTALL httpfs")
            connection.execute("LOAD httpfs")
            return
        except duckdb.Error as error:
            reason = _first_line(error)
    where = f"the extension directory {extension_directory}" if extension_directory else "DuckDB's extension repository"
    raise EncryptionUnavailable(
        f"`warehouse.encrypt: true` needs DuckDB's httpfs extension to write an encrypted warehouse, "
        f"and it could not be loaded from {where}: {reason}",
        hint=(f"put httpfs.duckdb_extension built for DuckDB v{duckdb.__version__} ({_platform(connection)}) in "
              f"{extension_directory or '<dir>'}/v{duckdb.__version__}/{_platform(connection)}/ "
              "(on a machine with network: `INSTALL httpfs` in DuckDB, then copy it from ~/.duckdb/extensions), "
              "and set warehouse.extension_directory; flowdeck will not write a weakly encrypted warehouse "
              "instead, and will not write it unencrypted while `encrypt: true` is set"),
    )


def _platform(connection: duckdb.DuckDBPyConnection) -> str:
    try:
        row = connection.execute("SELECT platform FROM pragma_platform()").fetchone()
        return str(row[0]) if row else "?"
    except duckdb.Error:
        return "?"


class EncryptionUnavailable(FlowdeckError):
    """An encrypted warehouse was asked for, and DuckDB cannot write one securely here."""


class DuckDBBackend(Backend):
    """Stage, check, publish and export with DuckDB."""

    name = "duckdb"

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self._connection = connection
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursors_lock = threading.Lock()
        self._publish_lock = threading.Lock()
        self._ensure_meta_schema()

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        timeout: float = 60.0,
        on_wait: WaitCallback | None = None,
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_directory: Path | None = None,
    ) -> DuckDBBackend:
        """Open the warehouse for writing (see ``connect_warehouse``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {}
        if threads:
            config["threads"] = threads
        if memory_limit:
            config["memory_limit"] = memory_limit
        if temp_directory:
            config["temp_directory"] = str(temp_directory)
        return cls(connect_warehouse(path, timeout=timeout, on_wait=on_wait, config=config))

    # -- plumbing ------------------------------------------------------------------------------

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._connection.cursor()
            self._local.cursor = cursor
            with self._cursors_lock:
                self._cursors.append(cursor)
        return cursor

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except duckdb.InterruptException:
            raise StepFailed(f"{doing}: interrupted (the run was canceled)") from None
        except duckdb.IOException as error:
            raise StepFailed(f"{doing}: {mask(_first_line(error))}", transient=True) from None
        except duckdb.Error as error:
            raise StepFailed(f"{doing}: {mask(_first_line(error))}", hint=_hint_for(error)) from None

    def _ensure_meta_schema(self) -> None:
        self._connection.execute(f"CREATE SCHEMA IF NOT EXISTS {META_SCHEMA}")
        self._connection.execute(
            f"""CREATE TABLE IF NOT EXISTS {META_SCHEMA}.commits (
                    run_id VARCHAR NOT NULL, step VARCHAR NOT NULL, output VARCHAR NOT NULL,
                    rows BIGINT, checksum VARCHAR NOT NULL,
                    committed_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT current_timestamp)"""
        )

    @staticmethod
    def stage_name(run_id: str, output: str) -> str:
        """The private name a run builds ``output`` under."""
        return f"{STAGE_PREFIX}{output}__{re.sub(r'[^A-Za-z0-9]', '_', run_id)}"

    def _measure(self, relation: str) -> tuple[int, str]:
        rows, checksum = self._cursor().execute(
            f"SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0)::VARCHAR FROM {quote(relation)} AS t"
        ).fetchone()  # type: ignore[misc]
        return int(rows), str(checksum)

    # -- Backend -------------------------------------------------------------------------------

    def stage_query(self, run_id: str, output: str, sql: str, *, view: bool = False) -> Staged:
        name = self.stage_name(run_id, output)
        kind = "VIEW" if view else "TABLE"
        with self._errors(f"building {output}"):
            cursor = self._cursor()
            cursor.execute(f"DROP {kind} IF EXISTS {quote(name)}")
            cursor.execute(f"CREATE {kind} {quote(name)} AS\n{sql}\n")
            rows, checksum = (None, "view") if view else self._measure(name)
        return Staged(name=name, rows=rows, checksum=checksum, is_view=view, sql=sql if view else None)

    def stage_files(self, run_id: str, output: str, read: FileRead) -> Staged:
        return self.stage_query(run_id, output, self.file_query(read))

    def file_query(self, read: FileRead) -> str:
        reader = _READERS[read.format]
        options = dict(read.options)
        if read.hive_partitioning:
            options["hive_partitioning"] = True
        if read.filename:
            options["filename"] = True
        arguments = ", ".join([literal(read.paths), *(f"{key} = {literal(value)}" for key, value in options.items())])
        return f"SELECT * FROM {reader}({arguments})"

    def failing_rows(self, sql: str, *, sample: int = 5) -> Failing:
        with self._errors("running a check"):
            cursor = self._cursor().execute(
                f"SELECT *, count(*) OVER () AS __fd_failing FROM (\n{sql}\n) AS failing LIMIT {int(sample)}"
            )
            columns = [column[0] for column in cursor.description or []]
            rows = cursor.fetchall()
        if not rows:
            return Failing(count=0, sample=[])
        count = int(rows[0][-1])
        return Failing(count=count, sample=[dict(zip(columns[:-1], row[:-1])) for row in rows])

    def publish(self, staged: Staged, output: str, marker: CommitMarker) -> None:
        with self._publish_lock, self._errors(f"publishing {output}"):
            cursor = self._cursor()
            existing = self._relation_kind(output)
            cursor.execute("BEGIN TRANSACTION")
            try:
                if existing:
                    cursor.execute(f"DROP {existing} {quote(output)}")
                if staged.is_view:
                    cursor.execute(f"CREATE VIEW {quote(output)} AS\n{staged.sql}\n")
                    cursor.execute(f"DROP VIEW {quote(staged.name)}")
                else:
                    cursor.execute(f"ALTER TABLE {quote(staged.name)} RENAME TO {quote(output)}")
                cursor.execute(
                    f"INSERT INTO {META_SCHEMA}.commits (run_id, step, output, rows, checksum) VALUES (?, ?, ?, ?, ?)",
                    [marker.run_id, marker.step, marker.output, marker.rows, marker.checksum],
                )
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise

    def discard(self, staged: Staged) -> None:
        kind = "VIEW" if staged.is_view else "TABLE"
        with self._errors("removing a staged table"):
            self._cursor().execute(f"DROP {kind} IF EXISTS {quote(staged.name)}")

    def export(self, table: str, path: Path, file_format: str, options: dict[str, Any]) -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
        settings = ", ".join([f"FORMAT {file_format}", *(f"{key} {literal(value)}" for key, value in options.items())])
        try:
            with self._errors(f"exporting {table} to {path.name}"):
                result = self._cursor().execute(
                    f"COPY (SELECT * FROM {quote(table)}) TO {literal(str(partial))} ({settings})"
                ).fetchone()
            with open(partial, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(partial, path)  # the real name only ever holds a complete file
        finally:
            partial.unlink(missing_ok=True)
        return int(result[0]) if result else 0

    def arrow_batches(self, table: str) -> Any:
        with self._errors(f"reading {table}"):
            return self._cursor().sql(f"SELECT * FROM {quote(table)}").to_arrow_reader(batch_size=ARROW_BATCH_ROWS)

    def query(self, sql: str, *, limit: int = 1000) -> QueryResult:
        with self._errors("running the query"):
            cursor = self._cursor().execute(sql)
            columns = [column[0] for column in cursor.description or []]
            rows = cursor.fetchmany(limit + 1) if cursor.description else []
        return QueryResult(columns=columns, rows=rows[:limit], truncated=len(rows) > limit)

    def table_exists(self, name: str) -> bool:
        return self._relation_kind(name) is not None

    def _relation_kind(self, name: str) -> str | None:
        row = self._cursor().execute(
            "SELECT table_type FROM information_schema.tables "
            "WHERE table_catalog = current_database() AND table_schema = 'main' AND table_name = ?", [name]
        ).fetchone()
        if row is None:
            return None
        return "VIEW" if row[0] == "VIEW" else "TABLE"

    def interrupt(self) -> None:
        with self._cursors_lock:
            for cursor in self._cursors:
                try:
                    cursor.interrupt()
                except duckdb.Error:
                    pass

    def close(self) -> None:
        with self._cursors_lock:
            for cursor in self._cursors:
                try:
                    cursor.close()
                except duckdb.Error:
                    pass
            self._cursors.clear()
        self._connection.close()


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _hint_for(error: duckdb.Error) -> str | None:
    text = str(error)
    if "No files found that match the pattern" in text:
        return "check the source path and glob in pipeline.yaml; paths are relative to the project"
    if "Could not convert string" in text or "Conversion Error" in text:
        return "a value does not fit its column type; cast it explicitly (TRY_CAST returns NULL instead of failing)"
    if "Referenced column" in text or "not found in FROM clause" in text:
        return "check the column name against the upstream table (`flowdeck query \"DESCRIBE table\"`)"
    return None
