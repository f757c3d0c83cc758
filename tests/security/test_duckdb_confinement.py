"""SQL reaches only the project: step SQL and `flowdeck query` cannot read files elsewhere, the "read-only"
query writes nothing, DuckDB's settings are locked before user SQL runs, a worker's environment holds no
master key, and a path parameter cannot lead out of its folder."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import duckdb
import pytest
from security_helpers import MASTER_KEY, cli, files_containing, write

from flowdeck.engine.backends.duckdb.warehouse import open_warehouse
from flowdeck.engine.project.project import Project

WITH_KEY = {"FLOWDECK_MASTER_KEY": MASTER_KEY}
SECRET = "pg-secret-7d1e0c9b4a"


def _pipeline(project: Path, name: str, sql: str, extra: str = "") -> None:
    write(project / "pipelines" / name / "pipeline.yaml",
          f"{extra}steps:\n  - name: {name}_out\n    kind: transform\n    sql: q.sql\n")
    write(project / "pipelines" / name / "q.sql", sql + "\n")


@pytest.mark.parametrize("path", ["/etc/passwd", "/proc/self/environ", "data/../../../../../etc/passwd"])
def test_step_sql_cannot_read_a_file_outside_the_project(project: Path, path: str) -> None:
    _pipeline(project, "snoop", f"SELECT content FROM read_text('{path}')")
    result = cli(project, "run", "snoop", env=WITH_KEY, check=1)
    assert "file system operations are disabled by configuration" in result.stdout + result.stderr
    assert files_containing(project, [b"root:x:0:0", MASTER_KEY.encode()]) == []


def test_a_worker_gets_the_master_key_on_a_pipe_never_in_its_environment(project: Path) -> None:
    cli(project, "secrets", "set", "PG_PASSWORD", input=SECRET, env=WITH_KEY, check=0)
    _pipeline(project, "slow_secret",  # long enough to read the worker's environment while it runs
              "SELECT length($password) AS n, count(*) AS c FROM range(600000000) WHERE hash(range) % 7 = 3",
              extra="params:\n  password:\n    type: string\n    default: ${secret:PG_PASSWORD}\n")
    queued = cli(project, "run", "slow_secret", "--detach", env=WITH_KEY, check=0)
    run_id, pid = queued.stdout.split()[1], int(re.search(r"worker pid (\d+)", queued.stdout)[1])
    environment = Path(f"/proc/{pid}/environ").read_bytes()
    assert b"FLOWDECK_MASTER_KEY" not in environment and MASTER_KEY.encode() not in environment
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        shown = json.loads(cli(project, "show", run_id, "--json", check=0).stdout)
        if shown["status"] not in ("queued", "running"):
            break
        time.sleep(0.5)
    assert shown["status"] == "succeeded", shown  # it resolved ${secret:PG_PASSWORD}: the key arrived
    rows = json.loads(cli(project, "query", "SELECT n FROM slow_secret_out", "--json", check=0).stdout)
    assert rows == [{"n": len(SECRET)}]


@pytest.mark.parametrize("statement", [
    "COPY (SELECT 42 AS x) TO 'exports/written.csv'",
    "ATTACH 'exports/other.duckdb' AS other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "SET allowed_directories = ['/']",
    "EXPORT DATABASE 'exports/dump'",
    "SELECT 1; COPY (SELECT 42 AS x) TO 'exports/written.csv'",
])
def test_query_only_reads(ran_project: Path, statement: str) -> None:
    result = cli(ran_project, "query", statement, check=2)
    assert "`flowdeck query` only reads" in result.stderr
    assert not (ran_project / "exports" / "written.csv").exists()
    assert not (ran_project / "exports" / "other.duckdb").exists() and not (ran_project / "exports" / "dump").exists()


@pytest.mark.parametrize("path", ["/etc/passwd", ".flowdeck/ledger.sqlite", "/proc/self/environ"])
def test_query_cannot_read_outside_the_projects_folders(ran_project: Path, path: str) -> None:
    result = cli(ran_project, "query", f"SELECT length(content) FROM read_blob('{path}')", env=WITH_KEY, check=2)
    assert "file system operations are disabled by configuration" in result.stderr


def test_a_project_folder_and_relative_paths_still_read(ran_project: Path) -> None:
    rows = json.loads(cli(ran_project, "query", "SELECT count(*) AS n FROM read_csv('data/sample/customers.csv')",
                          "--json", check=0).stdout)
    assert rows[0]["n"] > 0


def test_the_configuration_is_locked_before_user_sql(ran_project: Path) -> None:
    connection = open_warehouse(Project.load(ran_project), read_only=True)
    try:
        assert connection.execute("SELECT current_setting('lock_configuration'), "
                                  "current_setting('enable_external_access')").fetchone() == (True, False)
        for setting in ("enable_external_access = true", "allowed_directories = ['/']", "threads = 1",
                        "autoload_known_extensions = true"):
            with pytest.raises(duckdb.InvalidInputException, match="the configuration has been locked"):
                connection.execute(f"SET {setting}")
    finally:
        connection.close()


@pytest.fixture
def ran_project(project: Path) -> Path:
    cli(project, "run", "daily_sales", check=0)
    return project


def _export_pipeline(project: Path) -> None:
    write(project / "pipelines" / "dump" / "pipeline.yaml", """\
params:
  name: {type: string, default: out}
steps:
  - name: numbers
    kind: transform
    sql: numbers.sql
  - name: dump
    kind: load
    table: numbers
    to: {path: 'exports/{name}.csv'}
""")
    write(project / "pipelines" / "dump" / "numbers.sql", "SELECT 1 AS n\n")


@pytest.mark.parametrize("value", ["../../escaped", "sub/../../../escaped", "../exports_sibling/x"])
def test_a_path_parameter_cannot_lead_out_of_its_folder(project: Path, tmp_path: Path, value: str) -> None:
    _export_pipeline(project)
    result = cli(project, "run", "dump", "--param", f"name={value}", check=2)
    assert "leads out of" in result.stderr and str(project / "exports") in result.stderr
    assert not list(tmp_path.rglob("escaped*")) and not (project / "exports_sibling").exists()
    cli(project, "run", "dump", "--param", "name=fine", check=0)
    assert (project / "exports" / "fine.csv").exists()


def test_a_link_planted_in_the_folder_does_not_lead_out_either(project: Path, tmp_path: Path) -> None:
    _export_pipeline(project)
    outside = tmp_path / "outside"
    outside.mkdir()
    (project / "exports").mkdir(exist_ok=True)
    os.symlink(outside, project / "exports" / "link")
    result = cli(project, "run", "dump", "--param", "name=link/planted", check=2)
    assert "leads out of" in result.stderr
    assert list(outside.iterdir()) == []
