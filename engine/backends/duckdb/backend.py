"""The DuckDB backend: the warehouse is one DuckDB file, held by one process at a time.

Steps build into staging tables named with the run id, in the same schema as their output,
so publishing is a rename inside one transaction (no copy) together with the commit marker.
The table it replaces is renamed to a version name rather than dropped, so a rollback is a
rename too. Each thread works through its own cursor, so independent steps run in parallel.

Bookkeeping lives in the ``_flowdeck`` schema: ``info`` (the warehouse id), ``commits`` (the
commit markers, numbered by a sequence) and ``versions`` (which kept table holds which run's data).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from flowdeck.engine.backends.base import (
    ARROW_RELATION,
    STAGE_PREFIX,
    Backend,
    CommitMarker,
    Failing,
    FileRead,
    Incoming,
    Leftover,
    MergeSpec,
    QueryResult,
    Staged,
    TableVersion,
    rollback_refusal,
    run_tag,
)
from flowdeck.engine.backends.duckdb.confinement import refuse_side_effects
from flowdeck.engine.backends.duckdb.seal import WarehouseFacts, write_seal
from flowdeck.engine.backends.files import reader_sql, write_file
from flowdeck.engine.debug_hooks import crash_point
from flowdeck.engine.errors import (
    ConfigError,
    DamagedFile,
    FlowdeckError,
    NotFound,
    SqlError,
    StepFailed,
    UnknownColumn,
    WarehouseBusy,
    restore_hint,
)
from flowdeck.engine.masking import mask
from flowdeck.engine.sql.render import identifier, identifiers, string

META_SCHEMA = "_flowdeck"
# where a development environment's connection has prod's warehouse attached, read-only (warehouse.py)
PROD_CATALOG = "fd_prod"
VERSION_PREFIX = "__fd_v__"
ARROW_BATCH_ROWS = 64 * 1024
_COMMIT_COLUMNS = "seq, run_id, step, output, kind, data_run_id, base_run_id, rows, checksum, state_json, committed_at"
# The tables and views of every attached database's main schema: what information_schema.tables lists (it is a view
# of these two), read without binding that view, which costs DuckDB ~1 ms more a statement; a run asks often
_RELATIONS = ("SELECT database_name, table_name AS name, 'TABLE' AS kind FROM duckdb_tables() WHERE schema_name = 'main' "
              "UNION ALL SELECT database_name, view_name, 'VIEW' FROM duckdb_views() WHERE schema_name = 'main'")
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")

WaitCallback = Callable[[int | None, float], None]


def progress_cursors(connection: duckdb.DuckDBPyConnection, count: int) -> list[duckdb.DuckDBPyConnection]:
    """``count`` cursors that track their queries' progress, made before the configuration is locked
    (``open_warehouse(before_lock=...)``), for ``DuckDBBackend(cursors=...)``."""
    cursors = [connection.cursor() for _ in range(count)]
    for cursor in cursors:
        _track_progress(cursor)
    return cursors


def _track_progress(cursor: duckdb.DuckDBPyConnection) -> None:
    # DuckDB tracks a query's progress only with the progress bar on (its printing stays off)
    cursor.execute("SET enable_progress_bar = true")
    cursor.execute("SET enable_progress_bar_print = false")


def lock_holder_pid(error: BaseException) -> int | None:
    """The PID named by DuckDB's "Could not set lock" error, if it is one."""
    match = _LOCK_HOLDER.search(str(error))
    return int(match["pid"]) if match else None


class LockWait:
    """Waiting for a DuckDB file another process holds (DuckDB lets no other process open a file a writer
    holds, not even read-only): say who holds it about once a second, give up after ``timeout`` seconds."""

    def __init__(self, what: str, timeout: float, on_wait: WaitCallback | None, *, why: str = "") -> None:
        self.what = what  # "the warehouse /path/warehouse.duckdb"
        self.timeout = timeout
        self.on_wait = on_wait
        self.why = why  # said after the refusal: why this file is needed at all
        self.started = time.monotonic()
        self.next_report = 0.0

    def held_by(self, pid: int) -> None:
        """The file is held by ``pid``: raise ``WarehouseBusy`` once the time is up, else report and pause."""
        waited = time.monotonic() - self.started
        if waited >= self.timeout:
            raise WarehouseBusy(
                f"{self.what} is held by process {pid}, and it did not let go within {self.timeout:.0f}s{self.why}",
                hint="wait for that run to finish (`flowdeck runs --status running`), "
                "or raise warehouse.lock_timeout in flowdeck.yaml",
                holder_pid=pid,
            ) from None
        if self.on_wait is not None and waited >= self.next_report:
            self.on_wait(pid, waited)
            self.next_report = waited + 1.0
        time.sleep(min(0.1 + waited / 10, 0.5))


def connect_warehouse(
    path: Path,
    *,
    read_only: bool = False,
    timeout: float = 60.0,
    on_wait: WaitCallback | None = None,
    config: dict[str, Any] | None = None,
    encryption_key: str | None = None,
    extension_directory: Path | None = None,
    attach_as: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, waiting up to ``timeout`` seconds while another process holds it.

    ``on_wait(pid, waited)`` is called about once a second while waiting, so the caller can
    say who holds it. Never lets DuckDB's raw lock error through. With ``encryption_key`` the
    file is attached as an encrypted database (see ``_attach_encrypted``); with ``attach_as`` it is
    attached under that name (to an in-memory connection that can attach more beside it).
    """
    waiting = LockWait(f"the warehouse {path}", timeout, on_wait)
    while True:
        try:
            if read_only and not path.exists():
                raise NotFound(
                    f"the warehouse {path} does not exist yet", hint="run a pipeline first: `flowdeck run PIPELINE`"
                )
            if encryption_key is not None or attach_as is not None:
                return _attach_encrypted(path, encryption_key, read_only=read_only, config=config or {},
                                         extension_directory=extension_directory, name=attach_as or "warehouse")
            return duckdb.connect(str(path), read_only=read_only, config=config or {})
        except duckdb.CatalogException as error:
            if "encrypted database" in str(error):
                raise ConfigError(f"the warehouse {path} is encrypted, and flowdeck.yaml does not say so",
                                  hint="set `warehouse.encrypt: true` (and `encryption_key:`) in flowdeck.yaml") from None
            raise
        except duckdb.IOException as error:
            pid = lock_holder_pid(error)
            if pid is None and _damaged(error):
                raise DamagedFile(f"the warehouse {path} is damaged: DuckDB says \"{mask(_first_line(error))}\"",
                                  hint=restore_hint(path.parent)) from None
            if pid is None:
                raise StepFailed(f"cannot open the warehouse {path}: {mask(_first_line(error))}", transient=True) from None
            waiting.held_by(pid)


def _damaged(error: Exception) -> bool:
    """Whether DuckDB refused a file because it is not (or no longer) a valid database."""
    text = str(error)
    return "not a valid DuckDB database file" in text or "Corrupt database file" in text or "checksum" in text.lower()


def _attach_encrypted(path: Path, key: str | None, *, read_only: bool, config: dict[str, Any],
                      extension_directory: Path | None, name: str = "warehouse") -> duckdb.DuckDBPyConnection:
    """An in-memory connection with the warehouse attached as ``name``, decrypted with ``key`` (None: not
    encrypted), as its default database.

    Reading uses DuckDB's built-in crypto module. Writing needs httpfs (OpenSSL): without it
    DuckDB would only write with a cipher it calls unsafe, so flowdeck refuses instead.
    """
    if extension_directory is not None:
        config = {**config, "extension_directory": str(extension_directory), "autoinstall_known_extensions": False,
                  "autoload_known_extensions": False}
    connection = duckdb.connect(":memory:", config=config)
    try:
        if not read_only and key is not None:
            load_crypto_extension(connection, extension_directory)
        options = ", ".join(([f"ENCRYPTION_KEY {string(key)}"] if key is not None else []) +
                            (["READ_ONLY"] if read_only else []))
        try:
            connection.execute(f"ATTACH {string(str(path))} AS {identifier(name)}" + (f" ({options})" if options else ""))
        except duckdb.InvalidInputException as error:
            if "encryption key" in str(error).lower():
                raise ConfigError(f"the warehouse key does not open {path}",
                                  hint="check the secret named by warehouse.encryption_key") from None
            raise ConfigError(f"cannot open the encrypted warehouse {path}: {mask(_first_line(error))}",
                              hint="a warehouse created without encryption must be copied into an encrypted one "
                              "(see docs/security.md)") from None
        connection.execute(f"USE {identifier(name)}")
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

    def __init__(self, connection: duckdb.DuckDBPyConnection, *, read_only: bool = False,
                 cursors: list[duckdb.DuckDBPyConnection] | None = None) -> None:
        self._connection = connection
        self._local = threading.local()
        # made by ``progress_cursors`` before the connection's configuration was locked
        self._spare: list[duckdb.DuckDBPyConnection] = list(cursors or [])
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursor_of_thread: dict[int, duckdb.DuckDBPyConnection] = {}
        self._cursors_lock = threading.Lock()
        self._publish_lock = threading.Lock()
        self.read_only = read_only
        self._meta: bool | None = None  # whether the _flowdeck schema exists (a read-only warehouse may lack it)
        self._warehouse_id: str | None = None
        self._seal: tuple[Path, WarehouseFacts] | None = None  # what close seals the file with (seal_on_close)
        # an encrypted warehouse is attached to an in-memory connection and made its default database;
        # a cursor starts on DuckDB's default ("memory") instead, so each cursor is pointed at it too
        if read_only:
            current = connection.execute("SELECT current_database()").fetchone()
            self._database = str(current[0]) if current else "memory"
        else:
            self._ensure_meta_schema()
            self._meta = True

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
        read_only: bool = False,
    ) -> DuckDBBackend:
        """Open the warehouse (for writing unless ``read_only``; see ``connect_warehouse``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {}
        if threads:
            config["threads"] = threads
        if memory_limit:
            config["memory_limit"] = memory_limit
        if temp_directory:
            config["temp_directory"] = str(temp_directory)
        connection = connect_warehouse(path, read_only=read_only, timeout=timeout, on_wait=on_wait, config=config)
        return cls(connection, read_only=read_only)

    # -- plumbing ------------------------------------------------------------------------------

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            with self._cursors_lock:
                cursor = self._spare.pop() if self._spare else None
            if cursor is None:  # more threads than prepared cursors: this one reports no progress
                cursor = self._connection.cursor()
                try:
                    _track_progress(cursor)
                except duckdb.InvalidInputException:  # the configuration is locked
                    pass
            cursor.execute(f"USE {identifier(self._database)}")  # USE is allowed with the configuration locked
            self._local.cursor = cursor
            with self._cursors_lock:
                self._cursors.append(cursor)
                self._cursor_of_thread[threading.get_ident()] = cursor
        return cursor

    def query_progress(self, thread_id: int) -> float | None:
        with self._cursors_lock:  # held while asking, so close() cannot close the cursor under us
            cursor = self._cursor_of_thread.get(thread_id)
            if cursor is None:
                return None
            try:
                percent = cursor.query_progress()
            except duckdb.Error:
                return None
        return percent if percent >= 0 else None

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except duckdb.InterruptException:
            raise StepFailed(f"{doing}: interrupted (the run was canceled)") from None
        except (duckdb.IOException, duckdb.TransactionException) as error:  # the disk, a conflict: may pass
            raise StepFailed(f"{doing}: {mask(_first_line(error))}", transient=True) from None
        except duckdb.Error as error:
            failure = UnknownColumn if _unknown_column(error) else StepFailed
            raise failure(f"{doing}: {mask(_first_line(error))}", hint=_hint_for(error)) from None

    def _ensure_meta_schema(self) -> None:
        """Create the bookkeeping (``_create_meta_schema``) unless it is all there; learn the current database's name
        (and the warehouse id, when the bookkeeping is complete) meanwhile."""
        connection = self._connection
        if self._meta_schema_complete():
            return
        # one transaction: a new warehouse (every development environment's first run) commits its bookkeeping
        # once, not once a statement (each commit writes and syncs DuckDB's log: ~10 ms of the environment's cost)
        connection.execute("BEGIN TRANSACTION")
        try:
            self._create_meta_schema(connection)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    @staticmethod
    def _create_meta_schema(connection: duckdb.DuckDBPyConnection) -> None:
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {META_SCHEMA}")
        columns = {row[0] for row in connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = 'commits'",
            [META_SCHEMA]).fetchall()}
        if columns and "seq" not in columns:  # markers of a pre-release warehouse: keep them aside
            connection.execute(f"ALTER TABLE {META_SCHEMA}.commits RENAME TO commits_unnumbered")
        connection.execute(f"CREATE SEQUENCE IF NOT EXISTS {META_SCHEMA}.commit_seq")
        # No PRIMARY KEY on the small bookkeeping tables: DuckDB stores each index in a block of its own, and in a
        # development environment's file (warehouse.py, ENVIRONMENT_BLOCK_SIZE) two such blocks were a third of an
        # empty environment. One process writes a warehouse at a time, and the statements writing these tables keep
        # their keys unique (a warehouse made before keeps its keys; the statements suit both).
        connection.execute(f"CREATE TABLE IF NOT EXISTS {META_SCHEMA}.info (key VARCHAR NOT NULL, value VARCHAR)")
        connection.execute(f"INSERT INTO {META_SCHEMA}.info SELECT 'warehouse_id', uuid()::VARCHAR WHERE NOT EXISTS "
                           f"(SELECT 1 FROM {META_SCHEMA}.info WHERE key = 'warehouse_id')")
        connection.execute(
            f"""CREATE TABLE IF NOT EXISTS {META_SCHEMA}.commits (
                    seq BIGINT NOT NULL DEFAULT nextval('{META_SCHEMA}.commit_seq'),
                    run_id VARCHAR NOT NULL, step VARCHAR NOT NULL, output VARCHAR NOT NULL,
                    kind VARCHAR NOT NULL, data_run_id VARCHAR NOT NULL, base_run_id VARCHAR,
                    rows BIGINT, checksum VARCHAR NOT NULL, state_json VARCHAR NOT NULL,
                    committed_at DOUBLE NOT NULL)"""
        )
        # a development environment's outputs read from prod (views on PROD_CATALOG); they have no commit marker here
        connection.execute(f"CREATE TABLE IF NOT EXISTS {META_SCHEMA}.prod_links "
                           "(output VARCHAR NOT NULL, prod_run_id VARCHAR, linked_at DOUBLE NOT NULL)")
        connection.execute(
            f"""CREATE TABLE IF NOT EXISTS {META_SCHEMA}.versions (
                    output VARCHAR NOT NULL, run_id VARCHAR NOT NULL, table_name VARCHAR NOT NULL,
                    rows BIGINT, checksum VARCHAR, published_at DOUBLE, retired_seq BIGINT NOT NULL)"""
        )

    def _meta_schema_complete(self) -> bool:
        """Whether the bookkeeping ``_ensure_meta_schema`` creates is all there already (every run that opens the
        warehouse asks): then its statements, each a no-op, a transaction of its own and ~7 ms in all, are skipped."""
        connection = self._connection
        present = connection.execute(
            "SELECT current_database(), "
            "       (SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = ? "
            "        AND table_name IN ('info', 'commits', 'prod_links', 'versions')) = 4 "
            "   AND EXISTS (SELECT 1 FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = ? "
            "               AND table_name = 'commits' AND column_name = 'seq') "
            "   AND EXISTS (SELECT 1 FROM duckdb_sequences() WHERE database_name = current_database() "
            "               AND schema_name = ? AND sequence_name = 'commit_seq')",
            [META_SCHEMA, META_SCHEMA, META_SCHEMA]).fetchone()
        self._database = str(present[0]) if present else "memory"
        if not present or not present[1]:
            return False
        named = connection.execute(f"SELECT value FROM {META_SCHEMA}.info WHERE key = 'warehouse_id'").fetchone()
        if not named:
            return False
        self._warehouse_id = str(named[0])  # written once, when the bookkeeping is created (``warehouse_id``)
        return True

    @staticmethod
    def version_name(output: str, data_run_id: str) -> str:
        """Where the version of ``output`` holding ``data_run_id``'s data is kept."""
        return f"{VERSION_PREFIX}{output}__{run_tag(data_run_id)}"

    def _has_meta(self) -> bool:
        if self._meta is None:
            self._meta = self._cursor().execute(
                "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = 'commits'",
                [META_SCHEMA]).fetchone()[0] > 0  # type: ignore[index]
        return self._meta

    def _measure(self, relation: str) -> tuple[int, str]:
        rows, checksum = self._cursor().execute(
            f"SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0)::VARCHAR FROM {identifier(relation)} AS t"
        ).fetchone()  # type: ignore[misc]
        return int(rows), str(checksum)

    # -- Backend -------------------------------------------------------------------------------

    def stage_query(self, run_id: str, output: str, sql: str, *, view: bool = False) -> Staged:
        name = self.stage_name(run_id, output)
        kind = "VIEW" if view else "TABLE"
        self.remember_statement("view" if view else "stage", sql)
        with self._errors(f"building {output}"):
            cursor = self._cursor()
            cursor.execute(f"DROP {kind} IF EXISTS {identifier(name)}")
            cursor.execute(f"CREATE {kind} {identifier(name)} AS\n{sql}\n")
            rows, checksum = (None, "view") if view else self._measure(name)
        return Staged(name=name, rows=rows, checksum=checksum, is_view=view, sql=sql if view else None)

    def stage_files(self, run_id: str, output: str, read: FileRead) -> Staged:
        return self.stage_query(run_id, output, self.file_query(read))

    def file_query(self, read: FileRead) -> str:
        return reader_sql(read)

    def columns(self, relation_sql: str) -> list[tuple[str, str]]:
        with self._errors("reading column names"):
            rows = self._cursor().execute(f"DESCRIBE {relation_sql}").fetchall()
        return [(str(row[0]), str(row[1])) for row in rows]

    def stage_arrow(self, run_id: str, output: str, batches: Any, *, sql: str | None = None) -> Staged:
        name = self.stage_name(run_id, output)
        with self._errors(f"building {output}"):
            cursor = self._cursor()  # the relation is registered on this thread's cursor only
            cursor.execute(f"DROP TABLE IF EXISTS {identifier(name)}")
            cursor.register(ARROW_RELATION, batches)
            statement = sql or f"SELECT * FROM {ARROW_RELATION}"
            self.remember_statement("stage", statement)
            try:
                cursor.execute(f"CREATE TABLE {identifier(name)} AS\n{statement}\n")
            finally:
                cursor.unregister(ARROW_RELATION)
            try:
                rows, checksum = self._measure(name)
            except BaseException:
                cursor.execute(f"DROP TABLE IF EXISTS {identifier(name)}")
                raise
        return Staged(name=name, rows=rows, checksum=checksum)

    def failing_rows(self, sql: str, *, sample: int = 5) -> Failing:
        self.remember_statement("check", sql)
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

    def publish(
        self, staged: Staged, output: str, marker: CommitMarker, *, merge: MergeSpec | None = None,
        keep_versions: int = 1,
    ) -> CommitMarker:
        with self._publish_lock, self._errors(f"publishing {output}"):
            cursor = self._cursor()
            if merge is not None and self._relation_kind(output) == "TABLE":
                self.check_same_columns(staged, output, marker.step)
            cursor.execute("BEGIN TRANSACTION")
            try:
                committed = self._publish_within(cursor, staged, output, marker, merge=merge,
                                                 keep_versions=keep_versions)
                crash_point("publishing", marker.step)
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        return committed

    def publish_together(self, incoming: list[Incoming], *, audit: Callable[[], None] | None = None) -> list[CommitMarker]:
        with self._publish_lock, self._errors("promoting"):
            cursor = self._cursor()
            cursor.execute("BEGIN TRANSACTION")
            try:
                committed: list[CommitMarker] = []
                for item in incoming:
                    name = self.stage_name(item.marker.run_id, item.output)
                    if item.is_view:
                        cursor.execute(f"CREATE VIEW {identifier(name)} AS\n{item.sql}\n")
                        staged = Staged(name=name, rows=None, checksum="view", is_view=True, sql=item.sql)
                    else:
                        cursor.execute(f"CREATE TABLE {identifier(name)} AS\n{item.sql}\n")
                        rows, checksum = self._measure(name)
                        if item.marker.checksum and checksum != item.marker.checksum:
                            raise StepFailed(
                                f"table {item.output} does not hold what its commit marker says "
                                f"({rows} rows, checksum {checksum}; the marker says {item.marker.rows} rows, "
                                f"checksum {item.marker.checksum})",
                                hint="it was changed outside flowdeck; rebuild it with a run, then try again")
                        staged = Staged(name=name, rows=rows, checksum=checksum)
                    committed.append(self._publish_within(cursor, staged, item.output, item.marker, merge=None,
                                                          keep_versions=item.keep_versions))
                    crash_point("promoting", item.output)
                if audit is not None:  # sees every table as it will be once committed; raising undoes them all
                    audit()
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        return committed

    def _publish_within(self, cursor: duckdb.DuckDBPyConnection, staged: Staged, output: str, marker: CommitMarker, *,
                        merge: MergeSpec | None, keep_versions: int) -> CommitMarker:
        """The statements of ``publish``, inside the caller's transaction."""
        existing = self._relation_kind(output)
        current = self._latest_marker(output)  # the marker this commit supersedes (its data is kept as a version)
        previous_run = current.data_run_id if current else None
        merged = merge is not None and existing == "TABLE" and not staged.is_view
        kept: str | None = None
        if staged.is_view:
            if existing:
                cursor.execute(f"DROP {existing} {identifier(output)}")
            cursor.execute(f"CREATE VIEW {identifier(output)} AS\n{staged.sql}\n")
            cursor.execute(f"DROP VIEW {identifier(staged.name)}")
        elif not merged:
            if existing == "TABLE" and keep_versions > 1:
                kept = self.version_name(output, previous_run or "unknown")
                cursor.execute(f"DROP TABLE IF EXISTS {identifier(kept)}")
                cursor.execute(f"ALTER TABLE {identifier(output)} RENAME TO {identifier(kept)}")
            elif existing:
                cursor.execute(f"DROP {existing} {identifier(output)}")
            cursor.execute(f"ALTER TABLE {identifier(staged.name)} RENAME TO {identifier(output)}")
        else:
            assert merge is not None
            if keep_versions > 1 and staged.rows != 0:  # an empty batch changes nothing worth keeping
                kept = self.version_name(output, previous_run or "unknown")
                cursor.execute(f"DROP TABLE IF EXISTS {identifier(kept)}")
                cursor.execute(f"CREATE TABLE {identifier(kept)} AS SELECT * FROM {identifier(output)}")
            for statement in _merge_statements(staged.name, output, merge):
                cursor.execute(statement)
            cursor.execute(f"DROP TABLE {identifier(staged.name)}")
        if staged.is_view:
            rows, checksum = None, "view"
        elif merged:  # the table now holds old and new rows: measure what was published
            rows, checksum = self._measure(output)
        else:  # renamed as staged: staging measured these very rows, so no second full scan
            rows, checksum = staged.rows, staged.checksum
        committed = self._insert_marker(cursor, marker, rows=rows, checksum=checksum)
        if kept is not None:
            # the version kept is what ``current`` (read above, in this transaction) recorded
            cursor.execute(
                f"INSERT INTO {META_SCHEMA}.versions VALUES (?, ?, ?, ?, ?, ?, ?)",
                [output, previous_run or "unknown", kept, current.rows if current else None,
                 current.checksum if current else None,
                 self._published_at(output, previous_run) if previous_run else None, committed.seq],
            )
        self._prune_versions(cursor, output, keep_versions - 1)
        cursor.execute(f"DELETE FROM {META_SCHEMA}.prod_links WHERE output = ?", [output])  # built here now
        return committed

    def _insert_marker(self, cursor: duckdb.DuckDBPyConnection, marker: CommitMarker, *, rows: int | None,
                       checksum: str) -> CommitMarker:
        now = time.time()
        seq = cursor.execute(
            f"""INSERT INTO {META_SCHEMA}.commits (run_id, step, output, kind, data_run_id, base_run_id, rows, checksum,
                                                  state_json, committed_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq""",
            [marker.run_id, marker.step, marker.output, marker.kind, marker.data_run_id or marker.run_id,
             marker.base_run_id, rows, checksum, json.dumps(marker.state, sort_keys=True, default=str), now],
        ).fetchone()[0]  # type: ignore[index]
        return CommitMarker(
            run_id=marker.run_id, step=marker.step, output=marker.output, rows=rows, checksum=checksum,
            kind=marker.kind, data_run_id=marker.data_run_id or marker.run_id, base_run_id=marker.base_run_id,
            state=marker.state, seq=int(seq), committed_at=now,
        )

    def _latest_marker(self, output: str) -> CommitMarker | None:
        if not self._has_meta():
            return None
        row = self._cursor().execute(
            f"SELECT {_COMMIT_COLUMNS} FROM {META_SCHEMA}.commits WHERE output = ? ORDER BY seq DESC LIMIT 1", [output],
        ).fetchone()
        return _marker_from_row(row) if row else None

    def _current_data_run(self, output: str) -> str | None:
        marker = self._latest_marker(output)
        return marker.data_run_id if marker else None

    def _published_at(self, output: str, data_run_id: str) -> float | None:
        """When a run's data for ``output`` was published (not when a rollback made it current again)."""
        row = self._cursor().execute(
            f"SELECT max(committed_at) FROM {META_SCHEMA}.commits WHERE output = ? AND run_id = ? AND kind = 'publish'",
            [output, data_run_id]).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def _prune_versions(self, cursor: duckdb.DuckDBPyConnection, output: str, keep: int) -> None:
        kept = cursor.execute(
            f"SELECT table_name FROM {META_SCHEMA}.versions WHERE output = ? ORDER BY retired_seq DESC", [output]
        ).fetchall()
        for (table_name,) in kept[keep:]:
            cursor.execute(f"DROP TABLE IF EXISTS {identifier(table_name)}")
            cursor.execute(f"DELETE FROM {META_SCHEMA}.versions WHERE output = ? AND table_name = ?", [output, table_name])

    def commit_markers(self, after_seq: int = 0) -> list[CommitMarker]:
        if not self._has_meta():
            return []
        rows = self._cursor().execute(
            f"SELECT {_COMMIT_COLUMNS} FROM {META_SCHEMA}.commits WHERE seq > ? ORDER BY seq", [after_seq]
        ).fetchall()
        return [_marker_from_row(row) for row in rows]

    def markers_in(self, database: str) -> list[CommitMarker]:
        """Every commit marker of the warehouse attached as ``database``, in commit order (none without bookkeeping)."""
        with self._errors(f"reading the commit markers of {database}"):
            cursor = self._cursor()
            found = cursor.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? "
                "AND table_name = 'commits'", [database, META_SCHEMA]).fetchone()
            if not found or not found[0]:
                return []
            rows = cursor.execute(
                f"SELECT {_COMMIT_COLUMNS} FROM {identifier(database)}.{META_SCHEMA}.commits ORDER BY seq").fetchall()
        return [_marker_from_row(row) for row in rows]

    @property
    def database(self) -> str:
        """The name of the warehouse as a database of its connection (what ``markers_in`` takes for it)."""
        return self._database

    def warehouse_id_in(self, database: str) -> str:
        """The id of the warehouse attached as ``database`` ("none" without bookkeeping)."""
        with self._errors(f"reading the id of {database}"):
            try:
                row = self._cursor().execute(
                    f"SELECT value FROM {identifier(database)}.{META_SCHEMA}.info WHERE key = 'warehouse_id'").fetchone()
            except duckdb.CatalogException:
                return "none"
        return str(row[0]) if row else "none"

    def relation_in(self, database: str, name: str) -> tuple[str | None, str | None]:
        """Whether ``name`` is a TABLE or a VIEW (None: neither) in the main schema of the warehouse attached as
        ``database``, and a view's query (the SELECT of its definition)."""
        with self._errors(f"reading {name} in {database}"):
            cursor = self._cursor()
            row = cursor.execute(
                "SELECT table_type FROM information_schema.tables WHERE table_catalog = ? AND table_schema = 'main' "
                "AND table_name = ?", [database, name]).fetchone()
            if row is None:
                return None, None
            if row[0] != "VIEW":
                return "TABLE", None
            view = cursor.execute("SELECT sql FROM duckdb_views() WHERE database_name = ? AND schema_name = 'main' "
                                  "AND view_name = ?", [database, name]).fetchone()
        return "VIEW", view_query(str(view[0])) if view else None

    def warehouse_id(self) -> str:
        if self._warehouse_id is not None:
            return self._warehouse_id
        if not self._has_meta():
            return "none"
        row = self._cursor().execute(f"SELECT value FROM {META_SCHEMA}.info WHERE key = 'warehouse_id'").fetchone()
        if not row:
            return "none"
        self._warehouse_id = str(row[0])  # written once, when the bookkeeping is created: a run asks four times
        return self._warehouse_id

    def versions(self, output: str) -> list[TableVersion]:
        found: list[TableVersion] = []
        current = self._latest_marker(output)
        if self._relation_kind(output) is not None:
            found.append(TableVersion(
                output=output, run_id=current.data_run_id or current.run_id if current else "unknown", table=output,
                rows=current.rows if current else None, checksum=current.checksum if current else None,
                published_at=self._published_at(output, current.data_run_id or current.run_id) if current else None,
                current=True,
            ))
        if not self._has_meta():
            return found
        rows = self._cursor().execute(
            f"SELECT run_id, table_name, rows, checksum, published_at FROM {META_SCHEMA}.versions "
            "WHERE output = ? ORDER BY retired_seq DESC", [output],
        ).fetchall()
        found.extend(TableVersion(output=output, run_id=row[0], table=row[1], rows=row[2], checksum=row[3],
                                  published_at=row[4], current=False) for row in rows)
        return found

    def rollback(self, output: str, to_run_id: str, marker: CommitMarker) -> CommitMarker:
        with self._publish_lock, self._errors(f"rolling back {output}"):
            cursor = self._cursor()
            versions = self.versions(output)
            target = next((v for v in versions if not v.current and v.run_id == to_run_id), None)
            if target is None:
                raise rollback_refusal(output, to_run_id, versions)
            previous_run = self._current_data_run(output) or "unknown"
            existing = self._relation_kind(output)
            cursor.execute("BEGIN TRANSACTION")
            try:
                kept_name = self.version_name(output, previous_run)
                if existing:
                    cursor.execute(f"DROP TABLE IF EXISTS {identifier(kept_name)}")
                    cursor.execute(f"ALTER TABLE {identifier(output)} RENAME TO {identifier(kept_name)}")
                cursor.execute(f"ALTER TABLE {identifier(target.table)} RENAME TO {identifier(output)}")
                cursor.execute(f"DELETE FROM {META_SCHEMA}.versions WHERE output = ? AND table_name = ?",
                               [output, target.table])
                rows, checksum = self._measure(output)
                committed = self._insert_marker(cursor, marker, rows=rows, checksum=checksum)
                if existing:
                    current = next((v for v in versions if v.current), None)
                    cursor.execute(
                        f"INSERT INTO {META_SCHEMA}.versions VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [output, previous_run, kept_name, current.rows if current else None,
                         current.checksum if current else None, current.published_at if current else None,
                         committed.seq],
                    )
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        return committed

    def staging_leftovers(self) -> list[Leftover]:
        rows = self._cursor().execute(
            f"SELECT name, kind FROM ({_RELATIONS}) WHERE starts_with(name, ?)", [STAGE_PREFIX]).fetchall()
        return [Leftover(name=name, run_tag=name.rsplit("__", 1)[-1], is_view=kind == "VIEW") for name, kind in rows]

    def drop_leftover(self, leftover: Leftover) -> None:
        with self._errors(f"removing {leftover.name}"):
            self._cursor().execute(f"DROP {'VIEW' if leftover.is_view else 'TABLE'} IF EXISTS {identifier(leftover.name)}")

    def discard(self, staged: Staged) -> None:
        kind = "VIEW" if staged.is_view else "TABLE"
        with self._errors("removing a staged table"):
            self._cursor().execute(f"DROP {kind} IF EXISTS {identifier(staged.name)}")

    def export(
        self, table: str, path: Path, file_format: str, options: dict[str, Any], *,
        order_by: list[str] | None = None,
    ) -> int:
        with self._errors(f"exporting {table} to {path.name}"):
            return write_file(self._cursor(), table, path, file_format, options, order_by=order_by)

    def arrow_batches(self, table: str) -> Any:
        # A streaming reader needs a connection of its own: DuckDB refuses to start one on a
        # cursor with an unfinished result, and refuses other queries there until it is read.
        # The cursor lives until the backend closes; interrupt() reaches it meanwhile.
        cursor = self._connection.cursor()
        with self._cursors_lock:
            self._cursors.append(cursor)
        with self._errors(f"reading {table}"):
            return cursor.sql(f"SELECT * FROM {identifier(table)}").to_arrow_reader(batch_size=ARROW_BATCH_ROWS)

    def relation(self, table: str) -> Any:
        # on a cursor of its own, kept until the backend closes, for the reason arrow_batches gives
        cursor = self._connection.cursor()
        with self._cursors_lock:
            self._cursors.append(cursor)
        with self._errors(f"reading {table}"):
            return cursor.sql(f"SELECT * FROM {identifier(table)}")

    def stage_relation(self, run_id: str, output: str, relation: Any, *, sql: str | None = None) -> Staged:
        if not isinstance(relation, duckdb.DuckDBPyRelation):
            raise StepFailed(f"building {output}: expected a DuckDB relation, got {type(relation).__name__}")
        with self._errors(f"building {output}"):
            batches = relation.to_arrow_reader(batch_size=ARROW_BATCH_ROWS)
        return self.stage_arrow(run_id, output, batches, sql=sql)

    def load_rows(self, name: str, sql: str) -> None:
        with self._errors(f"loading the rows of {name}"):
            self._cursor().execute(f"CREATE OR REPLACE TABLE {identifier(name)} AS\n{sql}\n")

    def query(self, sql: str, *, limit: int = 1000) -> QueryResult:
        if self.read_only:
            refuse_side_effects(sql)  # a person's query only reads: no COPY ... TO, ATTACH, INSTALL, LOAD, SET
        with self._query_errors():
            cursor = self._cursor().execute(sql)
            columns = [column[0] for column in cursor.description or []]
            rows = cursor.fetchmany(limit + 1) if cursor.description else []
        return QueryResult(columns=columns, rows=rows[:limit], truncated=len(rows) > limit)

    @contextmanager
    def _query_errors(self) -> Iterator[None]:
        """A step's query fails the step; a person's read-only query is bad input, said plainly."""
        if not self.read_only:
            with self._errors("running the query"):
                yield
            return
        try:
            yield
        except duckdb.Error as error:
            missing = missing_relation(error)  # a table nothing has published yet: said in words, not DuckDB's
            if missing is not None:
                raise missing from None
            text = mask(_first_line(error))
            if "read-only mode" in text:
                raise SqlError("`flowdeck query` only reads; this statement would change the warehouse",
                               hint="change tables through pipelines") from None
            raise SqlError(f"the query failed: {text}") from None

    def table_exists(self, name: str) -> bool:
        return self._relation_kind(name) is not None

    def seal_on_close(self) -> None:
        try:  # a seal is never worth failing a run for: without one the next run opens the warehouse
            if self.read_only or not self._has_meta():
                return
            cursor = self._cursor()
            found = cursor.execute(
                f"SELECT path, (SELECT coalesce(max(seq), 0) FROM {META_SCHEMA}.commits) FROM duckdb_databases() "
                "WHERE database_name = current_database()").fetchone()
            # this warehouse's relations, and any database's staging leftovers (as ``staging_leftovers`` finds them)
            names = [str(name) for (name,) in cursor.execute(
                f"SELECT name FROM ({_RELATIONS}) WHERE database_name = current_database() OR starts_with(name, ?)",
                [STAGE_PREFIX]).fetchall()]
        except duckdb.Error:
            return
        if any(name.startswith(STAGE_PREFIX) for name in names):
            return  # leftovers: the next run's janitor must see the warehouse
        if found is None or not found[0]:
            return  # an in-memory database: nothing to seal
        self._seal = (Path(found[0]), WarehouseFacts(warehouse_id=self.warehouse_id(), last_seq=int(found[1]),
                                                     tables=frozenset(names)))

    def _relation_kind(self, name: str) -> str | None:
        row = self._cursor().execute(
            f"SELECT kind FROM ({_RELATIONS}) WHERE database_name = current_database() AND name = ?", [name]).fetchone()
        return str(row[0]) if row else None

    # -- a development environment's reads from prod ----------------------------------------------

    def _prod_attached(self) -> bool:
        row = self._cursor().execute("SELECT count(*) FROM duckdb_databases() WHERE database_name = ?",
                                     [PROD_CATALOG]).fetchone()
        return bool(row and row[0])

    def prod_warehouse_id(self) -> str | None:
        if not self._prod_attached():
            return None
        try:
            row = self._cursor().execute(
                f"SELECT value FROM {PROD_CATALOG}.{META_SCHEMA}.info WHERE key = 'warehouse_id'").fetchone()
        except duckdb.CatalogException:  # a prod warehouse nothing has published into yet
            return None
        return str(row[0]) if row else None

    def prod_table_exists(self, name: str) -> bool:
        if not self._prod_attached():
            return False
        row = self._cursor().execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_catalog = ? AND table_schema = 'main' "
            "AND table_name = ?", [PROD_CATALOG, name]).fetchone()
        return bool(row and row[0])

    def link_from_prod(self, output: str, prod_run_id: str) -> None:
        with self._publish_lock, self._errors(f"reading {output} from prod"):
            cursor = self._cursor()
            existing = self._relation_kind(output)
            if existing == "VIEW" and output in self.prod_links():
                return  # read from prod already: nothing to write
            kept = cursor.execute(f"SELECT table_name FROM {META_SCHEMA}.versions WHERE output = ?",
                                  [output]).fetchall()
            cursor.execute("BEGIN TRANSACTION")
            try:
                if existing:
                    cursor.execute(f"DROP {existing} {identifier(output)}")
                for (table_name,) in kept:
                    cursor.execute(f"DROP TABLE IF EXISTS {identifier(table_name)}")
                cursor.execute(f"DELETE FROM {META_SCHEMA}.versions WHERE output = ?", [output])
                # the contract with `env diff`/`promote`: an output read from prod has no commit marker here
                cursor.execute(f"DELETE FROM {META_SCHEMA}.commits WHERE output = ?", [output])
                # bound when read: the view follows prod's table as prod publishes it, and copies nothing
                cursor.execute(f"CREATE VIEW {identifier(output)} AS SELECT * FROM "
                               f"{identifier(PROD_CATALOG)}.main.{identifier(output)}")
                cursor.execute(f"DELETE FROM {META_SCHEMA}.prod_links WHERE output = ?", [output])  # one row an output
                cursor.execute(f"INSERT INTO {META_SCHEMA}.prod_links VALUES (?, ?, ?)",
                               [output, prod_run_id, time.time()])
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise

    def prod_links(self) -> list[str]:
        if not self._has_meta():
            return []
        try:
            rows = self._cursor().execute(f"SELECT output FROM {META_SCHEMA}.prod_links ORDER BY output").fetchall()
        except duckdb.CatalogException:  # a warehouse from before environments
            return []
        return [str(row[0]) for row in rows]

    def detach_prod(self) -> None:
        if self._prod_attached():
            with self._errors("letting go of prod's warehouse"):
                self._cursor().execute(f"DETACH {PROD_CATALOG}")

    def interrupt(self) -> None:
        with self._cursors_lock:
            for cursor in self._cursors:
                try:
                    cursor.interrupt()
                except duckdb.Error:
                    pass

    def close(self) -> None:
        with self._cursors_lock:
            for cursor in [*self._cursors, *self._spare]:
                try:
                    cursor.close()
                except duckdb.Error:
                    pass
            self._cursors.clear()
            self._spare.clear()
            self._cursor_of_thread.clear()
        self._connection.close()
        if self._seal is not None:  # closed: DuckDB has checkpointed, the file is what the seal describes
            write_seal(*self._seal)


def _merge_statements(batch: str, output: str, merge: MergeSpec) -> list[str]:
    """The statements merging a de-duplicated batch into its table, per ``merge.on_duplicate``."""
    same_key = " AND ".join(f"t.{identifier(key)} IS NOT DISTINCT FROM b.{identifier(key)}" for key in merge.unique_key)
    insert_all = f"INSERT INTO {identifier(output)} BY NAME SELECT * FROM {identifier(batch)}"
    insert_new = (f"INSERT INTO {identifier(output)} BY NAME SELECT * FROM {identifier(batch)} AS b "
                  f"WHERE NOT EXISTS (SELECT 1 FROM {identifier(output)} AS t WHERE {same_key})")
    if merge.on_duplicate == "skip":
        return [insert_new]
    if merge.on_duplicate == "update":
        newer = "false"
        if merge.order_by:  # the table's row survives only when it is strictly later
            table_order = identifiers(merge.order_by, of="t")
            batch_order = identifiers(merge.order_by, of="b")
            newer = f"coalesce(row({table_order}) > row({batch_order}), false)"
        return [f"DELETE FROM {identifier(output)} AS t USING {identifier(batch)} AS b WHERE {same_key} AND NOT {newer}",
                insert_new]
    return [insert_all]  # keep, and error (whose duplicates were refused before publishing)


def _marker_from_row(row: tuple[Any, ...]) -> CommitMarker:
    seq, run_id, step, output, kind, data_run_id, base_run_id, rows, checksum, state_json, committed_at = row
    return CommitMarker(run_id=run_id, step=step, output=output, rows=rows, checksum=checksum, kind=kind,
                        data_run_id=data_run_id, base_run_id=base_run_id, state=json.loads(state_json),
                        seq=int(seq), committed_at=float(committed_at))


def view_query(definition: str) -> str:
    """The query of a view from DuckDB's text of it (``CREATE VIEW name AS SELECT ...;``)."""
    match = re.match(r'(?is)^\s*CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+(?:"(?:[^"]|"")*"|[^\s(]+)\s*'
                     r'(?:\([^)]*\)\s*)?AS\s+(?P<query>.*?);?\s*$', definition)
    return match["query"] if match else definition


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def missing_relation(error: duckdb.Error) -> NotFound | None:
    """DuckDB's "Table with name X does not exist!" in words: nothing has published X yet (None if not that)."""
    found = re.search(r"Table with name (\S+) does not exist", str(error))
    if not isinstance(error, duckdb.CatalogException) or found is None:
        return None
    return NotFound(f"no table `{found[1]}` in the warehouse: nothing has published it yet",
                    hint="run the pipeline that publishes it first (`flowdeck run PIPELINE`)")


def _hint_for(error: duckdb.Error) -> str | None:
    text = str(error)
    if "No files found that match the pattern" in text:
        return "check the source path and glob in pipeline.yaml; paths are relative to the project"
    if "Could not convert string" in text or "Conversion Error" in text:
        return "a value does not fit its column type; cast it explicitly (TRY_CAST returns NULL instead of failing)"
    if _unknown_column(error):
        return "check the column name against the tables the query reads"
    return None


def _unknown_column(error: duckdb.Error) -> bool:
    """Whether DuckDB's binder refused a column name (``Referenced column "x" not found``, ``Table "o" does
    not have a column named "x"``)."""
    text = str(error)
    return isinstance(error, duckdb.BinderException) and (
        "Referenced column" in text or "does not have a column named" in text)
