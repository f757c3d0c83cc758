"""Real notification receivers on 127.0.0.1 (SMTP and HTTP) and small projects that alert."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

FLOWDECK = str(Path(sys.executable).with_name("flowdeck"))
SMTP_USER = "flowdeck"


def write(path: Path, text: str) -> Path:
    """Write a file (dedented), creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


class _PortZeroController(Controller):
    """aiosmtpd's controller on a port the kernel picks (it checks readiness on ``self.port``)."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpServer:
    """An SMTP server on 127.0.0.1 that requires a login and keeps every message it receives."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.messages: list[bytes] = []
        self.logins: list[str] = []
        self._controller = _PortZeroController(self, hostname="127.0.0.1", port=0, authenticator=self._authenticate,
                                               auth_require_tls=False, auth_required=True)

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._controller.stop()

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password.decode() == self.password
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(bytes(envelope.content))
        return "250 OK"

    def texts(self) -> list[str]:
        """Each message's subject and plain-text body, decoded."""
        texts = []
        for raw in self.messages:
            message = message_from_bytes(raw, policy=policy.default)
            body = message.get_body(preferencelist=("plain",))
            texts.append(f"Subject: {message['Subject']}\n\n{body.get_content() if body else ''}")
        return texts


class HttpReceiver:
    """An HTTP server on 127.0.0.1 recording each POST; ``status`` decides its answer, ``on_post`` may act first."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes, int]] = []
        self.status = 200
        self.on_post: Callable[[bytes], None] | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.on_post is not None:
                    receiver.on_post(body)
                status = receiver.status
                receiver.requests.append((dict(self.headers), body, status))
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HttpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def accepted(self) -> list[dict[str, Any]]:
        """The JSON bodies of the requests answered 2xx."""
        return [json.loads(body) for _, body, status in self.requests if 200 <= status < 300]


def make_project(root: Path, alerts_yaml: str, *, extra: str = "") -> Path:
    """A project with an `orders` pipeline (extract a CSV, total it) and the given ``alerts:`` section."""
    write(root / "flowdeck.yaml", "name: alert-test\nwarehouse:\n  lock_timeout: 60s\n" + extra
          + textwrap.dedent(alerts_yaml))
    write(root / "data" / "orders.csv", "id,amount\n" + "".join(f"{i},{i * 10}\n" for i in range(1, 41)))
    write(root / "pipelines" / "orders" / "pipeline.yaml", """
        steps:
          - name: raw_orders
            kind: extract
            source: {path: data/orders.csv}
          - name: order_totals
            kind: transform
            sql: order_totals.sql
        """)
    make_healthy(root)
    return root


def make_failing(root: Path) -> None:
    """Break the `order_totals` step: its SQL reads a column that does not exist."""
    write(root / "pipelines" / "orders" / "order_totals.sql", "SELECT sum(amount_typo) AS total FROM raw_orders\n")


def make_healthy(root: Path) -> None:
    """Fix the `order_totals` step."""
    write(root / "pipelines" / "orders" / "order_totals.sql", "SELECT count(*) AS orders, sum(amount) AS total FROM raw_orders\n")


def flowdeck(root: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the `flowdeck` command on the project in a subprocess."""
    return subprocess.run([FLOWDECK, "--project", str(root), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll until ``predicate`` returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
