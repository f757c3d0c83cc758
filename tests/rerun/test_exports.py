"""Exports: written beside, renamed into place, checksummed; the same data gives the same file."""

from __future__ import annotations

from pathlib import Path

from tests.rerun.helpers import edit_pipeline, flowdeck, ledger_rows, sha256_file, table_rows

EXPORT = Path("exports") / "daily_sales.parquet"
TABLES = ("raw_orders", "orders_clean", "daily_sales")


def test_the_export_checksum_is_recorded_and_shown(project: Path) -> None:
    assert flowdeck(project, "run", "daily_sales").returncode == 0
    (run_id,) = ledger_rows(project, "SELECT run_id FROM runs")[0]
    recorded = ledger_rows(project, "SELECT path, rows, bytes, sha256 FROM exports WHERE run_id = ?", (run_id,))
    file = project / EXPORT
    assert recorded == [(str(EXPORT), len(table_rows(project, "daily_sales")), file.stat().st_size, sha256_file(file))]
    assert f"wrote {EXPORT}" in flowdeck(project, "show", run_id).stdout


def test_unchanged_inputs_twice_give_identical_tables_and_files(project: Path) -> None:
    assert flowdeck(project, "run", "daily_sales").returncode == 0
    first = ({table: table_rows(project, table) for table in TABLES}, sha256_file(project / EXPORT))
    assert flowdeck(project, "run", "daily_sales").returncode == 0
    second = ({table: table_rows(project, table) for table in TABLES}, sha256_file(project / EXPORT))
    assert second == first
    checksums = ledger_rows(project, "SELECT output, count(DISTINCT checksum) FROM commits GROUP BY output")
    assert all(count == 1 for _, count in checksums)


def test_a_failed_export_leaves_the_previous_file_whole_and_no_half_file(project: Path) -> None:
    assert flowdeck(project, "run", "daily_sales").returncode == 0
    good = sha256_file(project / EXPORT)
    edit_pipeline(project, "daily_sales", export_daily_sales={
        "to": {"path": str(EXPORT), "options": {"compression": "no_such_codec"}}})
    failed = flowdeck(project, "run", "daily_sales")
    assert failed.returncode == 1
    assert "export_daily_sales" in failed.stderr
    assert sha256_file(project / EXPORT) == good
    assert sorted(path.name for path in (project / "exports").iterdir()) == ["daily_sales.parquet"]


def test_csv_exports_are_checksummed_too(project: Path) -> None:
    edit_pipeline(project, "daily_sales", export_daily_sales={"to": {"path": "exports/daily_sales.csv"}})
    assert flowdeck(project, "run", "daily_sales").returncode == 0
    file = project / "exports" / "daily_sales.csv"
    assert ledger_rows(project, "SELECT format, sha256 FROM exports") == [("csv", sha256_file(file))]
    assert file.read_text().splitlines()[0].startswith("order_date,country,category")
