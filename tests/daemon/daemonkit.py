"""Helpers for tests that drive the real daemon process on a temporary project."""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import duckdb

T = TypeVar("T")
FLOWDECK = str(Path(sys.executable).with_name("flowdeck"))

NUMBERS_CSV = "n,label\n" + "".join(f"{i},row{i}\n" for i in range(1, 51))


def write(path: Path, text: str) -> Path:
    """Write a file (dedented), creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def make_project(root: Path, *, grace: str = "3s", workers: int = 1) -> Path:
    """A project with a small CSV and the daemon on a free port; pipelines are added by tests."""
    write(root / "flowdeck.yaml", f"""
        name: daemon-test
        warehouse:
          lock_timeout: 120s
        daemon:
          workers: {workers}
          shutdown_grace: {grace}
          http: {{port: 0}}
        """)
    write(root / "data" / "numbers.csv", NUMBERS_CSV)
    return root


def numbers_pipeline(root: Path, name: str, header: str = "", source: str = "data/numbers.csv") -> None:
    """A two-step pipeline (extract the CSV, sum it) with ``header`` YAML (schedule, triggers...)."""
    write(root / "pipelines" / name / "pipeline.yaml", textwrap.dedent(header).strip() + f"""
steps:
  - name: {name}_raw
    kind: extract
    source:
      path: {source}
  - name: {name}_total
    kind: transform
    sql: total.sql
""")
    write(root / "pipelines" / name / "total.sql", f"SELECT count(*) AS rows_seen, sum(n) AS total FROM {name}_raw\n")


class Daemon:
    """A `flowdeck daemon` subprocess."""

    def __init__(self, root: Path, log_name: str = "daemon-stderr.log", *, args: tuple[str, ...] = (),
                 env: dict[str, str] | None = None, open_files: int | None = None) -> None:
        self.root = root
        self.stderr_path = root / log_name
        self._stderr = open(self.stderr_path, "ab")

        def limit_open_files() -> None:  # e.g. 1024, the usual default soft limit of a service
            if open_files is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

        self.process = subprocess.Popen([FLOWDECK, "--project", str(root), "daemon", *args], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=self._stderr,
                                        # only when asked: a preexec_fn makes Popen fork the test process, and one
                                        # that has loaded grpc aborts in the child (epoll_wait: Bad file descriptor)
                                        preexec_fn=limit_open_files if open_files is not None else None,
                                        env={**os.environ, **env} if env else None)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def address(self, timeout: float = 30.0) -> str:
        """Wait until the daemon's lease names its HTTP address; return ``http://host:port``."""
        def leased() -> str | None:
            rows = query(self.root, "SELECT http_address FROM daemon_lease WHERE pid = ? AND stopped_at IS NULL",
                         (self.pid,))
            return f"http://{rows[0][0]}" if rows and rows[0][0] else None

        return wait_for(leased, timeout, what=f"the daemon's lease (stderr: {self.stderr()[-2000:]})",
                        alive=self.process)

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait; return the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        """SIGKILL and reap."""
        self.process.kill()
        self.process.wait(timeout=30)

    def wait(self, timeout: float = 60.0) -> int:
        code = self.process.wait(timeout=timeout)
        self._stderr.close()
        return code

    def stop_quietly(self) -> None:
        """End the process however it is (test teardown)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self._stderr.close()


@contextmanager
def warehouse_held(project: Path) -> Iterator[None]:
    """Hold DuckDB's write lock on the warehouse, so a run stays waiting inside its worker."""
    path = project / ".flowdeck" / "warehouse.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(str(path))
    try:
        yield
    finally:
        connection.close()


def query(root: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the project's ledger directly (an independent view of what the daemon recorded)."""
    path = root / ".flowdeck" / "ledger.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(path, timeout=30) as db:
        try:
            return db.execute(sql, args).fetchall()
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):
                return []
            raise


def runs(root: Path, where: str = "1", args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Runs as dicts, oldest first."""
    path = root / ".flowdeck" / "ledger.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(path, timeout=30) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute(f"SELECT * FROM runs WHERE {where} ORDER BY created_at", args).fetchall()
    return [{**dict(row), "options": json.loads(row["options_json"])} for row in rows]


def http_get(url: str) -> tuple[int, bytes]:
    """GET; return (status code, body) for any status."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def readiness(address: str) -> list[str]:
    """The reasons the daemon's /readyz gives for not being ready (none when it is)."""
    return json.loads(http_get(f"{address}/readyz")[1])["reasons"]


def schedules(address: str) -> list[str]:
    """The schedules in force, as the daemon's /status describes them."""
    return [entry["schedule"] for entry in json.loads(http_get(f"{address}/status")[1])["schedules"]]


def wait_for(predicate: Callable[[], T | None], timeout: float, *, what: str,
             alive: subprocess.Popen[bytes] | None = None, interval: float = 0.1) -> T:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if alive is not None and alive.poll() is not None:
            raise AssertionError(f"process exited with {alive.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def flowdeck(root: Path, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run the CLI on the project."""
    return subprocess.run([FLOWDECK, "--project", str(root), *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "NO_COLOR": "1"})
