"""The daemon's connection checks: every connection with ``health_check: true`` is probed on a
schedule (``daemon.connection_checks``) in a thread of its own, and the last outcome is what
/readyz, /status and ``flowdeck status`` report. A request never waits for a database.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowdeck.engine.connectors.health import Check
    from flowdeck.engine.project.project import Project

log = logging.getLogger("flowdeck.daemon.connections")


class ConnectionChecks:
    """Checks the project's connections every ``interval`` seconds; remembers the last outcome of each."""

    def __init__(self, project: Project, interval: float | None) -> None:
        self.project = project
        self.interval = interval
        self.names = sorted(name for name, config in project.config.connections.items() if config.health_check)
        self._results: dict[str, tuple[Check, float]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="connection-checks", daemon=True)

    @property
    def enabled(self) -> bool:
        """Whether there is anything to check, and checks are on."""
        return bool(self.names) and self.interval is not None and self.interval > 0

    def start(self) -> None:
        """Check at once, then every ``interval`` seconds, in the background."""
        if self.enabled:
            self._thread.start()

    def shutdown(self) -> None:
        """Stop checking (a check under way finishes within its connect timeout)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1.0)

    def check_now(self) -> None:
        """Check every connection once (the loop's work)."""
        from flowdeck.engine.connectors.health import Check, probe_reachable  # the drivers load only when there is a check

        for name in self.names:
            if self._stop.is_set():
                return
            try:
                outcome = probe_reachable(self.project, name)
            except Exception as error:  # noqa: BLE001 - a bug in one check must not stop the others
                log.exception("checking connection %s failed unexpectedly", name)
                outcome = Check("connect", False, reason="unknown", message=f"internal error: {error}")
            with self._lock:
                previous = self._results.get(name)
                self._results[name] = (outcome, time.time())
            if outcome.ok and previous is not None and not previous[0].ok:
                log.info("connection %s is reachable again", name)
            elif not outcome.ok and (previous is None or previous[0].ok):
                log.error("connection %s: %s", name, outcome.message)

    def _loop(self) -> None:
        assert self.interval is not None
        while not self._stop.is_set():
            self.check_now()
            self._stop.wait(self.interval)

    def problems(self) -> list[str]:
        """One sentence for each connection whose last check failed."""
        with self._lock:
            results = dict(self._results)
        return [f"connection {name} [{check.reason}]: {check.message}" for name, (check, _at) in sorted(results.items())
                if not check.ok]

    def report(self) -> list[dict[str, Any]]:
        """The last outcome of each checked connection (``flowdeck status``, /status)."""
        with self._lock:
            results = dict(self._results)
        from flowdeck.state.records import iso

        return [{"name": name, "ok": results[name][0].ok if name in results else None,
                 "checked_at": iso(results[name][1]) if name in results else None,
                 "reason": results[name][0].reason if name in results else None,
                 "message": results[name][0].message if name in results else "not checked yet",
                 "seconds": round(results[name][0].seconds, 3) if name in results else None}
                for name in self.names]
