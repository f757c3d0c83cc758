"""`flowdeck spark serve` keeps one Spark driver warm; runs in other processes reuse it instead of starting a JVM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from flowdeck.engine.backends.spark.served import SERVED_FILE, announce, served_spark

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]


def flowdeck(project: Path, *arguments: str) -> list[str]:
    return [sys.executable, "-m", "flowdeck.console.cli.main", "--project", str(project), *arguments]


def test_a_run_in_another_process_reuses_the_served_spark_without_java(example_project: Path) -> None:
    (example_project / "flowdeck.yaml").write_text(
        (example_project / "flowdeck.yaml").read_text().replace("engine: duckdb", "engine: spark"))
    pipeline = example_project / "pipelines" / "tiny"
    pipeline.mkdir()
    (pipeline / "pipeline.yaml").write_text("steps:\n  - {name: answer, kind: transform, sql: answer.sql}\n")
    (pipeline / "answer.sql").write_text("SELECT 42 AS x\n")
    server = subprocess.Popen(flowdeck(example_project, "spark", "serve"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert "serves this project's runs on sc://localhost:" in line, server.stderr.read() if server.stderr else ""
        served = example_project / ".flowdeck" / SERVED_FILE
        assert stat.S_IMODE(served.stat().st_mode) == 0o600  # it holds the server's token
        assert json.loads(served.read_text())["pid"] == server.pid
        # no Java on this run's PATH: starting its own Spark driver would fail; the served one needs none
        env = {key: value for key, value in os.environ.items() if key != "JAVA_HOME"}
        env["PATH"] = str(Path(sys.executable).parent)
        done = subprocess.run(flowdeck(example_project, "run", "tiny"), capture_output=True, text=True, env=env,
                              timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        read = subprocess.run(flowdeck(example_project, "query", "SELECT x FROM answer", "--json"),
                              capture_output=True, text=True, env=env, timeout=600)
        assert read.returncode == 0, read.stderr
        assert json.loads(read.stdout) == [{"x": 42}]
        assert "read on spark" in read.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
    assert server.returncode == 0
    assert not (example_project / ".flowdeck" / SERVED_FILE).exists()  # withdrawn when it stopped


def test_the_daemon_keeps_spark_warm_for_its_runs_and_withdraws_it_when_it_stops(example_project: Path) -> None:
    config = example_project / "flowdeck.yaml"
    config.write_text(config.read_text().replace("engine: duckdb", "engine: spark")
                      + "daemon:\n  http: {port: 0}\n  shutdown_grace: 10s\n")
    pipeline = example_project / "pipelines" / "tiny"
    pipeline.mkdir()
    (pipeline / "pipeline.yaml").write_text("schedule:\n  interval: 5s\n  overlap: skip\n"
                                            "steps:\n  - {name: answer, kind: transform, sql: answer.sql}\n")
    (pipeline / "answer.sql").write_text("SELECT 42 AS x\n")
    for other in ("daily_sales", "ingest_orders"):  # only the scheduled pipeline: the example's have triggers
        shutil.rmtree(example_project / "pipelines" / other)
    log = example_project / "daemon-stderr.log"
    with open(log, "ab") as stderr:
        daemon = subprocess.Popen(flowdeck(example_project, "daemon"), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=stderr)
    served = example_project / ".flowdeck" / SERVED_FILE
    try:
        waited = wait_until(lambda: served.exists() and json.loads(served.read_text())["pid"] == daemon.pid, 300,
                            daemon)
        assert waited, f"the daemon announced no warm Spark: {log.read_text()[-3000:]}"
        assert stat.S_IMODE(served.stat().st_mode) == 0o600
        assert "kept warm for runs on sc://" in log.read_text()
        # the daemon's own worker runs the scheduled pipeline on it
        ledger = example_project / ".flowdeck" / "ledger.sqlite"
        assert wait_until(lambda: _statuses(ledger) & {"succeeded", "failed"}, 600, daemon), log.read_text()[-3000:]
        assert "succeeded" in _statuses(ledger), log.read_text()[-3000:]
        # another process with no Java at all reads the run's table through the daemon's warm Spark
        env = {key: value for key, value in os.environ.items() if key != "JAVA_HOME"}
        env["PATH"] = str(Path(sys.executable).parent)
        read = subprocess.run(flowdeck(example_project, "query", "SELECT x FROM answer", "--json"),
                              capture_output=True, text=True, env=env, timeout=600)
        assert read.returncode == 0, read.stderr
        assert json.loads(read.stdout) == [{"x": 42}] and "read on spark" in read.stderr
    finally:
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=180)
    assert code == 0, log.read_text()[-3000:]
    assert not served.exists()  # withdrawn when the daemon stopped


def _statuses(ledger: Path) -> set[str]:
    """The statuses of the project's runs, read from its ledger directly."""
    if not ledger.exists():
        return set()
    with sqlite3.connect(ledger, timeout=30) as db:
        try:
            return {row[0] for row in db.execute("SELECT status FROM runs").fetchall()}
        except sqlite3.OperationalError:  # the daemon has not made its tables yet
            return set()


def wait_until(predicate: Callable[[], object], timeout: float, process: subprocess.Popen[bytes]) -> bool:
    """Poll ``predicate`` until it holds (True), ``process`` exits or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def test_a_stale_served_file_is_ignored(tmp_path: Path) -> None:
    announce(tmp_path, "sc://localhost:1", "token", "local[2]")
    assert served_spark(tmp_path, "local[2]") is None  # written by this process: not another's server
    data = json.loads((tmp_path / SERVED_FILE).read_text())
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / SERVED_FILE).write_text(json.dumps({**data, "pid": int(gone.stdout)}))
    assert served_spark(tmp_path, "local[2]") is None  # its process is gone
    (tmp_path / SERVED_FILE).write_text(json.dumps({**data, "pid": os.getppid()}))
    assert served_spark(tmp_path, "local[2]") is None  # alive, but nothing listens on its port
    assert served_spark(tmp_path, "local[*]") is None  # another master
