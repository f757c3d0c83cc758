"""Who may talk to the daemon's HTTP endpoint: the address allowlist (daemon.http.allow), checked
before any token, against a real daemon bound to 127.0.0.2 and clients connecting from other
loopback addresses."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import pytest
from daemonkit import Daemon, make_project, write

pytestmark = pytest.mark.slow

TOKEN = "daemon-http-token-8675309"


def request(address: str, method: str, path: str, *, source: str = "127.0.0.1", token: str | None = None,
            body: dict[str, object] | None = None) -> tuple[int, bytes]:
    """One request from the loopback address ``source``; (status, body)."""
    host, port = address.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=30, source_address=(source, 0))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def allowlisted_project(root: Path, allow: list[str], *, token: bool) -> Path:
    make_project(root)
    token_line = "\n    token: ${env:DAEMON_HTTP_TOKEN}" if token else ""
    write(root / "flowdeck.yaml", (root / "flowdeck.yaml").read_text().replace(
        "  http: {port: 0}\n", f"  http:\n    host: 127.0.0.2\n    port: 0\n    allow: {json.dumps(allow)}{token_line}\n"))
    return root


def test_an_address_outside_the_allowlist_gets_403_before_its_token_is_looked_at(tmp_path: Path) -> None:
    project = allowlisted_project(tmp_path / "project", ["127.0.0.3/32", "10.20.0.0/16"], token=True)
    daemon = Daemon(project, env={"DAEMON_HTTP_TOKEN": TOKEN})
    try:
        address = daemon.address()
        assert address.startswith("http://127.0.0.2:")
        # from 127.0.0.1: refused whatever it sends, the open /healthz included
        assert request(address, "GET", "/healthz")[0] == 403
        assert request(address, "GET", "/status", token=TOKEN)[0] == 403
        assert request(address, "GET", "/metrics", token="wrong")[0] == 403
        # from 127.0.0.3, in the list: the token rule as usual
        assert request(address, "GET", "/healthz", source="127.0.0.3")[0] == 200
        assert request(address, "GET", "/status", source="127.0.0.3")[0] == 401
        assert request(address, "GET", "/status", source="127.0.0.3", token=TOKEN)[0] == 200
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()


def test_an_allowlist_entry_that_is_not_a_network_is_a_config_error_naming_it(tmp_path: Path) -> None:
    from daemonkit import flowdeck

    project = allowlisted_project(tmp_path / "project", ["10.20.0.0/16", "10.20.0.0/33"], token=False)
    result = flowdeck(project, "validate")
    assert result.returncode != 0
    assert "daemon.http.allow" in result.stdout + result.stderr
    assert "'10.20.0.0/33' is not an address or a network" in result.stdout + result.stderr
