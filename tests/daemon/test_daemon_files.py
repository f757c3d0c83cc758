"""File triggers with the real daemon: settle, one run per content, rescan at start, archive."""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import pytest
from daemonkit import NUMBERS_CSV, Daemon, make_project, numbers_pipeline, query, runs, wait_for, write

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
