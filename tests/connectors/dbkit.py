"""Helpers of the connector tests: a test database reached directly through the ADBC driver (an
independent view of what flowdeck wrote), projects with connections, and the CLI."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from postgres_server import Cluster

FLOWDECK = str(Path(sys.executable).with_name("flowdeck"))
PASSWORD_SECRET = "PG_PASSWORD"


@dataclass
class PgDatabase:
    """One database of the test cluster, used as its superuser."""

    cluster: Cluster
    name: str

    def create(self) -> None:
        """CREATE DATABASE (in the cluster's maintenance database)."""
        self._run(f'CREATE DATABASE "{self.name}"', database="postgres")

    def uri(self, **kwargs: Any) -> str:
        """A libpq URI with the superuser's password (for the tests' own connections only)."""
        return self.cluster.uri(self.name, **kwargs)

    def connect(self, *, autocommit: bool = True) -> Any:
        """An ADBC connection to this database."""
        import adbc_driver_postgresql.dbapi

        return adbc_driver_postgresql.dbapi.connect(self.uri(), autocommit=autocommit)

    def _run(self, sql: str, *, database: str | None = None) -> list[tuple[Any, ...]]:
        import adbc_driver_postgresql.dbapi

        uri = self.cluster.uri(database or self.name)
        with adbc_driver_postgresql.dbapi.connect(uri, autocommit=True) as connection, connection.cursor() as cursor:
            cursor.execute(sql)
            return list(cursor.fetchall()) if cursor.description else []

    def execute(self, *statements: str) -> None:
        """Run statements, each committed."""
        for sql in statements:
            self._run(sql)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """The rows of a query."""
        return self._run(sql)

    def table(self, name: str, order_by: str) -> list[tuple[Any, ...]]:
        """Every row of ``name``, sorted."""
        return self.rows(f"SELECT * FROM {name} ORDER BY {order_by}")

    def exists(self, name: str) -> bool:
        """Whether a table of that name exists."""
        return self.rows(f"SELECT to_regclass('{name}') IS NOT NULL")[0][0]


def write(path: Path, text: str) -> Path:
    """Write a file (dedented), creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def pg_connection(pg: PgDatabase, *, password: str = f"${{secret:{PASSWORD_SECRET}}}", user: str = "postgres",
                  port: int | None = None, host: str = "127.0.0.1", extra: str = "") -> str:
    """The YAML of a postgresql connection to ``pg`` (one line, flow style)."""
    return (f'{{type: postgresql, uri: "postgresql://{host}:{port or pg.cluster.port}/{pg.name}", user: {user}, '
            f'password: "{password}"{extra}}}')


def make_project(root: Path, connections: dict[str, str], *, daemon: str = "") -> Path:
    """A project whose flowdeck.yaml declares ``connections`` (name -> flow-style YAML)."""
    lines = ["name: connector-test", "warehouse:", "  lock_timeout: 120s", "connections:"]
    lines += [f"  {name}: {spec}" for name, spec in connections.items()]
    if daemon:
        lines.append(textwrap.dedent(daemon).strip())
    write(root / "flowdeck.yaml", "\n".join(lines) + "\n")
    return root


def pipeline(root: Path, name: str, steps: str, **sql: str) -> None:
    """A pipeline.yaml with ``steps`` (YAML, dedented) and SQL files named by keyword."""
    write(root / "pipelines" / name / "pipeline.yaml", "steps:\n" + textwrap.indent(textwrap.dedent(steps).strip(), "  ")
          + "\n")
    for file, text in sql.items():
        write(root / "pipelines" / name / f"{file}.sql", text)


def environment(password: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a flowdeck subprocess: the secret in FLOWDECK_SECRET_*, no keyring."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLOWDECK_")}
    env.update({"NO_COLOR": "1", "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", **(extra or {})})
    if password is not None:
        env[f"FLOWDECK_SECRET_{PASSWORD_SECRET}"] = password
    return env


def flowdeck(root: Path, *args: str, password: str | None, timeout: float = 600.0,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI on the project with the connection password (and ``env``) in its environment."""
    return subprocess.run([FLOWDECK, "--project", str(root), *args], capture_output=True, text=True,
                          timeout=timeout, env=environment(password, env))


def spawn(root: Path, *args: str, password: str | None) -> subprocess.Popen[bytes]:
    """Start the CLI without waiting for it."""
    return subprocess.Popen([FLOWDECK, "--project", str(root), *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment(password))


def last_run_id(root: Path) -> str:
    """The id of the project's newest run."""
    return ledger_rows(root, "SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 1")[0][0]


def ledger_rows(root: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the project's ledger directly."""
    with sqlite3.connect(root / ".flowdeck" / "ledger.sqlite", timeout=30) as db:
        return db.execute(sql, args).fetchall()


def ledger_bytes(root: Path) -> bytes:
    """Every byte of the ledger (and its WAL), to scan for a password."""
    data = b""
    for path in (root / ".flowdeck").glob("ledger.sqlite*"):
        data += path.read_bytes()
    return data


def step_status(root: Path, step: str) -> dict[str, Any]:
    """The latest run's record of ``step``: status, rows, error."""
    rows = ledger_rows(root, "SELECT s.status, s.rows_out, s.error FROM steps s JOIN runs r USING (run_id) "
                             "WHERE s.step = ? ORDER BY r.created_at DESC LIMIT 1", (step,))
    status, rows_out, error = rows[0]
    return {"status": status, "rows": rows_out, "error": error}


def progress_events(root: Path, step: str) -> list[dict[str, Any]]:
    """The payloads of the ``step.progress`` events of ``step``, oldest first (none while there is no ledger yet)."""
    try:
        rows = ledger_rows(root, "SELECT payload_json FROM events WHERE step = ? AND kind = 'step.progress' "
                                 "ORDER BY event_id", (step,))
    except sqlite3.OperationalError:  # the run has not created or migrated its ledger yet
        return []
    return [json.loads(payload) for (payload,) in rows]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll until ``predicate`` returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def sqlite_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of a query on a SQLite file, read with Python's own sqlite3 (not the ADBC driver)."""
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()
