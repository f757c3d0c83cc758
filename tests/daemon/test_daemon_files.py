"""File triggers with the real daemon: settle, one run per content, rescan at start, archive."""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import duckdb
import pytest
from daemonkit import (
    NUMBERS_CSV,
    Daemon,
    flowdeck,
    make_project,
    numbers_pipeline,
    query,
    runs,
    wait_for,
    warehouse_held,
    write,
)

pytestmark = pytest.mark.slow

TRIGGER = """
triggers:
  - folder: landing
    patterns: ["*.csv"]
    settle: 1s
"""


def test_a_slowly_written_file_starts_one_run_after_it_is_complete_and_the_same_content_none(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    numbers_pipeline(project, "ingest", TRIGGER, source="landing/*.csv")
    (project / "landing").mkdir()
    daemon = Daemon(project)
    try:
        daemon.address()
        content = NUMBERS_CSV.encode()
        chunks = [content[i:i + 60] for i in range(0, len(content), 60)]
        target = project / "landing" / "orders-1.csv"
        with open(target, "wb") as handle:  # a slow producer: a chunk every 0.4s, longer than settle overall
            for chunk in chunks[:6]:
                handle.write(chunk)
                handle.flush()
                time.sleep(0.4)
            handle.write(b"".join(chunks[6:]))
        written_at = time.time()
        first = wait_for(lambda: runs(project, "pipeline = 'ingest' AND status = 'succeeded'"), 30,
                         what="the file's run", alive=daemon.process)
        assert len(runs(project, "trigger_kind = 'file'")) == 1
        run = first[0]
        assert run["created_at"] >= written_at, "the run started before the file was complete"
        digest = hashlib.sha256(content).hexdigest()
        assert run["trigger_key"] == f"file:ingest:{digest}"
        assert run["options"] == {"file": "landing/orders-1.csv", "sha256": digest}
        steps = query(project, "SELECT step, rows_out FROM steps WHERE run_id = ? ORDER BY position", (run["run_id"],))
        assert steps[0] == ("ingest_raw", NUMBERS_CSV.count("\n") - 1)  # every row of the whole file was read

        # the same content under another name: no run, but a recorded duplicate
        shutil.copy(target, project / "landing" / "orders-copy.csv")
        wait_for(lambda: query(project, "SELECT 1 FROM events WHERE kind = 'file.duplicate'"), 30,
                 what="the duplicate to be noticed", alive=daemon.process)
        assert len(runs(project, "trigger_kind = 'file'")) == 1

        # changed content: a new run
        write(project / "landing" / "orders-1.csv", NUMBERS_CSV + "51,row51\n")
        wait_for(lambda: len(runs(project, "trigger_kind = 'file' AND status = 'succeeded'")) == 2, 30,
                 what="a run for the changed file", alive=daemon.process)
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
    keys = [run["trigger_key"] for run in runs(project, "trigger_kind = 'file'")]
    assert len(keys) == 2 and len(set(keys)) == 2


def test_files_that_arrived_while_down_are_found_at_start_and_archived_after_success(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    numbers_pipeline(project, "ingest", TRIGGER + "    archive: archive\n", source="landing/*.csv")
    write(project / "landing" / "early.csv", NUMBERS_CSV)
    write(project / "landing" / "ignored.txt", "not matched by *.csv\n")
    daemon = Daemon(project)
    try:
        daemon.address()
        wait_for(lambda: list((project / "archive").glob("*/early.csv")), 30, what="the file to be archived",
                 alive=daemon.process)
        assert not (project / "landing" / "early.csv").exists()
        [archived] = list((project / "archive").glob("*/early.csv"))
        assert archived.read_text() == NUMBERS_CSV
        assert (project / "landing" / "ignored.txt").exists()
        assert [run["status"] for run in runs(project, "trigger_kind = 'file'")] == ["succeeded"]
        # dropped again after archiving: same content, no run, archived beside the first copy
        write(project / "landing" / "early.csv", NUMBERS_CSV)
        wait_for(lambda: len(list((project / "archive").glob("*/early*.csv"))) == 2, 30,
                 what="the duplicate to be archived", alive=daemon.process)
        assert len(runs(project, "trigger_kind = 'file'")) == 1
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()


def _a_file_run_cut_short(project: Path) -> str:
    """Drop a file while the warehouse is held, stop the daemon while its run waits: the run ends abandoned."""
    (project / "landing").mkdir()
    daemon = Daemon(project)
    try:
        daemon.address()
        with warehouse_held(project):
            write(project / "landing" / "late.csv", NUMBERS_CSV)
            waiting = wait_for(lambda: runs(project, "trigger_kind = 'file' AND status = 'running'"), 30,
                               what="the file's run to start", alive=daemon.process)[0]
            assert daemon.terminate(timeout=60) == 0
    finally:
        daemon.stop_quietly()
    [cut] = runs(project, "run_id = ?", (waiting["run_id"],))
    assert cut["status"] == "abandoned" and "resumable" in cut["error"]
    assert (project / "landing" / "late.csv").exists()
    return str(cut["run_id"])


def _archived_once_and_ingested_once(project: Path, daemon: Daemon) -> None:
    wait_for(lambda: list((project / "archive").glob("*/late.csv")), 30, what="the file to be archived",
             alive=daemon.process)
    assert not (project / "landing" / "late.csv").exists()
    assert len(runs(project, "trigger_kind = 'file'")) == 1  # the file started one run; its resume finished it
    with duckdb.connect(str(project / ".flowdeck" / "warehouse.duckdb"), read_only=True) as warehouse:
        assert warehouse.execute("SELECT rows_seen FROM ingest_total").fetchall() == [(50,)]


def test_a_file_run_cut_short_by_a_daemon_stop_is_resumed_at_the_next_start_and_its_file_archived(
    tmp_path: Path,
) -> None:
    project = make_project(tmp_path / "project", grace="1s")
    numbers_pipeline(project, "ingest", "on_abandoned: resume\n" + TRIGGER + "    archive: archive\n",
                     source="landing/*.csv")
    cut = _a_file_run_cut_short(project)
    again = Daemon(project, "again.log")
    try:
        again.address()
        wait_for(lambda: runs(project, "trigger_key = ? AND status = 'succeeded'", (f"resume:{cut}",)), 60,
                 what="the cut run to be resumed", alive=again.process)
        _archived_once_and_ingested_once(project, again)
        assert again.terminate() == 0
    finally:
        again.stop_quietly()


def test_a_file_run_an_operator_resumed_by_hand_has_its_file_archived_by_the_next_daemon(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project", grace="1s")
    numbers_pipeline(project, "ingest", TRIGGER + "    archive: archive\n", source="landing/*.csv")  # report only
    cut = _a_file_run_cut_short(project)
    resumed = flowdeck(project, "run", "--resume", cut)
    assert resumed.returncode == 0, resumed.stderr
    again = Daemon(project, "again.log")
    try:
        again.address()
        _archived_once_and_ingested_once(project, again)
        assert again.terminate() == 0
    finally:
        again.stop_quietly()
