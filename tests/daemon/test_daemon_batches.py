"""Micro-batches of file triggers with the real daemon: one run for a burst of files, each file in
exactly one run, across a SIGKILL and a restart too."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest
from daemonkit import Daemon, flowdeck, http_get, make_project, numbers_pipeline, query, runs, wait_for, write

pytestmark = pytest.mark.slow


def batched_trigger(max_files: int, max_wait: str, *, archive: bool = False) -> str:
    return f"""
triggers:
  - folder: landing
    patterns: ["*.csv"]
    settle: 500ms
    batch: {{max_files: {max_files}, max_wait: {max_wait}}}{chr(10) + "    archive: archive" if archive else ""}
"""


def drop(project: Path, name: str) -> str:
    """A small CSV of its own content in landing/; its sha256."""
    content = f"n,label\n1,{name}\n2,{name}\n"
    write(project / "landing" / name, content)
    return hashlib.sha256(content.encode()).hexdigest()


def batches(project: Path) -> list[list[str]]:
    """The files of each file-triggered run, oldest run first."""
    return [[entry["file"] for entry in run["options"]["files"]] for run in runs(project, "trigger_kind = 'file'")]


def waiting(address: str) -> int:
    """How many files wait in the trigger's batch window, as /status says."""
    [watcher] = json.loads(http_get(f"{address}/status")[1])["watchers"]
    return int(watcher["batch"]["waiting"])


def test_a_burst_of_files_starts_one_run_a_batch_and_archives_every_file_after_it(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    numbers_pipeline(project, "ingest", batched_trigger(4, "3s", archive=True))
    (project / "landing").mkdir()
    daemon = Daemon(project)
    try:
        daemon.address()
        names = [f"part-{index:02}.csv" for index in range(10)]
        digests = {f"landing/{name}": drop(project, name) for name in names}
        wait_for(lambda: len(runs(project, "trigger_kind = 'file' AND status = 'succeeded'")) == 3, 90,
                 what="three batch runs to succeed", alive=daemon.process)
        wait_for(lambda: len(list((project / "archive").glob("*/*.csv"))) == 10, 30,
                 what="every file to be archived", alive=daemon.process)
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
    found = batches(project)
    assert sorted(len(batch) for batch in found) == [2, 4, 4]  # two full batches, then the rest after max_wait
    assert Counter(file for batch in found for file in batch) == Counter(set(digests))  # each file in exactly one run
    for run in runs(project, "trigger_kind = 'file'"):
        assert {entry["sha256"] for entry in run["options"]["files"]} == \
            {digests[entry["file"]] for entry in run["options"]["files"]}
    accepted = query(project, "SELECT COUNT(*) FROM events WHERE kind = 'file.accepted'")
    assert accepted == [(10,)]
    assert not list((project / "landing").glob("*.csv"))


def test_every_file_is_in_exactly_one_batch_across_a_sigkill_and_a_restart(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    # no archive: every file stays in landing/, so the restarted daemon's rescan sees them all again
    numbers_pipeline(project, "ingest", batched_trigger(3, "6s"), source="landing/*.csv")
    (project / "landing").mkdir()
    daemon = Daemon(project)
    try:
        address = daemon.address()
        first = [drop(project, f"a{index}.csv") for index in range(5)]
        wait_for(lambda: len(batches(project)) == 2, 60, what="a full batch and, after max_wait, the rest",
                 alive=daemon.process)
        second = [drop(project, name) for name in ("b1.csv", "b2.csv")]
        wait_for(lambda: waiting(address) == 2, 30, what="two files to wait in the window", alive=daemon.process)
        daemon.kill()  # with a batch run perhaps still queued or running, and two files only in its memory
    finally:
        daemon.stop_quietly()
    assert len(batches(project)) == 2
    late = drop(project, "c1.csv")  # landed while it was down

    restarted = Daemon(project, "restarted.log")
    try:
        restarted.address()
        # the rescan finds all eight files: the five already in runs are duplicates, the three others one batch
        third = wait_for(lambda: (lambda found: found[2] if len(found) == 3 else None)(batches(project)), 60,
                         what="the batch of the files the killed daemon had not queued", alive=restarted.process)
        assert sorted(third) == ["landing/b1.csv", "landing/b2.csv", "landing/c1.csv"]
        wait_for(lambda: runs(project, "trigger_kind = 'file' AND status IN ('queued', 'running')") == [], 90,
                 what="the runs to end", alive=restarted.process)
        wait_for(lambda: query(project, "SELECT COUNT(*) FROM events WHERE kind = 'file.duplicate'")[0][0] >= 5, 30,
                 what="the five files of earlier runs to be recorded as duplicates", alive=restarted.process)
        assert restarted.terminate() == 0
    finally:
        restarted.stop_quietly()
    found = batches(project)
    assert len(found) == 3
    every = [file for batch in found for file in batch]
    assert sorted(every) == sorted({*every}) and len(every) == 8  # each file in exactly one batch
    assert [len(batch) for batch in found[:2]] == [3, 2]  # a full batch, then the rest after max_wait
    assert sorted(found[0] + found[1]) == [f"landing/a{index}.csv" for index in range(5)]
    members = {entry["sha256"] for run in runs(project, "trigger_kind = 'file'") for entry in run["options"]["files"]}
    assert members == {*first, *second, late}
    last = runs(project, "trigger_kind = 'file'")[-1]
    assert last["status"] == "succeeded"
    # the last run read every file of landing/ (the extract's glob), all eight of them
    assert query(project, "SELECT rows_out FROM steps WHERE run_id = ? AND step = 'ingest_raw'", (last["run_id"],)) \
        == [(16,)]


def test_a_batch_without_a_window_or_a_size_is_refused_naming_the_field(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    numbers_pipeline(project, "ingest", batched_trigger(0, "30s"))
    result = flowdeck(project, "validate")
    assert result.returncode != 0
    assert "max_files" in result.stdout + result.stderr
    numbers_pipeline(project, "ingest", batched_trigger(10, "0s"))
    result = flowdeck(project, "validate")
    assert result.returncode != 0
    assert "max_wait must be longer than 0s" in result.stdout + result.stderr
