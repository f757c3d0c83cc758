"""One daemon per project: the OS file lock that enforces it and the ledger lease that shows it.

The lock (``flock`` on ``.flowdeck/daemon.lock``) is what excludes a second daemon; the kernel
releases it when the process dies, however it dies. The lease row in the ledger is for
everyone else to see: which pid, since when, where its HTTP endpoint is, what it reports.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowdeck.engine.alerts.rules import DaemonHealth
from flowdeck.engine.errors import EXIT_BUSY, FlowdeckError
from flowdeck.engine.run.processes import pid_alive
from flowdeck.state import DaemonLease, Ledger
from flowdeck.state.records import iso

LOCK_FILE = "daemon.lock"
LEASE_HEARTBEAT_SECONDS = 5.0
LEASE_STALE_SECONDS = 30.0  # six missed heartbeats: the daemon is hung or gone


class DaemonAlreadyRunning(FlowdeckError):
    """Another daemon holds the project's lock."""

    exit_code = EXIT_BUSY


class ProjectLock:
    """An exclusive, non-blocking ``flock`` on the project's daemon lock file."""

    def __init__(self, runtime_dir: Path) -> None:
        self.path = runtime_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise ``DaemonAlreadyRunning`` naming the holder."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DaemonAlreadyRunning(
                f"a daemon is already running for this project: {self._describe_holder()}",
                hint="stop it first (SIGTERM, or `systemctl stop flowdeck`), or see it with `flowdeck status`",
            ) from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (the kernel also drops it when the process ends)."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def _describe_holder(self) -> str:
        # The holder writes who it is right after locking; give it a moment if we raced it.
        for _ in range(20):
            try:
                holder = json.loads(self.path.read_text() or "null")
            except (OSError, ValueError):
                holder = None
            if holder:
                since = iso(holder.get("since")) or "?"
                return f"pid {holder.get('pid')} on {holder.get('host')}, since {since}"
            time.sleep(0.05)
        return f"the process holding {self.path}"


@dataclass(frozen=True)
class DaemonState:
    """Whether the project's daemon runs, and what its lease says."""

    running: bool
    reason: str
    lease: DaemonLease | None

    def to_json(self) -> dict[str, Any]:
        """The ``daemon`` object of ``flowdeck status --json``."""
        lease = self.lease
        return {
            "running": self.running,
            "state": self.reason,
            "pid": lease.pid if lease else None,
            "host": lease.host if lease else None,
            "since": iso(lease.started_at) if lease else None,
            "heartbeat_at": iso(lease.heartbeat_at) if lease else None,
            "stopped_at": iso(lease.stopped_at) if lease else None,
            "http": f"http://{lease.http_address}" if lease and lease.http_address else None,
        }


def read_daemon_state(ledger: Ledger, now: float | None = None) -> DaemonState:
    """Decide from the lease whether a daemon is running: not stopped, heartbeat fresh, pid alive."""
    lease = ledger.daemon_lease()
    now = now or time.time()
    if lease is None:
        return DaemonState(False, "never started", None)
    if lease.stopped_at is not None:
        return DaemonState(False, f"stopped at {iso(lease.stopped_at)}", lease)
    if lease.host == socket.gethostname() and not pid_alive(lease.pid):
        return DaemonState(False, f"not running: its process (pid {lease.pid}) is gone", lease)
    silence = now - lease.heartbeat_at
    if silence > LEASE_STALE_SECONDS:
        return DaemonState(False, f"not responding: no heartbeat for {silence:.0f}s (pid {lease.pid})", lease)
    return DaemonState(True, "running", lease)


def daemon_health(state: DaemonState) -> DaemonHealth:
    """The daemon's health as the alert rules see it from outside: unhealthy since its last heartbeat
    when it stopped without being stopped; healthy when it runs, never started, or was stopped on purpose."""
    lease = state.lease
    if state.running or lease is None or lease.stopped_at is not None:
        return DaemonHealth(unhealthy_for=None)
    return DaemonHealth(unhealthy_for=time.time() - lease.heartbeat_at, reasons=(state.reason,))
