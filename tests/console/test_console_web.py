"""The console in a browser: `flowdeck console --web` served by textual-serve on a loopback port,
driven by headless Chromium (Debian's, through Playwright), with and without a token, over TLS.

What a person does is checked where it lands: the console process a browser session starts
records its login (source ``web``, its role) in the audit log, and a key pressed in the page
queues a run, or does not when the session's role may not run.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import copy_example_project
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from playwright.sync_api import Page, sync_playwright

pytestmark = pytest.mark.slow

FLOWDECK = str(Path(sys.executable).with_name("flowdeck"))
CHROMIUM = "/usr/bin/chromium"  # Debian's (make tools installs it); Playwright's own browser downloads cannot run here
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]
CONSOLE_TOKEN = "console-web-token-2718281828"
READER_TOKEN = "reader-web-token-1414213562"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(project: Path, *args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`flowdeck console --web` on a free loopback port; yields its address once it answers."""
    port = free_port()
    env = {**os.environ, "FLOWDECK_SECRET_CONSOLE_WEB_TOKEN": CONSOLE_TOKEN, "FLOWDECK_SECRET_READER_TOKEN": READER_TOKEN}
    process = subprocess.Popen([FLOWDECK, "--project", str(project), "console", "--web", "--port", str(port), *args],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert line.startswith("serving the console of"), line + (process.stdout.read() if process.stdout else "")
        yield line.split(" at ", 1)[1].split("/ (", 1)[0], process
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def browser_page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800}, ignore_https_errors=True)
            yield context.new_page()
        finally:
            browser.close()


def audit(project: Path, action: str) -> list[dict[str, Any]]:
    """The audit entries of ``action`` (none while the ledger is still being created)."""
    path = project / ".flowdeck" / "ledger.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(path, timeout=30) as db:
        db.row_factory = sqlite3.Row
        try:
            rows = db.execute("SELECT actor, source, outcome, details_json FROM audit_log WHERE action = ?",
                              (action,)).fetchall()
        except sqlite3.OperationalError:  # no such table yet
            return []
        return [{**dict(row), "details": json.loads(row["details_json"] or "{}")} for row in rows]


def runs_requested(project: Path) -> list[str]:
    path = project / ".flowdeck" / "ledger.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(path, timeout=30) as db:
        try:
            return [row[0] for row in db.execute("SELECT requested_by FROM runs ORDER BY created_at")]
        except sqlite3.OperationalError:  # no such table yet
            return []


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def open_console(page: Page, url: str) -> None:
    """Load the page and wait until the console's first bytes reach the terminal."""
    page.goto(url)
    page.wait_for_function("document.body.classList.contains('-first-byte')", timeout=60_000)
    page.focus(".xterm-helper-textarea")  # where xterm.js takes the keyboard from


def logins(project: Path) -> list[dict[str, Any]]:
    return [entry for entry in audit(project, "login") if entry["source"] == "web"]


def status(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_browser_opens_the_console_on_loopback_and_runs_a_pipeline_from_it(tmp_path: Path) -> None:
    project = copy_example_project(tmp_path / "project")
    with served(project) as (url, _server), browser_page() as page:
        assert url.startswith("http://127.0.0.1:")
        open_console(page, url + "/")
        login = wait_for(lambda: logins(project), 60, "the browser session's console to record its login")[0]
        assert login["details"]["role"] == "admin"  # no roles: in the example project: the serving user is admin
        assert login["actor"].endswith("(web: local)")
        time.sleep(1.0)  # the pipelines list loads in a worker after the first paint
        page.keyboard.press("r")  # run the selected pipeline (daily_sales): it asks for its parameter, `since`
        time.sleep(1.0)
        page.keyboard.press("Enter")  # run it with the default
        requested = wait_for(lambda: runs_requested(project), 60, "the run the key press queued")
        assert requested == [login["actor"]]
        page.screenshot(path=str(tmp_path / "console.png"))
        # the same console, refused to another site's page and to a name rebound to 127.0.0.1
        port = url.rsplit(":", 1)[1]
        assert status(url + "/", {"Origin": "http://evil.example"}) == 403
        assert status(url + "/", {"Host": f"rebound.example:{port}"}) == 403
        assert status(f"http://localhost:{port}/") == 200


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    import ipaddress

    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "console.pem", folder / "console.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_with_a_token_and_tls_a_browser_gets_in_only_with_a_token_and_acts_with_its_role(tmp_path: Path) -> None:
    project = copy_example_project(tmp_path / "project")
    cert, key = self_signed(tmp_path)
    with open(project / "flowdeck.yaml", "a") as config:
        config.write(f"""
console:
  web:
    token: ${{secret:CONSOLE_WEB_TOKEN}}
    tls_certificate: {cert}
    tls_key: {key}
daemon:
  http:
    tokens:
      readers: {{token: "${{secret:READER_TOKEN}}", role: viewer}}
""")
    with served(project) as (url, _server), browser_page() as page:
        assert url.startswith("https://127.0.0.1:")
        response = page.goto(url + "/")
        assert response is not None and response.status == 401
        response = page.goto(url + "/?token=wrong")
        assert response is not None and response.status == 401
        assert not logins(project)

        open_console(page, url + f"/?token={READER_TOKEN}&fontsize=14")
        assert page.url == url + "/?fontsize=14"  # the token left the address bar for a session cookie
        cookie = next(c for c in page.context.cookies() if c["name"] == "flowdeck_console")
        assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
        login = wait_for(lambda: logins(project), 60, "the viewer session's login")[0]
        assert login["details"]["role"] == "viewer" and login["actor"].endswith("(web: readers)")
        time.sleep(1.0)
        page.keyboard.press("r")  # a viewer may not run: the console refuses, nothing is queued
        time.sleep(1.0)
        page.keyboard.press("Enter")
        time.sleep(3.0)
        assert runs_requested(project) == []

        page.context.clear_cookies()
        open_console(page, url + f"/?token={CONSOLE_TOKEN}")  # the console's own token: the serving user's role
        wait_for(lambda: any(entry["actor"].endswith("(web: console)") and entry["details"]["role"] == "admin"
                             for entry in logins(project)), 60, "the console-token session's login")


def refusal(project: Path, *args: str) -> str:
    result = subprocess.run([FLOWDECK, "--project", str(project), "console", "--web", *args], capture_output=True,
                            text=True, timeout=60, env={**os.environ, "FLOWDECK_SECRET_CONSOLE_WEB_TOKEN": CONSOLE_TOKEN})
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    return result.stdout + result.stderr


def test_beyond_loopback_the_console_needs_a_token_and_tls_or_a_proxy(tmp_path: Path) -> None:
    project = copy_example_project(tmp_path / "project")
    original = (project / "flowdeck.yaml").read_text()
    # refused before anything listens
    assert "set console.web.public_url" in refusal(project, "--host", "0.0.0.0", "--port", "8443")
    (project / "flowdeck.yaml").write_text(original + "console:\n  web:\n    public_url: https://flowdeck.example.com\n")
    assert "reachable beyond this machine (https://flowdeck.example.com) without a token" in refusal(project)
    (project / "flowdeck.yaml").write_text(
        original + "console:\n  web:\n    token: ${secret:CONSOLE_WEB_TOKEN}\n    public_url: http://10.0.0.5:8793\n")
    assert "without TLS: its token would cross the network in clear" in refusal(project, "--host", "0.0.0.0")


def test_a_token_carrying_more_than_the_serving_user_gets_the_serving_users_role() -> None:
    from flowdeck.console.web.access import WebAccess
    from flowdeck.engine.daemon.http_auth import TokenHolder, Tokens

    access = WebAccess(host="127.0.0.1", port=8793, public_url="http://127.0.0.1:8793",
                       tokens=Tokens((), required=True), server_role="operator")
    assert access.session(TokenHolder("ci", "admin")).role == "operator"
    assert access.session(TokenHolder("readers", "viewer")).role == "viewer"
    assert access.session(TokenHolder("daemon", None)).role == "operator"
    assert access.session(None).role == "operator"
