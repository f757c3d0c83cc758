"""Structured logs: the daemon and its workers write one JSON object a line, forward them to syslog
(a UDP receiver on 127.0.0.1) and to the journal (a socket speaking journald's native protocol),
and a secret a run meets appears in none of them."""

from __future__ import annotations

import json
import socket
import struct
import threading
from pathlib import Path
from typing import Any

import pytest
from daemonkit import Daemon, flowdeck, make_project, numbers_pipeline, runs, wait_for, write

pytestmark = pytest.mark.slow

PASSWORD = "pg-Log5/S3cret-7c1d"
FIELDS = ("time", "level", "event", "run_id", "pipeline", "step", "message")


class Receiver:
    """A datagram socket (UDP on 127.0.0.1, or a Unix socket) keeping every datagram it receives."""

    def __init__(self, family: socket.AddressFamily, address: Any) -> None:
        self.socket = socket.socket(family, socket.SOCK_DGRAM)
        self.socket.bind(address)
        self.socket.settimeout(0.2)
        self.datagrams: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                self.datagrams.append(self.socket.recv(1 << 20))
            except TimeoutError:
                continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.socket.close()


def failing_pipeline(root: Path) -> None:
    """A pipeline failing with an error that quotes a connection string holding a secret."""
    write(root / "pipelines" / "remote" / "pipeline.yaml", """
        params:
          dsn:
            default: postgresql://etl:${env:LOG_TEST_PASSWORD}@db.internal:5432/sales
        steps:
          - name: remote_rows
            kind: transform
        """)
    write(root / "pipelines" / "remote" / "remote_rows.sql", "SELECT * FROM read_csv($dsn)\n")


def json_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a log file, parsed; fails on a line that is not a JSON object with the fields."""
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        record = json.loads(line)
        assert isinstance(record, dict) and all(key in record for key in FIELDS), f"{path.name}:{number}: {line}"
        records.append(record)
    return records


def syslog_records(datagrams: list[bytes]) -> list[tuple[int, dict[str, Any]]]:
    """(priority, JSON record) of each ``<PRI>flowdeck[pid]: {...}`` datagram."""
    found = []
    for datagram in datagrams:
        text = datagram.decode().rstrip("\x00")
        assert text.startswith("<") and "flowdeck[" in text, text
        priority, rest = text[1:].split(">", 1)
        found.append((int(priority), json.loads(rest.split("]: ", 1)[1])))
    return found


def journal_fields(datagram: bytes) -> dict[str, str]:
    """The fields of one datagram of journald's native protocol (both the plain and the sized form)."""
    fields: dict[str, str] = {}
    at = 0
    while at < len(datagram):
        end = datagram.index(b"\n", at)
        line = datagram[at:end]
        if b"=" in line:
            name, value = line.split(b"=", 1)
            at = end + 1
        else:  # NAME\n, a 64-bit little-endian size, the value, \n
            name = line
            size = struct.unpack("<Q", datagram[end + 1:end + 9])[0]
            value = datagram[end + 9:end + 9 + size]
            assert datagram[end + 9 + size:end + 10 + size] == b"\n"
            at = end + 10 + size
        fields[name.decode()] = value.decode()
    return fields


def finished(root: Path, count: int) -> bool:
    return len([run for run in runs(root) if run["status"] in ("succeeded", "failed")]) >= count


def test_daemon_and_workers_log_json_lines_to_file_syslog_and_journal_with_secrets_masked(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    syslog = Receiver(socket.AF_INET, ("127.0.0.1", 0))
    journal_path = tmp_path / "journal.socket"
    journal = Receiver(socket.AF_UNIX, str(journal_path))
    with open(project / "flowdeck.yaml", "a") as config:
        config.write(f"logging:\n  format: json\n  syslog: udp://127.0.0.1:{syslog.port}\n"
                     f"  syslog_facility: local3\n  journald: {journal_path}\n")
    numbers_pipeline(project, "fine")
    failing_pipeline(project)
    env = {"LOG_TEST_PASSWORD": PASSWORD}
    daemon = Daemon(project, env=env)
    try:
        daemon.address()
        for pipeline in ("fine", "remote"):
            assert flowdeck(project, "run", pipeline, "--detach").returncode == 0
        wait_for(lambda: finished(project, 2), 120, what="both runs to finish", alive=daemon.process)
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
        syslog.close()
        journal.close()
    fine = runs(project, "pipeline = 'fine'")[0]
    remote = runs(project, "pipeline = 'remote'")[0]
    assert (fine["status"], remote["status"]) == ("succeeded", "failed")

    logs = project / ".flowdeck" / "logs"
    daemon_records = json_lines(logs / "daemon.log")
    events = {(record["event"], record["run_id"], record["pipeline"]) for record in daemon_records}
    assert {("run.started", fine["run_id"], "fine"), ("run.succeeded", fine["run_id"], "fine"),
            ("run.started", remote["run_id"], "remote"), ("run.failed", remote["run_id"], "remote")} <= events
    assert all(record["level"] in ("debug", "info", "warning", "error") for record in daemon_records)
    assert json_lines(project / "daemon-stderr.log") == daemon_records  # stderr says the same, also as JSON

    worker = json_lines(logs / f"worker-{fine['run_id']}.log")
    steps = [(record["event"], record["step"]) for record in worker if record["event"].startswith("step.")]
    assert steps == [("step.started", "fine_raw"), ("step.succeeded", "fine_raw"),
                     ("step.started", "fine_total"), ("step.succeeded", "fine_total")]
    assert {record["run_id"] for record in worker} == {fine["run_id"]}
    assert worker[-1]["event"] == "run.succeeded"
    failed = json_lines(logs / f"worker-{remote['run_id']}.log")
    step_failed = next(record for record in failed if record["event"] == "step.failed")
    assert (step_failed["level"], step_failed["step"]) == ("error", "remote_rows")
    assert "postgresql://etl:***@db.internal:5432/sales" in step_failed["message"]

    forwarded = syslog_records(syslog.datagrams)
    local3 = 19 * 8  # facility local3; the severity is the low three bits
    assert all(priority // 8 * 8 == local3 for priority, _ in forwarded)
    by_event = {(record["event"], record["run_id"]): priority % 8 for priority, record in forwarded}
    assert by_event[("run.started", fine["run_id"])] == 6  # informational, from the daemon
    assert by_event[("step.succeeded", fine["run_id"])] == 6  # from the worker
    assert by_event[("step.failed", remote["run_id"])] == 3  # error

    journaled = [journal_fields(datagram) for datagram in journal.datagrams]
    step = next(fields for fields in journaled if fields.get("FLOWDECK_EVENT") == "step.failed")
    assert (step["FLOWDECK_RUN_ID"], step["FLOWDECK_PIPELINE"], step["FLOWDECK_STEP"], step["PRIORITY"]) == \
        (remote["run_id"], "remote", "remote_rows", "3")
    assert json.loads(step["MESSAGE"])["step"] == "remote_rows"  # the line as configured: JSON
    assert step["SYSLOG_IDENTIFIER"] == "flowdeck"

    everything = b"".join(path.read_bytes() for path in logs.iterdir()) + b"".join(syslog.datagrams) + \
        b"".join(journal.datagrams) + (project / "daemon-stderr.log").read_bytes()
    assert PASSWORD.encode() not in everything
    assert b"***" in everything


def test_log_format_on_the_command_line_overrides_the_project_for_the_daemon_and_its_workers(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    numbers_pipeline(project, "fine")
    daemon = Daemon(project, args=("--log-format", "json"))
    try:
        daemon.address()
        assert flowdeck(project, "run", "fine", "--detach").returncode == 0
        wait_for(lambda: finished(project, 1), 120, what="the run to finish", alive=daemon.process)
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
    run_id = runs(project)[0]["run_id"]
    assert any(record["event"] == "run.succeeded" for record in json_lines(project / ".flowdeck/logs/daemon.log"))
    assert json_lines(project / f".flowdeck/logs/worker-{run_id}.log")[-1]["event"] == "run.succeeded"


def test_a_journal_socket_that_is_not_there_stops_the_daemon_at_start_saying_so(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    with open(project / "flowdeck.yaml", "a") as config:
        config.write(f"logging:\n  journald: {tmp_path / 'no-journal.socket'}\n")
    result = flowdeck(project, "daemon", timeout=60)
    assert result.returncode != 0
    assert f"logging.journald: there is no journal socket at {tmp_path / 'no-journal.socket'}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_syslog_address_that_is_not_one_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    numbers_pipeline(project, "fine")
    with open(project / "flowdeck.yaml", "a") as config:
        config.write("logging:\n  syslog: 127.0.0.1:514\n")
    result = flowdeck(project, "validate")
    assert result.returncode != 0
    assert "logging.syslog" in result.stdout + result.stderr
    assert "udp://HOST:PORT" in result.stdout + result.stderr


def test_under_systemd_with_journald_on_records_reach_the_journal_once_not_also_through_stderr(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    journal_path = tmp_path / "journal.socket"
    journal = Receiver(socket.AF_UNIX, str(journal_path))
    with open(project / "flowdeck.yaml", "a") as config:
        config.write(f"logging:\n  journald: {journal_path}\n")
    stderr = project / "daemon-stderr.log"
    stderr.touch()
    connected = stderr.stat()  # what systemd puts in $JOURNAL_STREAM when stderr is the journal
    daemon = Daemon(project, env={"JOURNAL_STREAM": f"{connected.st_dev}:{connected.st_ino}"})
    try:
        daemon.address()
        wait_for(lambda: any(b"MESSAGE=daemon pid" in datagram for datagram in journal.datagrams), 30,
                 what="the daemon's first record in the journal", alive=daemon.process)
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
        journal.close()
    assert "daemon pid" not in daemon.stderr()
    assert "daemon pid" in (project / ".flowdeck" / "logs" / "daemon.log").read_text()  # the file keeps them all
