"""The daemon's HTTP endpoint on loopback: /healthz, /readyz, /status and /metrics.

Plain ``http.server`` in a thread: four read-only GET routes do not need a framework.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.daemon.http_auth import authorized

log = logging.getLogger("flowdeck.daemon.http")
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Routes:
    """What the endpoint serves, as callables of the daemon."""

    health: Callable[[], tuple[bool, list[str]]]
    ready: Callable[[], tuple[bool, list[str]]]
    status: Callable[[], dict[str, Any]]
    metrics: Callable[[], bytes]


class HttpEndpoint:
    """A threaded HTTP server bound to ``host:port`` (port 0: a free one)."""

    def __init__(self, host: str, port: int, routes: Routes, *, token: str | None = None) -> None:
        handler = _handler_for(routes, token)
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except OSError as error:
            raise FlowdeckError(
                f"the daemon cannot listen on {host}:{port}: {error.strerror or error}",
                hint="another process uses that port: set daemon.http.port in flowdeck.yaml (0 picks a free port)",
            ) from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)

    @property
    def address(self) -> str:
        """``host:port`` actually bound."""
        host, port = self._server.socket.getsockname()[:2]  # server_address's host may be bytes, for typeshed
        return f"{host}:{port}"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


def _handler_for(routes: Routes, token: str | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "flowdeck"

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = self.path.split("?", 1)[0].rstrip("/") or "/"
            if not authorized(path, self.headers.get("Authorization"), token):
                self._send(401, "text/plain; charset=utf-8", b"unauthorized: send Authorization: Bearer <token>\n")
                return
            try:
                if path == "/healthz":
                    self._probe(*routes.health())
                elif path == "/readyz":
                    self._probe(*routes.ready())
                elif path == "/status":
                    self._send(200, "application/json", json.dumps(routes.status(), indent=2, default=str).encode())
                elif path == "/metrics":
                    self._send(200, PROMETHEUS_CONTENT_TYPE, routes.metrics())
                else:
                    self._send(404, "text/plain; charset=utf-8", b"not found: try /healthz /readyz /status /metrics\n")
            except Exception as error:  # a bug must not kill the endpoint; say it and log it
                log.exception("HTTP %s failed", path)
                self._send(500, "text/plain; charset=utf-8", f"internal error: {error}\n".encode())

        def _probe(self, ok: bool, reasons: list[str]) -> None:
            body = {"ok": ok, "reasons": reasons}
            self._send(200 if ok else 503, "application/json", json.dumps(body).encode())

        def _send(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - scrapes are not news
            log.debug("%s " + format, self.client_address[0], *args)

    return Handler
