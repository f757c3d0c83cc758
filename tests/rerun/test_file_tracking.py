"""File tracking: each input file's path, size and sha256 are recorded; unchanged files are skipped,
changed ones read again, and --reprocess reads everything."""

from __future__ import annotations

from pathlib import Path

from flowdeck.engine.steps import input_files as file_tracking
from tests.rerun.helpers import (
    flowdeck,
    land_deliveries,
    ledger_rows,
    run_in_process,
    sha256_file,
    step_payload,
    table_rows,
)


def recorded(project: Path) -> dict[str, tuple[int, str]]:
    return {path: (size, sha) for path, size, sha in
            ledger_rows(project, "SELECT path, size, sha256 FROM input_files WHERE output = 'landed_orders'")}


def test_each_file_read_is_recorded_with_its_size_and_sha256(project: Path) -> None:
    landed = land_deliveries(project, parts=3)
    run_id, status = run_in_process(project, "ingest_orders")
    assert status == "succeeded"
    expected = {str(path.relative_to(project)): (path.stat().st_size, sha256_file(path)) for path in landed}
    assert recorded(project) == expected
    assert {row[0] for row in ledger_rows(project, "SELECT run_id FROM input_files")} == {run_id}


def test_a_changed_file_is_read_again_and_only_it(project: Path) -> None:
    landed = land_deliveries(project, parts=3)
    assert run_in_process(project, "ingest_orders")[1] == "succeeded"
    with open(landed[1], "a") as handle:
        handle.write("999999,1,1,1,2026-11-30,paid,2026-11-30 10:00:00\r\n")
    run_id, _ = run_in_process(project, "ingest_orders")
    payload = step_payload(project, run_id, "landed_orders")
    assert (payload["files_read"], payload["files_skipped"]) == (1, 2)
    assert 999999 in [row[0] for row in table_rows(project, "ingested_orders")]
    assert ledger_rows(project, "SELECT path FROM input_files WHERE run_id = ?", (run_id,)) == [
        (str(landed[1].relative_to(project)),)]


def test_reprocess_reads_every_file_again_and_rebuilds_the_same_tables(project: Path) -> None:
    land_deliveries(project, parts=3)
    assert flowdeck(project, "run", "ingest_orders").returncode == 0
    before = {table: table_rows(project, table) for table in ("ingested_orders",)}
    result = flowdeck(project, "run", "ingest_orders", "--reprocess")
    assert result.returncode == 0, result.stderr
    (run_id,) = ledger_rows(project, "SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 1")[0]
    assert step_payload(project, run_id, "landed_orders")["files_read"] == 3
    assert {table: table_rows(project, table) for table in before} == before


def test_an_unchanged_file_is_not_hashed_again(project: Path, monkeypatch) -> None:
    land_deliveries(project, parts=3)
    assert run_in_process(project, "ingest_orders")[1] == "succeeded"
    hashed: list[Path] = []
    original = file_tracking.sha256_of
    monkeypatch.setattr(file_tracking, "sha256_of", lambda path: hashed.append(path) or original(path))
    assert run_in_process(project, "ingest_orders")[1] == "succeeded"
    assert hashed == []


def test_a_new_input_file_is_hashed_once_on_a_thread_of_its_own(project: Path, monkeypatch) -> None:
    """The fingerprints' sha256 of a file the ledger does not know yet is taken on a thread of its own, started
    before the warehouse opens (so the reading overlaps with opening it), and only once a run: the extract that
    reads the file finds it in the ledger."""
    import threading

    from flowdeck.engine.project import checksums
    from flowdeck.engine.run import executor

    events: list[tuple[str, str]] = []
    original_sha, original_open = checksums.sha256_of, executor.open_backend

    def hashing(path: Path) -> str:
        events.append((f"hashed {Path(path).name}", threading.current_thread().name))
        return original_sha(path)

    def opening(*args: object, **kwargs: object) -> object:
        events.append(("warehouse opened", threading.current_thread().name))
        return original_open(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(checksums, "sha256_of", hashing)
    monkeypatch.setattr(executor, "open_backend", opening)
    run_id, status = run_in_process(project, "daily_sales")
    assert status == "succeeded"
    inputs = sorted((project / "data" / "sample").iterdir())
    assert sorted(event for event in events if event[0] != "warehouse opened") == \
        [(f"hashed {path.name}", "fingerprint-parts") for path in inputs]
    assert [thread for name, thread in events if name == "warehouse opened"] == [threading.current_thread().name]
    # what the extracts recorded reading is what the fingerprints hashed
    assert dict(ledger_rows(project, "SELECT path, sha256 FROM input_files WHERE run_id = ?", (run_id,))) == \
        {str(path.relative_to(project)): sha256_file(path) for path in inputs}
    events.clear()
    assert run_in_process(project, "daily_sales")[1] == "succeeded"  # every step unchanged: nothing read again
    assert [name for name, _ in events if name != "warehouse opened"] == []
