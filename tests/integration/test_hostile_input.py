"""Hostile or broken files get a plain error naming the file and what to do, a non-zero exit, no traceback,
and change nothing: bytes that are not UTF-8, a folder where a file belongs, a runtime folder that is a
file, a damaged ledger or warehouse, YAML whose aliases expand to billions of values, a negative limit."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from tests.conftest import assert_consistent, ledger_rows, run_flowdeck, warehouse_snapshot

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + level)}: &{chr(98 + level)} [{', '.join(['*' + chr(97 + level)] * 9)}]\n" for level in range(8))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refused(project: Path, *args: str, code: int = 2, timeout: float = 120) -> str:
    result = run_flowdeck(*args, project=project, timeout=timeout)
    assert result.returncode == code, result
    assert "Traceback" not in result.output, result
    return result.stderr


@pytest.mark.parametrize(("relative", "content", "words"), [
    ("pipelines/daily_sales/pipeline.yaml", b"steps:\n  - name: caf\xe9\n", "pipeline.yaml is not UTF-8 text: byte 0xe9 at line 2"),
    ("pipelines/daily_sales/sales.sql", b"SELECT 'd\xe9j\xe0' AS x\n", "sales.sql is not UTF-8 text: byte 0xe9 at line 1, column 10"),
    ("pipelines/daily_sales/pipeline.yaml", None, "pipeline.yaml is a folder, where a file belongs"),
    ("pipelines/daily_sales/sales.sql", None, "sales.sql is a folder, where a file belongs"),
    ("pipelines/daily_sales/pipeline.yaml", BOMB.encode(), "this YAML expands to more than 100,000 values"),
    ("pipelines/daily_sales/pipeline.yaml", b"steps: &s [{name: x, kind: transform, sql: s.sql, also: *s}]\n",
     "this YAML expands to"),
])
def test_a_broken_pipeline_file_is_named_and_nothing_is_run(ran_daily_sales: Path, relative: str,
                                                            content: bytes | None, words: str) -> None:
    project = ran_daily_sales
    before = warehouse_snapshot(project)
    target = project / relative
    target.unlink()
    if content is None:
        target.mkdir()
    else:
        target.write_bytes(content)
    began = time.monotonic()
    for command in (("validate",), ("run", "daily_sales")):
        stderr = _refused(project, *command, timeout=60)
        assert words in stderr and str(target) in stderr, stderr
    assert time.monotonic() - began < 60  # an alias bomb is refused, not expanded
    assert len(ledger_rows(project, "SELECT run_id FROM runs")) == 1
    assert warehouse_snapshot(project) == before
    assert_consistent(project)


def test_a_runtime_folder_that_is_a_file_is_named(project: Path) -> None:
    (project / ".flowdeck").write_text("not a folder\n")
    for command in (("runs",), ("run", "daily_sales"), ("status",)):
        stderr = _refused(project, *command)
        assert f"{project / '.flowdeck'} is a file, where flowdeck keeps its runtime folder" in stderr, stderr
    assert (project / ".flowdeck").read_text() == "not a folder\n"


def test_a_damaged_ledger_is_named_with_how_to_restore_it_and_left_as_found(ran_daily_sales: Path) -> None:
    ledger = ran_daily_sales / ".flowdeck" / "ledger.sqlite"
    ledger.write_bytes(b"this is not a database\n" * 512)
    digest = _digest(ledger)
    for command in (("runs",), ("run", "daily_sales"), ("audit", "verify"), ("status",)):
        stderr = _refused(ran_daily_sales, *command)
        assert f"the ledger {ledger} is damaged" in stderr and "flowdeck backup" in stderr, stderr
    assert _digest(ledger) == digest
    assert not ledger.with_name("ledger.sqlite-wal").exists()


def test_a_damaged_warehouse_is_named_with_how_to_restore_it_and_left_as_found(ran_daily_sales: Path) -> None:
    warehouse = ran_daily_sales / ".flowdeck" / "warehouse.duckdb"
    warehouse.write_bytes(b"\x00garbage" * 4096)
    digest = _digest(warehouse)
    stderr = _refused(ran_daily_sales, "query", "SELECT 1")
    assert f"the warehouse {warehouse} is damaged" in stderr and "flowdeck backup" in stderr, stderr
    stderr = _refused(ran_daily_sales, "run", "daily_sales", code=1)
    assert "is damaged" in stderr and "flowdeck backup" in stderr, stderr
    assert _digest(warehouse) == digest


@pytest.mark.parametrize("args", [("runs", "--limit", "-5"), ("audit", "--limit", "-1"), ("query", "SELECT 1", "--limit", "-1"),
                                  ("stats", "--days", "-3"), ("stats", "--recent", "0")])
def test_a_negative_limit_is_refused(project: Path, args: tuple[str, ...]) -> None:
    stderr = _refused(project, *args)
    assert "Invalid value for" in stderr and "greater than or equal to" in stderr, stderr
