"""Opening a declared connection: its URI, user, password and TLS options, resolved as late as
possible, and a thin wrapper over the ADBC DB-API connection that explains every failure.

Credentials are resolved through ``engine.secrets.resolve``, which registers them with the
masker before the driver sees them. What flowdeck shows of a connection (``where``) never
holds a password.
"""

from __future__ import annotations

import difflib
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import adbc_driver_manager
import pyarrow as pa

from flowdeck.engine.connectors.dialects import DIALECTS, Dialect, QualifiedName, adapt_batch, adapted_schema
from flowdeck.engine.connectors.failures import ConnectionFailed, explain, reason_of
from flowdeck.engine.errors import ConfigError, FlowdeckError, NotFound
from flowdeck.engine.plugins import registry
from flowdeck.engine.plugins.declare import ConnectorKind
from flowdeck.engine.project.config.connections import ConnectionConfig
from flowdeck.engine.secrets import has_reference, resolve

if TYPE_CHECKING:
    from flowdeck.engine.project.project import Project

APPLICATION_NAME = "flowdeck"
MIN_CONNECT_TIMEOUT = 2  # libpq treats anything lower as 2 seconds


def connection_config(project: Project, name: str) -> ConnectionConfig:
    """The declared connection ``name``, or a NotFound naming the ones there are."""
    connections = project.config.connections
    if name not in connections:
        close = difflib.get_close_matches(name, list(connections), n=1)
        known = ", ".join(sorted(connections)) or "none"
        raise NotFound(f"no connection named `{name}` in flowdeck.yaml (declared: {known})",
                       hint=f"did you mean `{close[0]}`?" if close else "declare it under `connections:` "
                       "(see docs/connectors.md)")
    return connections[name]


def describe(project: Project, name: str) -> str:
    """Where a connection points, fit to show: no password, references left unresolved."""
    config = connection_config(project, name)
    declared = registry.connectors.get(config.type)
    if declared is not None:
        return declared.describe(project, config) if declared.describe else f"{config.type} connection {name}"
    if config.type == "sqlite":
        return str(project.resolve_path(config.uri)) if "${" not in config.uri else config.uri
    parts = urllib.parse.urlsplit(config.uri)
    user = config.user or parts.username
    host = parts.hostname or "localhost"
    netloc = (f"{user}@" if user else "") + (f"[{host}]" if ":" in host else host)
    netloc += f":{parts.port}" if parts.port else ""
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass
class Connection:
    """An open ADBC connection to a declared database, transactions explicit (autocommit off)."""

    name: str
    config: ConnectionConfig
    dialect: Dialect
    where: str
    user: str | None
    dbapi: Any

    def failure(self, error: BaseException, doing: str, *, table: str | None = None) -> ConnectionFailed:
        """``error`` in plain words (see ``engine.connectors.failures``)."""
        return explain(error, connection=self.name, where=self.where, doing=doing, table=table, user=self.user)

    @contextmanager
    def cursor(self) -> Iterator[Any]:
        """A cursor, closed after use."""
        cursor = self.dbapi.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def execute(self, sql: str, doing: str, *, table: str | None = None) -> list[tuple[Any, ...]]:
        """Run one statement; return its rows (if any)."""
        try:
            with self.cursor() as cursor:
                cursor.execute(sql)
                return list(cursor.fetchall()) if cursor.description else []
        except adbc_driver_manager.Error as error:
            raise self.failure(error, doing, table=table) from None

    def exists(self, table: QualifiedName) -> bool:
        """Whether ``table`` exists (a table or a view)."""
        return bool(self.execute(self.dialect.table_exists(table), f"looking up {table}", table=str(table)))

    @contextmanager
    def read(self, sql: str, doing: str, *, table: str | None = None) -> Iterator[BatchStream]:
        """The rows of ``sql``, run by the database, as a stream of Arrow batches in flowdeck's types."""
        with self.cursor() as cursor:
            try:
                options = self.dialect.statement_options()
                if options:
                    cursor.adbc_statement.set_options(**options)
                cursor.execute(sql)
                reader = cursor.fetch_record_batch()
            except adbc_driver_manager.Error as error:
                raise self.failure(error, doing, table=table) from None
            stream = BatchStream(reader, adapted_schema(reader.schema, self.dialect.source_field))
            try:
                yield stream
            except BaseException:
                if stream.error is not None:  # the database failed mid-stream: say so, not what the reader saw
                    raise self.failure(stream.error, doing, table=table) from None
                raise

    def commit(self) -> None:
        """Commit the open transaction."""
        self.dbapi.commit()

    def rollback(self) -> None:
        """Roll the open transaction back; a connection already broken has nothing to roll back."""
        try:
            self.dbapi.rollback()
        except Exception:  # noqa: BLE001 - the server is gone: its transaction died with it
            pass

    def close(self) -> None:
        """Close the connection (an open transaction is rolled back by the database)."""
        try:
            self.dbapi.close()
        except Exception:  # noqa: BLE001 - closing a broken connection must not hide the real error
            pass


class BatchStream:
    """Arrow batches from a database, cast to flowdeck's types, counted as they pass.

    A failure while reading is kept in ``error`` (and re-raised), so that whoever consumed the
    stream (DuckDB) cannot turn it into its own words.
    """

    def __init__(self, reader: pa.RecordBatchReader, target: pa.Schema | None) -> None:
        self._reader = reader
        self._target = target
        self.schema: pa.Schema = target if target is not None else reader.schema
        self.rows = 0
        self.batches = 0
        self.error: BaseException | None = None

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        try:
            for batch in self._reader:
                if self._target is not None:
                    batch = adapt_batch(batch, self._target)
                self.rows += batch.num_rows
                self.batches += 1
                yield batch
        except Exception as error:
            self.error = error
            raise


def open_connection(project: Project, name: str, *, create: bool = False) -> Connection:
    """Connect to the declared connection ``name``; raise ``ConnectionFailed`` saying why it cannot.

    ``create``: a SQLite file that does not exist yet is created (a load target); otherwise
    a missing file is an error (an extract source, a test).
    """
    config = connection_config(project, name)
    where = describe(project, name)
    declared = registry.connectors.get(config.type)
    if declared is not None:
        return _open_plugin(name, config, declared, where, project)
    dialect = DIALECTS[config.type]
    if config.type == "sqlite":
        path = _sqlite_path(project, config)
        where = str(path)
        if not create and not path.exists():
            raise ConnectionFailed(f"connecting: the SQLite database {path} does not exist", reason="missing_database",
                                   connection=name, hint=f"check connections.{name}.uri (relative to the project)")
        if create and not path.parent.is_dir():
            raise ConnectionFailed(f"connecting: the folder of the SQLite database {path} does not exist",
                                   reason="missing_database", connection=name,
                                   hint=f"create {path.parent}, or fix connections.{name}.uri")
        user = None
    else:
        uri, user = _postgresql_uri(project, config)
    try:
        if config.type == "sqlite":  # each driver imported here: only the one a connection uses is loaded
            import adbc_driver_sqlite.dbapi

            dbapi = adbc_driver_sqlite.dbapi.connect(str(path), autocommit=False)
        else:
            import adbc_driver_postgresql.dbapi

            dbapi = adbc_driver_postgresql.dbapi.connect(uri, autocommit=False)
    except adbc_driver_manager.Error as error:
        raise explain(error, connection=name, where=where, doing="connecting", user=user) from None
    connection = Connection(name=name, config=config, dialect=dialect, where=where, user=user, dbapi=dbapi)
    if config.type == "sqlite":
        # wait for another writer instead of failing at once with "database is locked"
        timeout_ms = int(config.connect_timeout.total_seconds() * 1000)
        connection.execute(f"PRAGMA busy_timeout = {timeout_ms}", "connecting")
    return connection


def _open_plugin(name: str, config: Any, declared: ConnectorKind, where: str, project: Project) -> Connection:
    """Connect through a plugin's connector (the connectors' registry); its failures said like the built-ins'."""
    user = getattr(config, "user", None)
    try:
        dbapi = declared.connect(project, config)
    except adbc_driver_manager.Error as error:
        raise explain(error, connection=name, where=where, doing="connecting", user=user) from None
    except FlowdeckError:
        raise
    except Exception as error:  # the plugin's driver failed in its own words
        raise ConnectionFailed(f"connecting: {type(error).__name__}: {error}", reason=reason_of(error),
                               connection=name, hint=f"check connections.{name} (a {config.type} connection)") from None
    return Connection(name=name, config=config, dialect=declared.dialect, where=where, user=user, dbapi=dbapi)


@contextmanager
def connected(project: Project, name: str, *, create: bool = False) -> Iterator[Connection]:
    """``open_connection`` as a context manager that always closes."""
    connection = open_connection(project, name, create=create)
    try:
        yield connection
    finally:
        connection.close()


def _sqlite_path(project: Project, config: ConnectionConfig) -> Path:
    uri = resolve(config.uri, project) if has_reference(config.uri) else config.uri
    return project.resolve_path(uri.removeprefix("sqlite://").removeprefix("file:"))


def _postgresql_uri(project: Project, config: ConnectionConfig) -> tuple[str, str | None]:
    """The libpq URI with user, password and TLS options as query parameters; and the user."""
    def resolved(text: str) -> str:
        return resolve(text, project) if has_reference(text) else text

    parts = urllib.parse.urlsplit(resolved(config.uri))
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigError(f"connection uri must start with postgresql://, not {parts.scheme or 'nothing'}://",
                          hint="e.g. postgresql://db.example.com:5432/sales")
    query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    if config.user:
        query["user"] = resolved(config.user)
    if config.password:
        query["password"] = resolve(config.password, project)
    if config.sslmode:
        query["sslmode"] = config.sslmode
    for key in ("sslrootcert", "sslcert", "sslkey"):
        value = getattr(config, key)
        if value:
            query[key] = str(project.resolve_path(resolved(value)))
    query["connect_timeout"] = str(max(MIN_CONNECT_TIMEOUT, round(config.connect_timeout.total_seconds())))
    query.setdefault("application_name", APPLICATION_NAME)
    user = query.get("user") or (urllib.parse.unquote(parts.username) if parts.username else None)
    uri = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, urllib.parse.urlencode(query), ""))
    return uri, user
