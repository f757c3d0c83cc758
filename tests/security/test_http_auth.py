"""The daemon's HTTP rule: loopback by default; elsewhere a bearer token for everything but /healthz."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
from security_helpers import write

from flowdeck.engine.daemon.http import HttpEndpoint, Routes
from flowdeck.engine.errors import ConfigError
from flowdeck.engine.daemon.http_auth import authorized, http_token, is_loopback
from flowdeck.engine.masking import mask
from flowdeck.engine.project.project import Project

TOKEN = "daemon-token-31415926"


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


def with_token(project: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    write(project / "flowdeck.yaml", (project / "flowdeck.yaml").read_text()
          + "\ndaemon:\n  http:\n    port: 0\n    token: ${secret:DAEMON_HTTP_TOKEN}\n")
    monkeypatch.setenv("FLOWDECK_SECRET_DAEMON_HTTP_TOKEN", TOKEN)
    return Project.load(project)


def test_with_a_token_every_endpoint_but_healthz_needs_it(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = http_token(with_token(project, monkeypatch), "0.0.0.0")
    assert token == TOKEN
    assert authorized("/healthz", None, token)
    assert not authorized("/status", None, token)
    assert not authorized("/metrics", "Bearer wrong", token)
    assert authorized("/metrics?x=1", f"Bearer {TOKEN}", token)
    assert mask(f"token was {token}") == "token was ***"  # resolved through the secrets API, so masked


def get(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_daemon_endpoint_enforces_the_token(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = with_token(project, monkeypatch)
    routes = Routes(health=lambda: (True, []), ready=lambda: (True, []), status=lambda: {"ok": True},
                    metrics=lambda: b"# metrics\n")
    endpoint = HttpEndpoint("127.0.0.1", 0, routes, token=http_token(loaded, "127.0.0.1"))
    endpoint.start()
    try:
        base = f"http://{endpoint.address}"
        assert get(f"{base}/healthz") == 200
        assert get(f"{base}/status") == 401
        assert get(f"{base}/metrics", "wrong-token") == 401
        assert get(f"{base}/status", TOKEN) == 200
        assert get(f"{base}/metrics", TOKEN) == 200
    finally:
        endpoint.stop()


@pytest.mark.parametrize("address, allowed", [("10.20.3.4", True), ("10.21.0.1", False), ("::ffff:10.20.0.9", True),
                                              ("2001:db8::1", True), ("2001:db9::1", False), ("fe80::1%eth0", False),
                                              ("not-an-address", False)])
def test_the_allowlist_matches_addresses_and_networks_of_both_families(address: str, allowed: bool) -> None:
    import ipaddress

    from flowdeck.engine.daemon.http_auth import address_allowed

    networks = (ipaddress.ip_network("10.20.0.0/16"), ipaddress.ip_network("2001:db8::/32"))
    assert address_allowed(address, networks) is allowed
    assert address_allowed(address, None)  # no allowlist: everyone
