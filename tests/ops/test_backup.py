"""`flowdeck backup`: a consistent copy of the ledger and the warehouse, taken while runs may hold the warehouse."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from tests.conftest import FLOWDECK, clean_env, ledger_rows, run_flowdeck, warehouse_snapshot


def test_backup_waits_for_the_holder_of_the_warehouse_and_copies_what_was_published(ran_daily_sales: Path,
                                                                                     tmp_path: Path) -> None:
    project = ran_daily_sales
    expected_tables = warehouse_snapshot(project)
    expected_runs = ledger_rows(project, "SELECT run_id, status FROM runs ORDER BY run_id")
    # another process holds the warehouse until the backup has said that it waits for it
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys\n"
                               f"c = duckdb.connect({str(project / '.flowdeck' / 'warehouse.duckdb')!r})\n"
                               "print('held', flush=True)\nsys.stdin.readline()\nc.close()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdin is not None and holder.stdout is not None and holder.stdout.readline().strip() == "held"
    folder = tmp_path / "backup"
    backup = subprocess.Popen([str(FLOWDECK), "--project", str(project), "backup", str(folder), "--json"],
                              env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert backup.stderr is not None
    first = backup.stderr.readline()
    assert first.startswith(f"waiting for the warehouse, held by process {holder.pid}"), first
    holder.stdin.write("release\n")
    holder.stdin.flush()
    stdout, _ = backup.communicate(timeout=120)
    holder.wait(timeout=30)
    assert backup.returncode == 0, stdout
    manifest = json.loads(stdout)
    assert manifest["waited_seconds"] > 0
    assert sorted(path.name for path in folder.iterdir()) == ["SHA256SUMS", "ledger.sqlite", "manifest.json",
                                                               "warehouse.duckdb"]
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ")
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest == manifest["files"][name]["sha256"]
    # the copies are whole on their own: a project made of them shows the same runs and tables
    restored = tmp_path / "restored"
    (restored / ".flowdeck").mkdir(parents=True)
    (restored / "flowdeck.yaml").write_text((project / "flowdeck.yaml").read_text())
    for name in ("ledger.sqlite", "warehouse.duckdb"):
        (restored / ".flowdeck" / name).write_bytes((folder / name).read_bytes())
    with closing(sqlite3.connect(restored / ".flowdeck" / "ledger.sqlite")) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert warehouse_snapshot(restored) == expected_tables
    assert ledger_rows(restored, "SELECT run_id, status FROM runs ORDER BY run_id") == expected_runs
    assert manifest["runs"] == len(expected_runs) and "daily_sales" in manifest["tables"]
    assert not any(table.startswith("__fd_") for table in manifest["tables"])


def test_backup_refuses_a_folder_that_is_not_empty(ran_daily_sales: Path, tmp_path: Path) -> None:
    folder = tmp_path / "taken"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    result = run_flowdeck("backup", str(folder), project=ran_daily_sales)
    assert result.returncode == 2, result
    assert "already exists and is not an empty folder" in result.stderr and "hint:" in result.stderr
    assert [path.name for path in folder.iterdir()] == ["notes.txt"]


def test_backup_needs_the_admin_role_and_is_audited(ran_daily_sales: Path, tmp_path: Path) -> None:
    project = ran_daily_sales
    assert run_flowdeck("backup", str(tmp_path / "first"), project=project).returncode == 0
    entries = run_flowdeck("audit", "--action", "backup", "--json", project=project).json()
    assert [(entry["action"], entry["outcome"]) for entry in entries] == [("backup", "ok")]
    config = project / "flowdeck.yaml"
    config.write_text(config.read_text() + "\nroles:\n  default: operator\n")
    refused = run_flowdeck("backup", str(tmp_path / "second"), project=project)
    assert refused.returncode == 3, refused
    assert "needs the admin role" in refused.stderr
    assert not (tmp_path / "second").exists()


def test_backup_of_a_project_that_never_ran_holds_the_ledger_only(project: Path, tmp_path: Path) -> None:
    result = run_flowdeck("backup", str(tmp_path / "b"), "--json", project=project)
    assert result.returncode == 0, result
    assert sorted(result.json()["files"]) == ["ledger.sqlite"]
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["runs"] == 0
