"""The daemon's HTTP endpoint under abuse: idle connections, clients that vanish, a thousand requests at
once. It must keep answering /healthz, keep the scheduler on time, and stay quiet in its log.

All against the real daemon process on 127.0.0.1, limited to 1,024 open files (the usual
default soft limit of a service).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from pathlib import Path

import pytest
from daemonkit import Daemon, http_get, make_project, numbers_pipeline, query, wait_for

pytestmark = pytest.mark.slow

DEFAULT_OPEN_FILES = 1024


def _host_port(address: str) -> tuple[str, int]:
    host, port = address.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _idle_connections(address: str, count: int, within: float = 30.0) -> list[socket.socket]:
    """``count`` connections that each send the first line of a request and then nothing (slowloris),
    opened one after the other (so each is accepted), for at most ``within`` seconds."""
    sockets: list[socket.socket] = []
    deadline = time.monotonic() + within
    while len(sockets) < count and time.monotonic() < deadline:
        connection = socket.socket()
        connection.settimeout(3)
        try:
            connection.connect(_host_port(address))
            connection.sendall(b"GET /status HTTP/1.1\r\n")
        except OSError:
            connection.close()
            continue
        sockets.append(connection)
        time.sleep(0.003)
    return sockets


def _log_of(daemon: Daemon) -> str:
    return daemon.stderr() + (daemon.root / ".flowdeck" / "logs" / "daemon.log").read_text(errors="replace")


def test_idle_connections_neither_starve_health_checks_nor_make_a_slot_missed(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    numbers_pipeline(project, "ticking", header="""
        schedule:
          interval: 3s
          misfire_grace: 2s
          overlap: skip
        """)
    daemon = Daemon(project, open_files=DEFAULT_OPEN_FILES)
    idle: list[socket.socket] = []
    try:
        address = daemon.address()
        wait_for(lambda: query(project, "SELECT 1 FROM schedule_ticks WHERE status = 'submitted'"), 60,
                 what="the first scheduled slot", alive=daemon.process)
        started = time.time()
        idle = _idle_connections(address, 1100)
        probes: list[tuple[int, float]] = []
        probing = time.time()
        while time.time() - probing < 12:
            before = time.monotonic()
            try:
                code, _ = http_get(f"{address}/healthz")
            except OSError:
                code = 0
            probes.append((code, time.monotonic() - before))
            time.sleep(0.5)
        ticks = query(project, "SELECT status, reason FROM schedule_ticks WHERE ts >= ?", (started,))
        for connection in idle:
            connection.close()
        idle = []
        assert daemon.terminate() == 0
    finally:
        for connection in idle:
            connection.close()
        daemon.stop_quietly()
    slow = [(code, round(seconds, 2)) for code, seconds in probes if code != 200 or seconds > 3]
    assert not slow, f"/healthz failed or took over 3 s under 1,100 idle connections: {slow}"
    assert not [tick for tick in ticks if tick[0] in ("missed", "failed")], ticks
    assert any(status == "submitted" for status, _ in ticks), ticks


def _vanish(address: str, request: bytes) -> None:
    """Send ``request`` and reset the connection at once, before any answer (SO_LINGER 0: a RST)."""
    connection = socket.create_connection(_host_port(address), timeout=5)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.sendall(request)
    connection.close()


def test_clients_that_disconnect_are_not_logged_as_errors(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    numbers_pipeline(project, "fine")
    daemon = Daemon(project)
    try:
        address = daemon.address()
        for _ in range(40):
            _vanish(address, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            _vanish(address, b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
            _vanish(address, b"GET /heal")
        time.sleep(2)
        assert http_get(f"{address}/healthz")[0] == 200
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
    log = _log_of(daemon)
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]


async def _get(host: str, port: int, path: str, timeout: float) -> int:
    """One GET on a fresh connection; its status code (0 when it timed out or the connection failed)."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            status_line = await reader.readline()
            await reader.read()
            writer.close()
            return int(status_line.split()[1])
    except (OSError, TimeoutError, IndexError, ValueError):
        return 0


async def _many(address: str, paths: list[str], timeout: float) -> list[int]:
    host, port = _host_port(address)
    return list(await asyncio.gather(*(_get(host, port, path, timeout) for path in paths)))


def test_a_thousand_concurrent_requests_are_all_answered(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    numbers_pipeline(project, "fine")
    daemon = Daemon(project, open_files=DEFAULT_OPEN_FILES)
    try:
        address = daemon.address()
        paths = ["/healthz", "/readyz", "/metrics", "/status"] * 250
        codes = asyncio.run(_many(address, paths, timeout=20))
        assert http_get(f"{address}/healthz")[0] == 200
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
    unanswered = sum(1 for code in codes if code == 0)
    assert unanswered == 0, f"{unanswered} of 1,000 concurrent requests got no answer within 20 s"
    assert all(code in (200, 503) for code in codes), sorted(set(codes))
    assert sum(1 for code in codes if code == 200) >= 990, f"{codes.count(503)} refused"
    assert " ERROR " not in _log_of(daemon)
