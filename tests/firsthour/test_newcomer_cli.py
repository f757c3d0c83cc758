"""Where a newcomer stumbled in their first hour with the CLI (issue 21), each driven as they met it:
the real `flowdeck` in a subprocess, on a project made by `flowdeck init`."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_flowdeck


def _minimal(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    created = run_flowdeck("init", str(root), "--template", "minimal", cwd=tmp_path)
    assert created.returncode == 0, created
    return root


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (old, path)
    path.write_text(text.replace(old, new, 1))


def test_a_misspelt_column_is_explained_with_the_describe_of_the_table_the_step_reads(tmp_path: Path) -> None:
    root = _minimal(tmp_path)
    _edit(root / "pipelines/hello/sales_by_city.sql", "sum(amount)", "sum(amout)")
    failed = run_flowdeck("run", "hello", project=root)
    assert failed.returncode == 1, failed
    shown = run_flowdeck("show", "last", project=root)
    assert 'Referenced column "amout" not found' in shown.stdout
    hint = 'hint: check the column name against the table `sales_by_city` reads: `flowdeck query "DESCRIBE raw_sales"`'
    assert hint in shown.stdout, shown
    assert "DESCRIBE table" not in shown.output
    # the command the hint gives works as written, and shows the column that was meant
    described = run_flowdeck("query", "DESCRIBE raw_sales", project=root)
    assert described.returncode == 0 and "amount" in described.stdout.split(), described


def test_status_lists_only_failures_no_later_run_made_good_each_on_one_line(tmp_path: Path) -> None:
    root = _minimal(tmp_path)
    pipeline = root / "pipelines/hello/pipeline.yaml"
    missing = "data/" + "sales_exported_by_the_shop_every_night_" * 4 + ".csv"  # an error longer than 200 columns
    _edit(pipeline, "path: data/sales.csv", f"path: {missing}")
    assert run_flowdeck("run", "hello", project=root).returncode == 1
    status = run_flowdeck("status", project=root)
    lines = status.stdout.splitlines()
    assert "last errors:" in lines, status
    error_lines = [line for line in lines if missing in line]
    assert len(error_lines) == 1 and error_lines[0].endswith("does not exist"), status  # piped: never wrapped
    assert len(error_lines[0]) > 200
    # the failure is made good by resuming it: no longer an error to show
    _edit(pipeline, f"path: {missing}", "path: data/sales.csv")
    assert run_flowdeck("run", "--resume", "last", project=root).returncode == 0
    status = run_flowdeck("status", project=root)
    assert "last errors:" not in status.stdout, status
    assert run_flowdeck("status", "--json", project=root).json()["last_errors"] == []
    # a later failure stands again, until a later run succeeds
    assert run_flowdeck("run", "hello", "--param", "min_amount=100000", project=root).returncode == 1
    standing = run_flowdeck("status", "--json", project=root).json()["last_errors"]
    assert [error["pipeline"] for error in standing] == ["hello"] and "row_count" in standing[0]["error"]
    assert run_flowdeck("run", "hello", project=root).returncode == 0
    assert run_flowdeck("status", "--json", project=root).json()["last_errors"] == []
