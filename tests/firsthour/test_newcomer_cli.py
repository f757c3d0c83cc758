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
