"""docs/troubleshooting.md quotes what flowdeck really prints: each symptom is provoked, and its words must be on the page.

Paths, run ids and numbers differ from machine to machine, so both sides are compared with
those replaced by placeholders; everything else must match word for word.
"""

from __future__ import annotations

import re
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from flowdeck.state.schema import SCHEMA_VERSION
from tests.conftest import REPO_ROOT, clean_env, run_flowdeck

PAGE = REPO_ROOT / "docs" / "troubleshooting.md"
NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


def normal(text: str) -> str:
    """Text with what differs between machines replaced: run ids, absolute paths, numbers; spaces collapsed."""
    text = re.sub(r"\b\d{8}-\d{6}-[0-9a-f]{6}\b", "RUN", text)
    text = re.sub(r"(?<![\w.])/[^\s`'\"]+", "PATH", text)
    text = re.sub(r"\d+(?:\.\d+)?", "N", text)
    return " ".join(text.split())


def assert_quoted(output: str) -> None:
    """Every line flowdeck printed appears on the page."""
    page = normal(PAGE.read_text())
    missing = [line for line in output.strip().splitlines() if line.strip() and normal(line) not in page]
    assert not missing, "docs/troubleshooting.md does not quote:\n" + "\n".join(missing)


def append_config(project: Path, text: str) -> None:
    config = project / "flowdeck.yaml"
    config.write_text(config.read_text() + text)


@pytest.fixture
def warehouse_held(project: Path) -> Iterator[None]:
    """Another process holds the warehouse's lock for a while (as a long run would)."""
    assert run_flowdeck("run", "daily_sales", project=project).returncode == 0
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time\n"
                               f"c = duckdb.connect({str(project / '.flowdeck' / 'warehouse.duckdb')!r})\n"
                               "print('held', flush=True)\ntime.sleep(60)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    yield
    holder.kill()
    holder.wait()


def test_warehouse_busy(project: Path, warehouse_held: None) -> None:
    config = project / "flowdeck.yaml"
    config.write_text(config.read_text().replace("lock_timeout: 60s", "lock_timeout: 2s"))
    result = run_flowdeck("run", "daily_sales", project=project)
    assert result.returncode == 4, result
    assert_quoted("\n".join(line for line in result.stderr.splitlines()
                            if line.startswith(("waiting for", "the warehouse", "hint:"))))


def test_run_abandoned(project: Path) -> None:
    crashed = run_flowdeck("run", "daily_sales", project=project,
                           env=clean_env(FLOWDECK_DEBUG_CRASH_AT="published:raw_orders"))
    assert crashed.returncode == -9, crashed
    runs = run_flowdeck("runs", "--json", project=project).json()
    assert runs[0]["status"] == "abandoned"
    assert_quoted(runs[0]["error"])


def test_alert_channel_refuses(project: Path) -> None:
    with closing(socket.socket()) as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    append_config(project, f"""
alerts:
  channels:
    ops_email: {{type: email, url: "mailto://127.0.0.1:{port}?from=flowdeck@example.com&to=oncall@example.com"}}
""")
    result = run_flowdeck("alerts", "test", "ops_email", project=project)
    assert result.returncode == 1, result
    assert_quoted(next(line for line in result.output.splitlines() if line.startswith("✗ ops_email")))


def test_no_keyring_and_no_master_key(project: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "flowdeck.console.cli.main", "--project", str(project), "secrets", "set",
                             "PG_PASSWORD"], input="s3cret\n", capture_output=True, text=True,
                            env=clean_env(**NO_KEYRING), timeout=60)
    assert result.returncode == 2, result
    assert_quoted(result.stderr.splitlines()[0])


def test_wrong_master_key(project: Path) -> None:
    def set_secret(key: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "flowdeck.console.cli.main", "--project", str(project), "secrets", "set",
                               "PG_PASSWORD"], input="s3cret\n", capture_output=True, text=True, timeout=60,
                              env=clean_env(FLOWDECK_MASTER_KEY=key, **NO_KEYRING))

    assert set_secret("the-first-master-key-0123").returncode == 0
    result = set_secret("another-master-key-456789")
    assert result.returncode == 2, result
    assert_quoted(result.stderr)


def test_ledger_newer_than_flowdeck(project: Path) -> None:
    assert run_flowdeck("run", "daily_sales", project=project).returncode == 0
    with closing(sqlite3.connect(project / ".flowdeck" / "ledger.sqlite")) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    result = run_flowdeck("runs", project=project)
    assert result.returncode == 2, result
    assert_quoted(result.stderr)


def test_damaged_ledger(project: Path) -> None:
    (project / ".flowdeck").mkdir()
    (project / ".flowdeck" / "ledger.sqlite").write_bytes(b"not a database\n" * 512)
    result = run_flowdeck("runs", project=project)
    assert result.returncode == 2, result
    assert_quoted(result.stderr)


def test_query_before_any_run(project: Path) -> None:
    result = run_flowdeck("query", "SELECT 1", project=project)
    assert result.returncode == 2, result
    assert_quoted(result.stderr)


def test_the_page_quotes_each_symptom_once_under_its_own_heading() -> None:
    headings = re.findall(r"^## (.+)$", PAGE.read_text(), re.M)
    assert len(headings) == len(set(headings)) >= 8
