"""The daemon's HTTP rule: loopback by default; elsewhere a bearer token for everything but /healthz."""

from __future__ import annotations

from pathlib import Path

import pytest
from security_helpers import write

from engine.errors import ConfigError
from engine.http_auth import authorized, http_token, is_loopback
from engine.masking import mask
from engine.project.project import Project


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.8.0.3", True), ("::1", True),
                                            ("[::1]", True), ("localhost", True), ("0.0.0.0", False),
                                            ("192.0.2.10", False), ("example.org", False)])
def test_loopback_addresses_are_recognised(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_binding_beyond_loopback_without_a_token_is_refused(project: Path) -> None:
    loaded = Project.load(project)
    assert http_token(loaded, "127.0.0.1") is None
    with pytest.raises(ConfigError, match="without a token"):
        http_token(loaded, "0.0.0.0")


def test_with_a_token_every_endpoint_but_healthz_needs_it(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project / "flowdeck.yaml", (project / "flowdeck.yaml").read_text()
          + "\nsecurity:\n  http_token: ${secret:DAEMON_HTTP_TOKEN}\n")
    monkeypatch.setenv("FLOWDECK_SECRET_DAEMON_HTTP_TOKEN", "daemon-token-31415926")
    token = http_token(Project.load(project), "0.0.0.0")
    assert token == "daemon-token-31415926"
    assert authorized("/healthz", None, token)
    assert not authorized("/status", None, token)
    assert not authorized("/metrics", "Bearer wrong", token)
    assert authorized("/metrics?x=1", "Bearer daemon-token-31415926", token)
    assert mask(f"token was {token}") == "token was ***"  # resolved through the secrets API, so masked
