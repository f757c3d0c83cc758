"""Crash tests with real processes: a run is SIGKILLed at a named point, then resumed; the result
must be what a clean run gives, with nothing lost and nothing written twice."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.rerun.helpers import (
    copy_example,
    flowdeck,
    land_deliveries,
    ledger_rows,
    portable_rows,
    sha256_file,
    table_rows,
)

DAILY_TABLES = ("raw_orders", "raw_customers", "raw_products", "orders_clean", "sales", "daily_sales")
EXPORT = Path("exports") / "daily_sales.parquet"
pytestmark = pytest.mark.slow


def outcome(project: Path, tables: tuple[str, ...]) -> dict[str, object]:
    return {table: portable_rows(project, table) for table in tables}


@pytest.fixture(scope="module")
def clean_daily(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, object], str]:
    """What a clean run of daily_sales gives: its tables and the export's sha256."""
    project = copy_example(tmp_path_factory.mktemp("clean") / "project")
    assert flowdeck(project, "run", "daily_sales").returncode == 0
    return outcome(project, DAILY_TABLES), sha256_file(project / EXPORT)


def hold_back_last_delivery(project: Path) -> tuple[Path, bytes]:
    """Land three deliveries; take the last one out again (it lands after the first run)."""
    last = land_deliveries(project, parts=3)[-1]
    content = last.read_bytes()
    last.unlink()
    return last, content


@pytest.fixture(scope="module")
def clean_ingest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """What clean runs of ingest_orders give: two deliveries, then the third."""
    project = copy_example(tmp_path_factory.mktemp("clean") / "project")
    last, content = hold_back_last_delivery(project)
    assert flowdeck(project, "run", "ingest_orders").returncode == 0
    last.write_bytes(content)
    assert flowdeck(project, "run", "ingest_orders").returncode == 0
    return outcome(project, ("landed_orders", "ingested_orders"))


def newest_run(project: Path) -> str:
    return ledger_rows(project, "SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 1")[0][0]


def crash(project: Path, point: str, *args: str) -> str:
    result = flowdeck(project, "run", *args, env={"FLOWDECK_DEBUG_CRASH_AT": point})
    assert result.returncode == -signal.SIGKILL, result.stderr
    return newest_run(project)


def resume(project: Path, run_id: str) -> str:
    result = flowdeck(project, "run", "--resume", run_id)
    assert result.returncode == 0, result.stdout + result.stderr
    return newest_run(project)


@pytest.mark.parametrize("point", [
    "staged:orders_clean",        # (a) during a step: staged, not yet checked or published
    "publishing:orders_clean",    # inside the publish transaction, before COMMIT
    "published:orders_clean",     # (b) after the warehouse commit, before the ledger write
    "exporting:export_daily_sales",  # (c) the Parquet file written beside, not yet renamed
])
def test_resumed_run_after_a_crash_gives_what_a_clean_run_gives(project: Path, point: str, clean_daily) -> None:
    clean_tables, clean_export = clean_daily
    crashed = crash(project, point, "daily_sales")
    if point.startswith("exporting"):
        partials = list((project / "exports").glob(".daily_sales.parquet.fdpartial-*"))
        assert partials and not (project / EXPORT).exists(), "a half file must never carry the real name"
    resumed = resume(project, crashed)

    assert outcome(project, DAILY_TABLES) == clean_tables
    assert sha256_file(project / EXPORT) == clean_export
    assert not list((project / "exports").glob(".*fdpartial*")), "the half-written file of the dead run is swept"
    runs = dict(ledger_rows(project, "SELECT run_id, status FROM runs"))
    assert runs == {crashed: "abandoned", resumed: "succeeded"}
    assert ledger_rows(project, "SELECT parent_run_id FROM runs WHERE run_id = ?", (resumed,)) == [(crashed,)]
    published = ledger_rows(project, "SELECT output, count(*) FROM commits GROUP BY output HAVING count(*) > 1")
    assert published == [], "every table is published exactly once across the crashed and the resumed run"
    assert not [t for t in _all_tables(project) if t.startswith("__fd_stage__")], "staging leftovers are swept"


def test_commit_lost_by_the_ledger_is_recovered_from_the_marker_and_reused(project: Path) -> None:
    crashed = crash(project, "published:orders_clean", "daily_sales")
    resumed = resume(project, crashed)
    assert ledger_rows(project, "SELECT status FROM steps WHERE run_id = ? AND step = 'orders_clean'",
                       (crashed,)) == [("succeeded",)]
    assert ledger_rows(project, "SELECT reused_from FROM steps WHERE run_id = ? AND step = 'orders_clean'",
                       (resumed,)) == [(crashed,)]
    assert ledger_rows(project, "SELECT count(*) FROM events WHERE run_id = ? AND kind = 'step.reconciled'",
                       (crashed,)) == [(1,)]
    assert ledger_rows(project, "SELECT run_id, reconciled FROM commits WHERE output = 'orders_clean'") == [(crashed, 1)]
    shown = flowdeck(project, "show", resumed)
    assert "reused" in shown.stdout and crashed in shown.stdout


@pytest.mark.parametrize("point", ["published:landed_orders", "publishing:landed_orders", "published:ingested_orders"])
def test_incremental_ingest_resumed_after_a_crash_stores_every_order_once(project: Path, point: str,
                                                                         clean_ingest) -> None:
    last, content = hold_back_last_delivery(project)
    assert flowdeck(project, "run", "ingest_orders").returncode == 0
    last.write_bytes(content)
    crashed = crash(project, point, "ingest_orders")
    resumed = resume(project, crashed)

    assert outcome(project, ("landed_orders", "ingested_orders")) == clean_ingest
    keys = [row[0] for row in table_rows(project, "ingested_orders")]
    assert len(keys) == len(set(keys)), "no order is stored twice"
    files = ledger_rows(project, "SELECT path, count(*) FROM input_files GROUP BY path ORDER BY path")
    assert [count for _, count in files] == [1, 1, 1], "each delivery is recorded as read exactly once"
    statuses = dict(ledger_rows(project, "SELECT run_id, status FROM runs WHERE run_id IN (?, ?)", (crashed, resumed)))
    assert statuses == {crashed: "abandoned", resumed: "succeeded"}


def _all_tables(project: Path) -> list[str]:
    from tests.rerun.helpers import warehouse_tables

    return warehouse_tables(project)
