"""Fixtures of the doc tests: the example project after a few runs, and a mail server for `alerts test`."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.alerts.alertkit import _PortZeroController
from tests.conftest import FLOWDECK, REPO_ROOT, clean_env, copy_example_project

DOC_PAGES = sorted((REPO_ROOT / "docs").glob("*.md")) + [REPO_ROOT / "README.md"]
SMTP_URL_VARIABLE = "DOC_TEST_OPS_EMAIL_URL"


@dataclass(frozen=True)
class PreparedProject:
    """A copy of the example project with history: two successful runs, then a failed one, and its alert."""

    root: Path
    older_run: str  # succeeded; its daily_sales is a kept version (rollback target)
    current_run: str  # succeeded; its daily_sales is the current version
    failed_run: str  # failed (the last run): resumable
    alert_id: str


def _ledger_value(root: Path, sql: str) -> str:
    with closing(sqlite3.connect(f"file:{root / '.flowdeck' / 'ledger.sqlite'}?mode=ro", uri=True)) as db:
        return str(db.execute(sql).fetchone()[0])


@pytest.fixture(scope="session")
def prepared_example(tmp_path_factory: pytest.TempPathFactory) -> PreparedProject:
    """Built once per test process, copied by each test that changes it (see ``example_with_history``)."""
    root = copy_example_project(tmp_path_factory.mktemp("prepared") / "project")
    config_path = root / "flowdeck.yaml"
    config = yaml.safe_load(config_path.read_text())
    # the channels the docs try (`flowdeck alerts test ops_email`), sent to the test's own SMTP server
    for channel in ("ops_email", "finance_email"):
        config.setdefault("alerts", {}).setdefault("channels", {})[channel] = {
            "type": "email", "url": "${env:" + SMTP_URL_VARIABLE + "}"}
    # the connection the docs test (`flowdeck connections test sales_db`): a SQLite database in the project
    with closing(sqlite3.connect(root / "data" / "sales.sqlite")) as db, db:
        db.execute("CREATE TABLE orders (order_id INTEGER PRIMARY KEY, amount REAL)")
        db.execute("INSERT INTO orders VALUES (1, 12.5), (2, 40.0)")
    config["connections"] = {"sales_db": {"type": "sqlite", "uri": "data/sales.sqlite"}}
    # enough kept versions that the older run's table is still there after a page's own runs
    config.setdefault("retention", {})["output_versions"] = 20
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    env = clean_env()
    # the older run publishes other data (a later `since`), so rolling back to it changes something
    for params, extra in ((["--param", "since=2026-11-01"], {}), ([], {}),
                          (["--force"], {"FLOWDECK_DEBUG_FAIL_AT": "staging:daily_sales:1"})):
        subprocess.run([str(FLOWDECK), "--project", str(root), "run", "daily_sales", *params], env={**env, **extra},
                       capture_output=True, timeout=300, check=False)
    runs = [(_ledger_value(root, f"SELECT run_id FROM runs ORDER BY created_at LIMIT 1 OFFSET {n}"),
             _ledger_value(root, f"SELECT status FROM runs ORDER BY created_at LIMIT 1 OFFSET {n}")) for n in range(3)]
    assert [status for _, status in runs] == ["succeeded", "succeeded", "failed"], runs
    alert = _ledger_value(root, "SELECT substr(fingerprint, 1, 8) FROM alerts WHERE rule = 'run_failed'")
    return PreparedProject(root, runs[0][0], runs[1][0], runs[2][0], alert)


@pytest.fixture
def example_with_history(prepared_example: PreparedProject, tmp_path: Path) -> PreparedProject:
    """A private copy of the prepared project (runtime files included)."""
    root = tmp_path / "project"
    shutil.copytree(prepared_example.root, root)
    # the README's examples use the checkout's virtual environment
    (root / ".venv" / "bin").mkdir(parents=True)
    os.symlink(FLOWDECK, root / ".venv" / "bin" / "flowdeck")
    return PreparedProject(root, prepared_example.older_run, prepared_example.current_run,
                           prepared_example.failed_run, prepared_example.alert_id)


class Mailbox:
    """An SMTP server on 127.0.0.1 (a port the kernel picks) keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self._controller = _PortZeroController(self, hostname="127.0.0.1", port=0)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(bytes(envelope.content))  # type: ignore[attr-defined]
        return "250 OK"

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def subjects(self) -> list[str]:
        """The Subject line of each message received."""
        from email import message_from_bytes, policy

        return [str(message_from_bytes(raw, policy=policy.default)["Subject"]) for raw in self.messages]


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A running SMTP server for the examples that send mail."""
    box = Mailbox()
    box._controller.start()
    try:
        yield box
    finally:
        box._controller.stop()


__all__ = ["DOC_PAGES", "SMTP_URL_VARIABLE", "Mailbox", "PreparedProject", "REPO_ROOT"]
