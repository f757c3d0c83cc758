"""Connection health: the daemon checks connections on its schedule and reports the unreachable
ones in /readyz, /status and `flowdeck status`; `flowdeck connections list` describes them."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from dbkit import PgDatabase, closed_port, flowdeck, ledger_rows, make_project, pg_connection, pipeline, spawn, wait_for

pytestmark = pytest.mark.slow


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def leased_address(root: Path) -> str | None:
    """The HTTP address the running daemon recorded in its lease, once it has."""
    try:
        rows = ledger_rows(root, "SELECT http_address FROM daemon_lease WHERE stopped_at IS NULL")
    except sqlite3.OperationalError:  # the ledger is not there, or not migrated, yet
        return None
    return rows[0][0] if rows and rows[0][0] else None


def test_the_daemon_reports_an_unreachable_connection_in_readyz_and_status(tmp_path: Path, pg: PgDatabase) -> None:
    port = closed_port()
    root = make_project(tmp_path / "project", {
        "good": pg_connection(pg),
        "down": pg_connection(pg, port=port),
        "ignored": pg_connection(pg, port=port, extra=", health_check: false"),
    }, daemon="daemon:\n  http: {port: 0}\n  connection_checks: 1h")
    daemon = spawn(root, "daemon", password=pg.cluster.password)
    try:
        url = f"http://{wait_for(lambda: leased_address(root), 60, 'the daemon lease')}"
        first = wait_for(lambda: (lambda checked: checked if all(item["checked_at"] for item in checked) else None)(
            get(f"{url}/status")[1]["connections"]), 60, "both connections checked")
        code, body = get(f"{url}/readyz")
        assert code == 503
        assert len(body["reasons"]) == 1
        assert body["reasons"][0].startswith("connection down [refused]: ")
        assert f"127.0.0.1:{port} (connection refused)" in body["reasons"][0]

        for _ in range(5):  # requests read the last check; they do not connect (the interval is an hour)
            get(f"{url}/readyz")
        time.sleep(0.5)
        assert get(f"{url}/status")[1]["connections"] == first
        checked = {item["name"]: item for item in first}
        assert set(checked) == {"good", "down"}  # health_check: false is not checked
        assert checked["good"]["ok"] is True and checked["down"]["ok"] is False
        assert checked["down"]["reason"] == "refused"

        def status_with_checks() -> dict | None:  # the lease carries the report, renewed every few seconds
            document = json.loads(flowdeck(root, "status", "--json", password=None).stdout)
            return document if all(item["ok"] is not None for item in document["connections"]) else None

        document = wait_for(status_with_checks, 60, "the checks in the daemon's lease")
        assert {item["name"]: item["ok"] for item in document["connections"]} == {"good": True, "down": False}
        assert document["daemon"]["ready"] is False and document["healthy"] is False
        text = flowdeck(root, "status", password=None).stdout
        assert "connection good: ✓ reachable" in text and "connection down: ✗" in text
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=60)
        except Exception:
            daemon.kill()
            daemon.wait()
    assert pg.cluster.password.encode() not in (root / ".flowdeck" / "logs" / "daemon.log").read_bytes()


def test_connections_list_describes_each_connection_without_its_password(tmp_path: Path, pg: PgDatabase) -> None:
    root = make_project(tmp_path / "project", {"db": pg_connection(pg, extra=", sslmode: prefer"),
                                               "files": "{type: sqlite, uri: data/app.sqlite}"})
    pipeline(root, "p", """
        - name: raw
          kind: extract
          source: {connection: db, table: public.orders}
        - name: out
          kind: load
          table: raw
          to: {connection: files, table: orders_copy, mode: append}
        """)
    listed = flowdeck(root, "connections", "list", "--json", password=pg.cluster.password)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == {"connections": [
        {"name": "db", "type": "postgresql", "where": f"postgresql://postgres@127.0.0.1:{pg.cluster.port}/{pg.name}",
         "sslmode": "prefer", "health_check": True,
         "used_by": [{"step": "p.raw", "access": "read", "table": "public.orders"}]},
        {"name": "files", "type": "sqlite", "where": str(root / "data" / "app.sqlite"), "sslmode": None,
         "health_check": True, "used_by": [{"step": "p.out", "access": "write", "table": "orders_copy"}]},
    ]}
    assert pg.cluster.password not in listed.stdout
