"""`flowdeck doctor`: real failures are found, each with the fix a person needs; a healthy project passes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import tempfile
from contextlib import closing
from pathlib import Path

import pytest

from flowdeck.engine.operations.doctor import (
    DoctorFinding,
    check_packages,
    check_python,
    check_terminal,
    writable_problem,
)
from flowdeck.state.schema import SCHEMA_VERSION
from tests.conftest import clean_env, run_flowdeck

NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


def _project(tmp_path: Path, template: str = "minimal") -> Path:
    root = tmp_path / "p"
    assert run_flowdeck("init", str(root), "--template", template, cwd=tmp_path).returncode == 0
    return root


def _doctor(root: Path | None, *, cwd: Path | None = None, **env: str) -> tuple[int, dict[str, DoctorFinding]]:
    result = run_flowdeck("doctor", "--json", project=root, cwd=cwd, env=clean_env(**NO_KEYRING, **env))
    assert result.returncode in (0, 1), result
    assert "Traceback" not in result.output
    payload = result.json()
    findings = {item["check"]: DoctorFinding(**item) for item in payload["checks"]}
    assert payload["status"] == ("fail" if any(f.status == "fail" for f in findings.values()) else
                                 "warn" if any(f.status == "warn" for f in findings.values()) else "ok")
    assert result.returncode == (1 if payload["status"] == "fail" else 0)
    return result.returncode, findings


def test_healthy_project_passes_with_every_check_reported(tmp_path: Path) -> None:
    root = _project(tmp_path)
    assert run_flowdeck("run", "hello", project=root).returncode == 0
    code, findings = _doctor(root, FLOWDECK_MASTER_KEY="a" * 32)
    assert code == 0
    assert {"python", "flowdeck", "duckdb", "sqlglot", "textual", "pyspark", "terminal", "keyring", "path runtime",
            "path logs", "path warehouse", "path tmp", "ledger", "warehouse", "daemon", "pipelines"} <= set(findings)
    assert {name for name, finding in findings.items() if finding.status not in ("ok", "skip")} == set()
    assert f"schema version {SCHEMA_VERSION} (current)" in findings["ledger"].detail
    assert "opens (" in findings["warehouse"].detail
    assert findings["keyring"].detail.startswith("encrypted file keyring")
    assert findings["daemon"].detail.startswith("not running") and "no pipeline has a schedule" in findings["daemon"].detail


def test_text_output_prints_a_fix_under_each_problem(tmp_path: Path) -> None:
    root = _project(tmp_path, "incremental_daily")
    result = run_flowdeck("doctor", project=root, env=clean_env(**NO_KEYRING))
    assert result.returncode == 0, result  # warnings only
    lines = result.stdout.splitlines()
    daemon = next(index for index, line in enumerate(lines) if line.split()[2:3] == ["daemon"])
    assert lines[daemon].startswith("! warn") and "sales_daily" in lines[daemon]
    assert "fix: start it: `flowdeck daemon`" in lines[daemon + 1]
    assert "fine" in lines[-1] and "0 failed" in lines[-1]


def test_a_runtime_folder_that_cannot_be_created_fails_with_a_fix(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "blocker").write_text("a file where a folder should be\n")
    project_file = root / "flowdeck.yaml"
    project_file.write_text(project_file.read_text().replace("runtime_dir: .flowdeck", "runtime_dir: blocker/.flowdeck"))
    code, findings = _doctor(root)
    assert code == 1
    for label in ("runtime", "logs", "tmp"):
        finding = findings[f"path {label}"]
        assert finding.status == "fail", finding
        assert f"{root / 'blocker'} is a file, not a folder" in finding.detail
        assert finding.fix is not None and "runtime_dir in flowdeck.yaml" in finding.fix and "chown" in finding.fix


def test_a_read_only_runtime_folder_is_judged_by_trying_to_write(tmp_path: Path) -> None:
    root = _project(tmp_path)
    runtime = root / ".flowdeck"
    runtime.mkdir()
    runtime.chmod(0o500)
    try:
        writable = _can_write(runtime)  # as root, permission bits do not stop a write
        code, findings = _doctor(root)
    finally:
        runtime.chmod(0o700)
    finding = findings["path runtime"]
    if writable:
        assert finding.status == "ok", finding
    else:
        assert (code, finding.status) == (1, "fail")
        assert f"cannot write to {runtime}: Permission denied" == finding.detail
        assert finding.fix is not None and "make it writable by" in finding.fix


def _ran_with_ledger_version(tmp_path: Path, version: int) -> Path:
    """A project after one run, its ledger then stamped with another schema version; the ledger's path."""
    root = _project(tmp_path)
    assert run_flowdeck("run", "hello", project=root).returncode == 0
    ledger = root / ".flowdeck" / "ledger.sqlite"
    with closing(sqlite3.connect(ledger)) as db:
        db.execute(f"PRAGMA user_version = {version}")
        db.commit()
    return ledger


def _ledger_version(ledger: Path) -> int:
    with closing(sqlite3.connect(ledger)) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def test_a_ledger_from_a_newer_flowdeck_fails_and_says_to_upgrade(tmp_path: Path) -> None:
    ledger = _ran_with_ledger_version(tmp_path, SCHEMA_VERSION + 3)
    code, findings = _doctor(ledger.parent.parent)
    assert code == 1
    finding = findings["ledger"]
    assert finding.status == "fail"
    assert f"schema version {SCHEMA_VERSION + 3}, newer than this flowdeck's {SCHEMA_VERSION}" in finding.detail
    assert finding.fix is not None and "upgrade flowdeck" in finding.fix
    assert findings["daemon"].status == "skip"
    assert _ledger_version(ledger) == SCHEMA_VERSION + 3  # the doctor only looked


def test_pending_migrations_are_a_warning_and_nothing_is_migrated(tmp_path: Path) -> None:
    ledger = _ran_with_ledger_version(tmp_path, SCHEMA_VERSION - 2)
    code, findings = _doctor(ledger.parent.parent)
    assert code == 0
    assert findings["ledger"].status == "warn" and "2 migrations pending" in findings["ledger"].detail
    assert not list(ledger.parent.glob("*.bak"))
    assert _ledger_version(ledger) == SCHEMA_VERSION - 2


def test_a_warehouse_held_by_a_foreign_process_is_named_with_its_pid(tmp_path: Path) -> None:
    root = _project(tmp_path)
    assert run_flowdeck("run", "hello", project=root).returncode == 0
    warehouse = root / ".flowdeck" / "warehouse.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
         "time.sleep(120)", str(warehouse)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        code, findings = _doctor(root)
    finally:
        holder.kill()
        holder.wait()
    finding = findings["warehouse"]
    assert (code, finding.status) == (0, "warn")
    assert f"held by process {holder.pid}, which is not a flowdeck run" in finding.detail
    assert finding.fix is not None and f"kill {holder.pid}" in finding.fix


def test_an_unreachable_connection_fails_with_the_reason_and_a_fix(tmp_path: Path) -> None:
    import socket

    root = _project(tmp_path)
    with socket.socket() as probe:  # a port nothing listens on once this closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    project_file = root / "flowdeck.yaml"
    project_file.write_text(project_file.read_text() + f"""
connections:
  sales_db:
    type: postgresql
    uri: postgresql://127.0.0.1:{port}/sales
    user: etl
    password: ${{env:SALES_DB_PASSWORD}}
    connect_timeout: 2s
""")
    code, findings = _doctor(root, SALES_DB_PASSWORD="not-a-real-one")
    finding = findings["connection sales_db"]
    assert (code, finding.status) == (1, "fail")
    assert f"127.0.0.1:{port}" in finding.detail and "refused" in finding.detail.lower()
    assert finding.fix and ("listen" in finding.fix or "port" in finding.fix), finding
    assert "not-a-real-one" not in finding.detail + finding.fix


def test_an_invalid_pipeline_fails_naming_the_file_line_and_key(tmp_path: Path) -> None:
    root = _project(tmp_path)
    pipeline = root / "pipelines" / "hello" / "pipeline.yaml"
    pipeline.write_text(pipeline.read_text().replace("      - unique: [city]", "      - uniq: [city]"))
    code, findings = _doctor(root)
    finding = findings["pipelines"]
    assert (code, finding.status) == (1, "fail")
    assert f"{pipeline}:" in finding.detail and "unknown key `uniq`" in finding.detail
    assert "(key steps[1].checks[1].uniq)" in finding.detail
    assert finding.fix is not None and "did you mean `unique`?" in finding.fix


def test_outside_a_project_only_the_installation_is_checked(tmp_path: Path) -> None:
    empty = tmp_path / "nowhere"
    empty.mkdir()
    code, findings = _doctor(None, cwd=empty)
    assert code == 0
    assert findings["project"].status == "warn" and "flowdeck init" in (findings["project"].fix or "")
    assert "ledger" not in findings


def test_a_too_short_master_key_fails_with_how_to_make_one(tmp_path: Path) -> None:
    code, findings = _doctor(_project(tmp_path), FLOWDECK_MASTER_KEY="short")
    assert code == 1
    assert findings["keyring"].status == "fail" and "too short" in findings["keyring"].detail
    assert "flowdeck secrets new-master-key" in (findings["keyring"].fix or "")


def test_packages_at_other_versions_warn_and_missing_ones_fail() -> None:
    versions = {"flowdeck": "0.1.0", "duckdb": "1.9.0", "sqlglot": "30.30.0", "textual": None, "pyspark": None}
    found = {finding.check: finding for finding in check_packages(versions.get, pins={"duckdb": "2.0.1",
                                                                                       "sqlglot": "30.30.0"})}
    assert found["duckdb"].status == "warn" and found["duckdb"].fix == "pip install 'duckdb==2.0.1' (or reinstall with constraints.txt)"
    assert found["sqlglot"].status == "ok"
    assert found["textual"].status == "fail"
    assert found["pyspark"].status == "skip"


def test_old_python_fails() -> None:
    assert check_python((3, 10, 4)).status == "fail"
    assert check_python((3, 11, 0)).status == "ok"


@pytest.mark.parametrize(("environ", "terminal", "status", "words"), [
    ({"NO_COLOR": "1", "TERM": "xterm"}, True, "ok", "NO_COLOR is set"),
    ({"TERM": "dumb"}, True, "warn", "TERM=dumb"),
    ({}, True, "warn", "TERM=(unset)"),
    ({"TERM": "xterm-256color", "COLORTERM": "truecolor"}, True, "ok", "truecolor"),
    ({"TERM": "xterm-256color"}, True, "ok", "256 colours"),
    ({"TERM": "xterm"}, True, "ok", "16 colours"),
    ({"TERM": "dumb"}, False, "ok", "not a terminal"),
])
def test_terminal_colour_support(environ: dict[str, str], terminal: bool, status: str, words: str) -> None:
    finding = check_terminal(environ, terminal)
    assert finding.status == status and words in finding.detail
    if status == "warn":
        assert finding.fix is not None and "export TERM=" in finding.fix


def test_writability_is_probed_without_leaving_anything(tmp_path: Path) -> None:
    assert writable_problem(tmp_path / "a" / "b") is None
    assert not (tmp_path / "a").exists()
    assert list(tmp_path.iterdir()) == []


def _can_write(folder: Path) -> bool:
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False




def test_every_doctor_json_field_and_check_name_is_documented(tmp_path: Path) -> None:
    from tests.conftest import REPO_ROOT

    root = _project(tmp_path)
    payload = run_flowdeck("doctor", "--json", project=root, env=clean_env(**NO_KEYRING)).json()
    text = (REPO_ROOT / "docs" / "cli.md").read_text()
    section = text[text.index("### `doctor --json`"):]
    for name in [*payload, *payload["checks"][0]]:
        assert f"| `{name}` |" in section, name
    for check in {item["check"] for item in payload["checks"]}:
        assert f"`{check}`" in section, check
