"""Which project a command acts on, and where its runtime files go.

A project is found by ``--project DIR``, then ``$FLOWDECK_PROJECT``, then the nearest
flowdeck.yaml upward from the working directory; runtime files live under ``.flowdeck/``
unless flowdeck.yaml says otherwise.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import assert_consistent, clean_env, copy_example_project, ledger_rows, run_flowdeck


def _runs_in(project: Path, runtime_dir: str = ".flowdeck") -> int:
    path = project / runtime_dir / "ledger.sqlite"
    return len(ledger_rows(project, "SELECT run_id FROM runs", runtime_dir=runtime_dir)) if path.exists() else 0


def test_upward_search_finds_the_project_from_a_subfolder(project: Path) -> None:
    inner = project / "pipelines" / "daily_sales"
    result = run_flowdeck("run", "daily_sales", cwd=inner)
    assert result.returncode == 0, result
    assert _runs_in(project) == 1
    assert not (inner / ".flowdeck").exists()


def test_environment_variable_beats_the_working_directory(tmp_path: Path) -> None:
    here = copy_example_project(tmp_path / "here")
    chosen = copy_example_project(tmp_path / "chosen")
    result = run_flowdeck("run", "daily_sales", cwd=here, env=clean_env(FLOWDECK_PROJECT=str(chosen)))
    assert result.returncode == 0, result
    assert (_runs_in(chosen), _runs_in(here)) == (1, 0)


def test_project_option_beats_the_environment_variable(tmp_path: Path) -> None:
    from_env = copy_example_project(tmp_path / "from_env")
    from_option = copy_example_project(tmp_path / "from_option")
    result = run_flowdeck("run", "daily_sales", project=from_option, cwd=tmp_path,
                          env=clean_env(FLOWDECK_PROJECT=str(from_env)))
    assert result.returncode == 0, result
    assert (_runs_in(from_option), _runs_in(from_env)) == (1, 0)


def test_no_project_anywhere_is_bad_input_with_the_way_out(tmp_path: Path) -> None:
    result = run_flowdeck("validate", cwd=tmp_path)
    assert result.returncode == 2
    assert f"no flowdeck.yaml in {tmp_path.resolve()} or any folder above it" in result.stderr
    assert "flowdeck init DIR" in result.stderr


def test_project_option_pointing_nowhere_names_the_option(tmp_path: Path) -> None:
    result = run_flowdeck("validate", project=tmp_path / "missing", cwd=tmp_path)
    assert result.returncode == 2
    assert "--project points to" in result.stderr and "has no flowdeck.yaml" in result.stderr


def test_runtime_files_go_under_dot_flowdeck_by_default(project: Path) -> None:
    assert run_flowdeck("run", "daily_sales", project=project).returncode == 0
    runtime = project / ".flowdeck"
    assert (runtime / "warehouse.duckdb").is_file() and (runtime / "ledger.sqlite").is_file()
    assert (runtime / ".gitignore").read_text() == "*\n"  # never committed by accident
    assert runtime.stat().st_mode & 0o077 == 0  # private to the owner
    assert sorted(path.name for path in project.iterdir()) == [".flowdeck", "data", "exports", "flowdeck.yaml",
                                                               "landing", "pipelines"]


def test_runtime_folder_is_configurable(project: Path) -> None:
    text = (project / "flowdeck.yaml").read_text().replace("runtime_dir: .flowdeck", "runtime_dir: var/flowdeck")
    (project / "flowdeck.yaml").write_text(text)
    assert run_flowdeck("run", "daily_sales", project=project).returncode == 0
    assert (project / "var/flowdeck/warehouse.duckdb").is_file()
    assert (project / "var/flowdeck/ledger.sqlite").is_file()
    assert not (project / ".flowdeck").exists()
    assert _runs_in(project, "var/flowdeck") == 1
    assert_consistent(project, "var/flowdeck")


def test_sql_file_paths_are_relative_to_the_project_not_the_working_directory(project: Path, tmp_path: Path) -> None:
    (project / "pipelines/daily_sales/raw_count.sql").write_text("SELECT count(*) AS n FROM read_csv('data/sample/customers.csv')\n")
    text = (project / "pipelines/daily_sales/pipeline.yaml").read_text()
    text = text.replace("steps:\n", "steps:\n  - name: raw_count\n    kind: transform\n    sql: raw_count.sql\n\n", 1)
    (project / "pipelines/daily_sales/pipeline.yaml").write_text(text)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_flowdeck("run", "daily_sales", project=project, cwd=elsewhere)
    assert result.returncode == 0, result
    query = run_flowdeck("query", "SELECT n FROM raw_count", "--json", project=project, cwd=elsewhere)
    customers = (project / "data/sample/customers.csv").read_text().strip().splitlines()
    assert query.json() == [{"n": len(customers) - 1}]  # all but the header line
