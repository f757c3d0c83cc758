"""A project's warm Spark server (``flowdeck spark serve``): where it listens, so other processes reuse it.

In master mode each process used to start its own Spark driver (a JVM, 10–50 s) before its
first query. A served driver writes ``.flowdeck/spark-server.json`` (readable by its owner
only: it holds the server's authentication token) with its Connect URL, token, master and
pid; a run, ``flowdeck query`` or the console in another process of the same project opens
a session on it instead (about a second) while that process lives and listens. The file is
removed when the server stops; a stale one (its process gone) is ignored.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from flowdeck.engine.backends.spark.session import TOKEN_ENV, LocalServer, ServedSpark, connect, local_server

if TYPE_CHECKING:
    from flowdeck.engine.project.config.spark import SparkConfig

SERVED_FILE = "spark-server.json"


def served_spark(runtime_dir: Path, master: str) -> ServedSpark | None:
    """The project's served Spark for ``master``, if its process lives and accepts connections."""
    try:
        served = ServedSpark(**json.loads((runtime_dir / SERVED_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    if served.master != master or served.pid == os.getpid() or not _alive(served.pid):
        return None
    port = urlparse(served.url.replace("sc://", "http://", 1)).port
    try:
        socket.create_connection(("127.0.0.1", port or 0), timeout=2).close()
    except OSError:
        return None
    return served


def announce(runtime_dir: Path, url: str, token: str, master: str) -> Path:
    """Write the served-server file for this process's server (atomically, owner-only)."""
    runtime_dir.mkdir(parents=True, exist_ok=True)
    path = runtime_dir / SERVED_FILE
    partial = runtime_dir / f".{SERVED_FILE}.{os.getpid()}"
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(asdict(ServedSpark(url=url, token=token, master=master, pid=os.getpid())), handle)
    os.replace(partial, path)
    return path


def withdraw(runtime_dir: Path) -> None:
    """Remove the served-server file if this process wrote it."""
    path = runtime_dir / SERVED_FILE
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def serve(runtime_dir: Path, settings: SparkConfig) -> LocalServer:
    """Start this process's Spark driver (master mode), warm it with a first query, and announce it to the
    project's other processes. ``withdraw`` when the process stops serving."""
    server = local_server(settings)
    session = connect(settings)  # the first session and query load most of Spark's query path
    try:
        session.sql("SELECT 1 AS warm").collect()
    finally:
        session.stop()
    announce(runtime_dir, server.url, os.environ[TOKEN_ENV], settings.master)
    return server


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (the run layer's pid_alive is above the backends)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True
