"""Each way a connection can fail has its own plain message, and the password never shows."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import pytest
from dbkit import (
    PgDatabase,
    closed_port,
    flowdeck,
    ledger_bytes,
    ledger_rows,
    make_project,
    pg_connection,
    pipeline,
    step_status,
)
from postgres_server import Cluster, write_certificates

pytestmark = pytest.mark.slow

WRONG_PASSWORD = "Wr0ng-P@ss word/%-never-shown"


def extract_project(root: Path, connection: str, table: str = "items") -> Path:
    make_project(root, {"src": connection})
    pipeline(root, "pull", f"""
        - name: pulled
          kind: extract
          source: {{connection: src, table: {table}}}
        """)
    return root


def assert_never_shown(password: str, *texts: str | bytes) -> None:
    """Neither the password nor its URL-encoded forms appear anywhere."""
    forms = {password, urllib.parse.quote(password, safe=""), urllib.parse.quote_plus(password)}
    for text in texts:
        data = text.encode() if isinstance(text, str) else text
        for form in forms:
            assert form.encode() not in data, f"the password ({form!r}) leaked"


@pytest.fixture
def items(pg: PgDatabase) -> PgDatabase:
    pg.execute("CREATE TABLE items (id integer)", "INSERT INTO items VALUES (1), (2)")
    return pg


def test_a_wrong_password_says_authentication_failed(tmp_path: Path, items: PgDatabase) -> None:
    root = extract_project(tmp_path / "project", pg_connection(items))
    result = flowdeck(root, "run", "pull", password=WRONG_PASSWORD)
    assert result.returncode == 1
    error = step_status(root, "pulled")["error"]
    assert "refused the login of user `postgres` (authentication failed)" in error
    assert "flowdeck secrets set" in error
    assert ledger_rows(root, "SELECT error_kind FROM step_metrics WHERE step = 'pulled'") == \
        [("database authentication",)]  # what `flowdeck stats` counts it as
    test = flowdeck(root, "connections", "test", "src", "--json", password=WRONG_PASSWORD)
    assert test.returncode == 1
    check = json.loads(test.stdout)["connections"][0]["checks"][0]
    assert (check["what"], check["ok"], check["reason"]) == ("connect", False, "authentication")
    assert_never_shown(WRONG_PASSWORD, result.stdout, result.stderr, test.stdout, test.stderr, ledger_bytes(root))


def test_a_closed_port_says_connection_refused(tmp_path: Path, items: PgDatabase) -> None:
    port = closed_port()
    root = extract_project(tmp_path / "project", pg_connection(items, port=port))
    result = flowdeck(root, "run", "pull", password=items.cluster.password)
    assert result.returncode == 1
    error = step_status(root, "pulled")["error"]
    assert f"nothing accepts connections at 127.0.0.1:{port} (connection refused)" in error
    assert "authentication" not in error and "TLS" not in error
    assert ledger_rows(root, "SELECT error_kind FROM step_metrics WHERE step = 'pulled'") == [("database refused",)]
    test = flowdeck(root, "connections", "test", password=items.cluster.password)
    assert test.returncode == 1 and "[refused]" in test.stdout
    assert_never_shown(items.cluster.password, result.stdout, result.stderr, test.stdout, ledger_bytes(root))


def test_a_missing_table_says_which_table(tmp_path: Path, items: PgDatabase) -> None:
    root = extract_project(tmp_path / "project", pg_connection(items), table="public.no_such_table")
    result = flowdeck(root, "run", "pull", password=items.cluster.password)
    assert result.returncode == 1
    error = step_status(root, "pulled")["error"]
    assert "table `public.no_such_table` does not exist" in error
    test = flowdeck(root, "connections", "test", "--json", password=items.cluster.password)
    checks = json.loads(test.stdout)["connections"][0]["checks"]
    assert [(c["what"], c["ok"], c["reason"]) for c in checks] == [
        ("connect", True, None), ("read public.no_such_table (pull.pulled)", False, "missing_table")]
    assert_never_shown(items.cluster.password, result.stdout, result.stderr, test.stdout, ledger_bytes(root))


def test_an_unknown_host_says_dns(tmp_path: Path, items: PgDatabase) -> None:
    root = extract_project(tmp_path / "project", pg_connection(items, host="no-such-host.invalid"))
    result = flowdeck(root, "run", "pull", password=items.cluster.password)
    assert result.returncode == 1
    assert "(DNS lookup failed)" in step_status(root, "pulled")["error"]


def test_a_missing_database_says_so(tmp_path: Path, items: PgDatabase) -> None:
    connection = pg_connection(items).replace(f"/{items.name}", "/no_such_database")
    root = extract_project(tmp_path / "project", connection)
    result = flowdeck(root, "connections", "test", "--json", password=items.cluster.password)
    check = json.loads(result.stdout)["connections"][0]["checks"][0]
    assert check["reason"] == "database" and "does not exist" in check["message"]


def test_a_user_without_the_grant_gets_permission_denied(tmp_path: Path, items: PgDatabase) -> None:
    items.execute("CREATE ROLE reader LOGIN PASSWORD 'reader-secret-1'", "CREATE TABLE vault (x integer)",
                  f'GRANT CONNECT ON DATABASE "{items.name}" TO reader', "GRANT SELECT ON items TO reader")
    root = make_project(tmp_path / "project", {"src": pg_connection(items, user="reader")})
    pipeline(root, "pull", """
        - name: fine
          kind: extract
          source: {connection: src, table: items}
        - name: locked
          kind: extract
          source: {connection: src, table: vault}
        - name: back
          kind: load
          table: fine
          to: {connection: src, table: copy_of_items, mode: replace}
        """)
    result = flowdeck(root, "run", "pull", password="reader-secret-1")
    assert result.returncode == 1
    assert step_status(root, "fine")["status"] == "succeeded"
    assert "no permission on `vault` (permission denied)" in step_status(root, "locked")["error"]
    assert "(permission denied)" in step_status(root, "back")["error"]
    test = flowdeck(root, "connections", "test", "--json", password="reader-secret-1")
    checks = {c["what"]: c for c in json.loads(test.stdout)["connections"][0]["checks"]}
    assert checks["read items (pull.fine)"]["ok"] and checks["read vault (pull.locked)"]["reason"] == "permission"
    assert checks["write copy_of_items (pull.back)"]["reason"] == "permission"
    assert not items.exists("copy_of_items")  # the write probe changed nothing
    assert_never_shown("reader-secret-1", result.stdout, result.stderr, test.stdout, ledger_bytes(root))


def test_sslmode_require_against_a_server_without_tls_says_tls(tmp_path: Path, items: PgDatabase) -> None:
    root = extract_project(tmp_path / "project", pg_connection(items, extra=", sslmode: require"))
    result = flowdeck(root, "run", "pull", password=items.cluster.password)
    assert result.returncode == 1
    error = step_status(root, "pulled")["error"]
    assert "the TLS (SSL) handshake with 127.0.0.1" in error and "sslmode" in error
    assert_never_shown(items.cluster.password, result.stdout, result.stderr, ledger_bytes(root))


def test_tls_settings_reach_the_server(tmp_path: Path, postgres_tls: Cluster) -> None:
    tls_db = PgDatabase(postgres_tls, "tls_" + tmp_path.name[-8:].replace("-", "_").lower())
    tls_db.create()
    ca = Path(postgres_tls.ca_file or "")
    root = tmp_path / "project"
    (root / "certs").mkdir(parents=True)
    (root / "certs" / "ca.crt").write_bytes(ca.read_bytes())
    other = tmp_path / "other"
    other.mkdir()
    other_ca, _, _ = write_certificates(other, common_name="some other CA")
    (root / "certs" / "other.crt").write_bytes(other_ca.read_bytes())
    make_project(root, {
        "verified": pg_connection(tls_db, extra=", sslmode: verify-full, sslrootcert: certs/ca.crt"),
        "wrong_ca": pg_connection(tls_db, extra=", sslmode: verify-full, sslrootcert: certs/other.crt"),
    })
    pipeline(root, "tls", """
        - name: session
          kind: extract
          source: {connection: verified, query: "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"}
        """)
    result = flowdeck(root, "run", "tls", password=postgres_tls.password)
    assert result.returncode == 0, result.stderr
    import duckdb

    with duckdb.connect(str(root / ".flowdeck" / "warehouse.duckdb"), read_only=True) as db:
        ssl, version = db.execute("SELECT ssl, version FROM session").fetchone()  # type: ignore[misc]
    assert ssl is True and version.startswith("TLS")
    test = flowdeck(root, "connections", "test", "wrong_ca", "--json", password=postgres_tls.password)
    check = json.loads(test.stdout)["connections"][0]["checks"][0]
    assert check["reason"] == "tls" and "certificate" in check["message"]
