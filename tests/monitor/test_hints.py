"""Performance hints: each one against a real run made to trigger it, and none for normal runs.

Every run here is a real `flowdeck run` subprocess on a project of the test's own; the hints are
read back through `flowdeck show` and `flowdeck report`, as an operator reads them.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import duckdb
import pytest

from flowdeck.engine.monitor.hints import CSV_MIN_BYTES, CSV_MIN_RUNS, HISTORY_MIN_RUNS, _limit_bytes
from tests.conftest import CliResult, copy_example_project, run_flowdeck

AGGREGATE_SQL = "SELECT m, count(*) AS n FROM (SELECT md5(i::VARCHAR) AS m FROM range(1500000) t(i)) GROUP BY m\n"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())


def make_project(root: Path, warehouse: str = "") -> Path:
    """A project sampled five times a second, with the pipelines the hints are tried on:
    `aggregate` (a hash aggregate of 1.5M distinct keys, ~150 MB of DuckDB memory), `grows` (a
    step whose work follows a parameter), `whole` (a sort and a DISTINCT of 1.2M rows) and `feed`
    (a large CSV extract)."""
    extra = f"  {warehouse}\n" if warehouse else ""
    write(root / "flowdeck.yaml", "name: hints-test\nwarehouse:\n  threads: 2\n" + extra
          + "monitoring:\n  sample_interval: 200ms\n  flush_interval: 1s\n")
    write(root / "pipelines" / "aggregate" / "pipeline.yaml", """
        steps:
          - {name: keys, kind: transform, sql: keys.sql}
        """)
    (root / "pipelines" / "aggregate" / "keys.sql").write_text(AGGREGATE_SQL)
    write(root / "pipelines" / "grows" / "pipeline.yaml", """
        params:
          n: {type: integer, default: 10}
        steps:
          - {name: numbers, kind: transform, sql: numbers.sql}
          - {name: crunch, kind: transform, sql: crunch.sql}
        """)
    (root / "pipelines" / "grows" / "numbers.sql").write_text("SELECT i FROM range($n) t(i)\n")
    (root / "pipelines" / "grows" / "crunch.sql").write_text(
        "SELECT a.i % 100 AS k, sum(hash(a.i * b.j)) AS h FROM numbers a, range(200000) b(j) GROUP BY 1\n")
    write(root / "pipelines" / "whole" / "pipeline.yaml", """
        steps:
          - {name: numbers, kind: transform, sql: numbers.sql}
          - {name: sorted_numbers, kind: transform, sql: sorted_numbers.sql}
          - {name: distinct_keys, kind: transform, sql: distinct_keys.sql}
          - {name: few_sorted, kind: transform, sql: few_sorted.sql}
        """)
    (root / "pipelines" / "whole" / "numbers.sql").write_text("SELECT i FROM range(1200000) t(i)\n")
    (root / "pipelines" / "whole" / "sorted_numbers.sql").write_text("SELECT i, hash(i) AS h FROM numbers ORDER BY h\n")
    (root / "pipelines" / "whole" / "distinct_keys.sql").write_text("SELECT DISTINCT i % 1000 AS k FROM numbers\n")
    (root / "pipelines" / "whole" / "few_sorted.sql").write_text(  # a sort of the first ten only: fine
        "SELECT i FROM numbers ORDER BY hash(i) LIMIT 10\n")
    write(root / "pipelines" / "feed" / "pipeline.yaml", """
        steps:
          - {name: orders, kind: extract, source: {path: landing/orders.csv}}
        """)
    return root


def ran(project: Path, pipeline: str, *params: str) -> None:
    # --force: the hints are about the history of runs that did the work (an unchanged rerun does none)
    result = run_flowdeck("run", pipeline, "--force", *[arg for param in params for arg in ("--param", param)],
                          project=project, timeout=240)
    assert result.returncode == 0, result.output


def hints_of(project: Path, run: str = "last") -> list[dict[str, Any]]:
    """The run's hints as `flowdeck show --json` gives them (and `report --json` must agree)."""
    shown = run_flowdeck("show", run, "--json", project=project)
    assert shown.returncode == 0, shown.output
    reported = run_flowdeck("report", run, "--json", project=project)
    assert reported.returncode == 0, reported.output
    hints: list[dict[str, Any]] = json.loads(shown.stdout)["hints"]
    assert json.loads(reported.stdout)["hints"] == hints
    return hints


def show(project: Path) -> CliResult:
    result = run_flowdeck("show", "last", project=project)
    assert result.returncode == 0, result.output
    return result


@pytest.mark.slow
def test_normal_runs_of_the_example_project_get_no_hints(tmp_path: Path) -> None:
    project = copy_example_project(tmp_path / "project")
    for _ in range(HISTORY_MIN_RUNS + 1):  # enough history for the slower-than-usual rule to look
        ran(project, "daily_sales")
    assert hints_of(project) == []
    assert "hints" not in show(project).stdout
    report = run_flowdeck("report", "last", project=project)
    assert report.returncode == 0 and "hints" not in report.stdout
    page = tmp_path / "run.html"
    assert run_flowdeck("report", "last", "--html", str(page), project=project).returncode == 0
    assert "<h2>Hints</h2>" not in page.read_text()


@pytest.mark.slow
def test_a_step_much_slower_than_its_history_is_named_with_why(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    for _ in range(HISTORY_MIN_RUNS):
        ran(project, "grows")
    assert hints_of(project) == []  # the fifth of five alike: nothing unusual
    ran(project, "grows", "n=2000")  # 200 times the rows into crunch: seconds instead of milliseconds
    (hint,) = hints_of(project)
    assert hint["kind"] == "slower_than_usual" and hint["step"] == "crunch"
    assert f"slower than 95% of its last {HISTORY_MIN_RUNS} runs" in hint["text"]
    assert "it read 2,000 rows, usually 10: its input grew" in hint["text"]
    assert hint["doc"] == "docs/tuning.md#slower-than-usual"
    printed = show(project).stdout
    assert "hints" in printed and "step crunch took" in printed and "see docs/tuning.md#slower-than-usual" in printed


@pytest.mark.slow
def test_a_large_csv_parsed_by_several_runs_is_named_with_its_size(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    csv = project / "landing" / "orders.csv"
    csv.parent.mkdir(parents=True)
    with duckdb.connect() as db:  # ~40 MB of orders, written by DuckDB itself
        db.execute(f"COPY (SELECT i AS order_id, i % 997 AS customer_id, md5(i::VARCHAR) AS note, "
                   f"(i % 1000) / 10.0 AS amount FROM range(700000) t(i)) TO '{csv}' (HEADER)")
    size = csv.stat().st_size
    assert size >= CSV_MIN_BYTES
    for count in range(1, CSV_MIN_RUNS + 1):
        ran(project, "feed")
        hints = hints_of(project)
        if count < CSV_MIN_RUNS:
            assert hints == [], f"after {count} runs"
    (hint,) = hints
    first = json.loads(run_flowdeck("runs", "--json", project=project).stdout)[-1]["run_id"]
    assert hints_of(project, first) == []  # a run's hints are its history's then, not changed by later runs
    assert hint["kind"] == "csv_parsed_again" and hint["step"] == "orders"
    assert hint["text"].startswith(f"landing/orders.csv ({size / 1e6:.1f} MB) was parsed by {CSV_MIN_RUNS} runs "
                                   "of the last 7 days (step orders); convert it to Parquet once")
    assert hint["doc"] == "docs/tuning.md#csv-parsed-again"


@pytest.mark.slow
def test_a_sort_or_distinct_of_a_million_rows_is_named(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    ran(project, "whole")
    hints = {hint["step"]: hint for hint in hints_of(project)}
    assert sorted(hints) == ["distinct_keys", "sorted_numbers"]  # not numbers, not the sort with a LIMIT
    assert hints["sorted_numbers"]["kind"] == "sorts_whole_result"
    assert hints["sorted_numbers"]["text"].startswith(
        "step sorted_numbers sorts all of its 1,200,000 rows (ORDER BY with no LIMIT; the step took ")
    assert hints["distinct_keys"]["kind"] == "distinct_whole_result"
    assert "step distinct_keys removes duplicates from all of its 1,200,000 rows (SELECT DISTINCT" \
        in hints["distinct_keys"]["text"]
    assert {hint["doc"] for hint in hints.values()} == {"docs/tuning.md#sort-or-distinct-of-everything"}


@pytest.mark.slow
def test_a_run_that_spilled_to_disk_names_the_step_and_the_memory_limit(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project", "memory_limit: 100MB")
    ran(project, "aggregate")
    (hint,) = hints_of(project)  # the spill says memory ran short: no second hint about memory
    assert hint["kind"] == "spilled_to_disk" and hint["step"] == "keys"
    assert "to disk (.flowdeck/tmp) while keys ran: raise warehouse.memory_limit (now 100MB)" in hint["text"]
    spilled = float(hint["text"].split("the run spilled ")[1].split(" MB")[0])
    assert spilled >= 8.0
    assert not any((project / ".flowdeck" / "tmp").iterdir())  # measured while it ran, removed after
    page = tmp_path / "run.html"
    assert run_flowdeck("report", "last", "--html", str(page), project=project).returncode == 0
    assert "<h2>Hints</h2>" in page.read_text() and "docs/tuning.md#spilled-to-disk" in page.read_text()


@pytest.mark.slow
def test_a_run_close_to_its_memory_limit_without_spilling_is_warned(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project", "memory_limit: 180MB")  # ~150 MB needed: fits, just
    ran(project, "aggregate")
    (hint,) = hints_of(project)
    assert hint["kind"] == "memory_near_limit" and hint["step"] is None
    assert "of warehouse.memory_limit (180MB): one larger input and DuckDB spills to disk" in hint["text"]
    assert hint["doc"] == "docs/tuning.md#memory-near-the-limit"


@pytest.mark.parametrize(("setting", "expected"), [
    ("4GB", 4_000_000_000), ("4GiB", 4 * 2**30), ("512MB", 512_000_000), ("1.5GB", 1_500_000_000),
    ("100 mb", 100_000_000), ("2G", 2_000_000_000), ("80%", None), ("lots", None),
])
def test_memory_limits_are_read_as_duckdb_reads_them(setting: str, expected: int | None) -> None:
    assert _limit_bytes(setting) == expected
