"""Spark Connect sessions: to a remote server, or to one started in this process (master mode).

In master mode the first session starts the Spark driver in this process with the Spark
Connect plugin, listening on 127.0.0.1 only (driver, block manager, Connect; UI off), on a
free port of its own, with a fresh warehouse directory. The driver lives until the process
exits; every backend then opens its own Connect session on it (isolated temporary views,
about a second), so a daemon or a test run pays the JVM start once.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flowdeck.engine.errors import FlowdeckError, StepFailed

if TYPE_CHECKING:
    from pyspark.sql.connect.session import SparkSession

    from flowdeck.engine.project.config.spark import SparkConfig

# Settings every session gets so that results match DuckDB's: UTC, ANSI, TIMESTAMP without zone.
SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
}
TOKEN_ENV = "SPARK_CONNECT_AUTHENTICATE_TOKEN"
# Settings of a driver started on a local[…] master (`conf` overrides each). The JIT: every query
# makes new classes (Spark's generated code, its plans' closures), and the driver's C2 compiler
# kept compiling them run after run, warm: about 4 of a warm example run's 7 s of driver CPU.
# C1 alone compiles them at a fraction of the cost (on one machine's data the slower code is the
# smaller price: bench/README.md, Spark section). C1 alone also shrinks the JVM's code cache to
# 48 MB, which a few runs fill, and flushing it and compiling again cost as much: the tiered size.
LOCAL_CONF = {
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.adaptive.enabled": "false",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m",
}


@dataclass(frozen=True)
class LocalServer:
    """A Spark driver with the Connect plugin, started in this process."""

    master: str
    url: str
    warehouse_dir: str
    started_seconds: float


@dataclass(frozen=True)
class ServedSpark:
    """A Spark Connect server another process keeps warm for the project (``served.py``)."""

    url: str
    token: str
    master: str
    pid: int


_servers: dict[str, LocalServer] = {}
_lock = threading.Lock()


def require_pyspark() -> None:
    """Fail with a clear message when the Spark extra is not installed."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise FlowdeckError(
            "the Spark engine needs pyspark, which is not installed",
            hint="install the extra: pip install 'flowdeck[spark]' (and Java 17+ for master mode)",
        ) from None


def connect(settings: SparkConfig, served: ServedSpark | None = None) -> SparkSession:
    """A new, isolated Spark Connect session on the configured server: ``spark.remote``, else the project's
    warm server ``served`` (``flowdeck spark serve``, the daemon), else one started in this process."""
    require_pyspark()
    from pyspark.sql.connect.session import SparkSession

    _quiet_python_logging()
    if settings.remote:
        url = settings.remote
    elif served is not None and not _servers:
        url = served.url
        os.environ[TOKEN_ENV] = served.token  # the Connect client authenticates with it
    else:
        url = local_server(settings).url
    try:
        session = SparkSession.builder.remote(url).create()
        for key, value in settings.conf.items():
            if key in SESSION_CONF:
                continue  # set below, whatever conf says (each setting is a round trip: set once)
            try:
                session.conf.set(key, value)
            except Exception:  # a static setting: only the server's start can set it
                pass
        for key, value in SESSION_CONF.items():  # these must hold whatever conf says
            session.conf.set(key, value)
    except FlowdeckError:
        raise
    except Exception as error:
        raise StepFailed(f"cannot open a Spark session on {url}: {first_line(error)}", transient=True,
                         hint="check that the Spark Connect server is running and reachable") from None
    return session


def local_server(settings: SparkConfig) -> LocalServer:
    """The in-process Spark driver for ``settings.master``, started on first use."""
    with _lock:
        server = _servers.get(settings.master)
        if server is None:
            server = _start(settings)
            _servers[settings.master] = server
        return server


def _start(settings: SparkConfig) -> LocalServer:
    from pyspark import SparkConf, SparkContext

    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise FlowdeckError("Spark in master mode needs Java 17 or newer, and `java` is not on PATH",
                            hint="install it (apt-get install openjdk-17-jre-headless) or set spark.remote")
    started = time.monotonic()
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"  # no listener on another interface
    os.environ.setdefault(TOKEN_ENV, secrets.token_hex(16))
    port = _free_port()
    warehouse_dir = tempfile.mkdtemp(prefix="flowdeck-spark-warehouse-")
    atexit.register(shutil.rmtree, warehouse_dir, True)
    if "SPARK_CONF_DIR" not in os.environ:  # Spark reads log4j2.properties from there: keep the terminal quiet
        _log_config(warehouse_dir)
        os.environ["SPARK_CONF_DIR"] = warehouse_dir
    conf = SparkConf(loadDefaults=False).setAll([
        ("spark.master", settings.master),
        ("spark.app.name", "flowdeck"),
        ("spark.driver.host", "127.0.0.1"),
        ("spark.driver.bindAddress", "127.0.0.1"),
        ("spark.driver.memory", settings.driver_memory),
        ("spark.ui.enabled", "false"),
        ("spark.ui.showConsoleProgress", "false"),
        ("spark.connect.grpc.binding.address", "127.0.0.1"),
        ("spark.connect.grpc.binding.port", str(port)),
        ("spark.sql.warehouse.dir", warehouse_dir),  # fresh: a reused one fails with LOCATION_ALREADY_EXISTS
        ("spark.plugins", "org.apache.spark.sql.connect.SparkConnectPlugin"),
        # On one machine Spark's 200 shuffle partitions only slow it down, and adaptive execution runs each
        # stage of a query as a job of its own (a step's checks: five jobs where one does), which costs more
        # than it adapts on data one machine holds; a cluster keeps its own settings, `conf` overrides these
        *(LOCAL_CONF.items() if settings.master.startswith("local") else []),
        *settings.conf.items(),
        *SESSION_CONF.items(),
    ])
    try:
        context = SparkContext.getOrCreate(conf)
    except Exception as error:
        raise StepFailed(f"cannot start Spark ({settings.master}): {first_line(error)}") from None
    context.setLogLevel("ERROR")
    atexit.register(_stop, context)
    return LocalServer(master=settings.master, url=f"sc://localhost:{port}", warehouse_dir=warehouse_dir,
                       started_seconds=time.monotonic() - started)


def _stop(context: Any) -> None:
    try:
        context.stop()
    except Exception:
        pass


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _log_config(folder: str) -> str:
    """A log4j2 configuration that keeps the driver quiet on the terminal (errors reach us as exceptions)."""
    path = os.path.join(folder, "log4j2.properties")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("rootLogger.level = error\nrootLogger.appenderRef.stderr.ref = console\n"
                     "appender.console.type = Console\nappender.console.name = console\n"
                     "appender.console.target = SYSTEM_ERR\nappender.console.layout.type = PatternLayout\n"
                     "appender.console.layout.pattern = %m%n\nappender.console.filter.threshold.type = "
                     "ThresholdFilter\nappender.console.filter.threshold.level = fatal\n")
    return path


def _quiet_python_logging() -> None:
    """pyspark logs every failed query as JSON on stderr; flowdeck reports the error itself."""
    for name in ("pyspark", "py4j", "SQLQueryContextLogger"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def first_line(error: BaseException) -> str:
    """The first line of a Spark error, without its JVM stack trace."""
    text = str(error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    return line[:500]
