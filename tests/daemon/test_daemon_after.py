"""`after:` triggers with the real daemon: a follower runs once per upstream publish, whoever ran the
upstream, waits for every upstream, survives restarts and crashes, and ignores failed runs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from daemonkit import Daemon, flowdeck, make_project, numbers_pipeline, query, runs, wait_for, write

pytestmark = pytest.mark.slow

QUIET_SECONDS = 3.0  # long enough for a dozen passes of the daemon's loop (0.25 s each)


def after_runs(project: Path, pipeline: str = "b") -> list[dict]:
    return runs(project, "pipeline = ? AND trigger_kind = 'after'", (pipeline,))


def run_upstream(project: Path, pipeline: str, status: str = "succeeded", *options: str) -> str:
    """Run a pipeline with the CLI, in another process as an operator would (queued; the daemon or a
    background worker runs it: a foreground run can be claimed by the daemon's pool first); return its id."""
    result = flowdeck(project, "run", pipeline, "--detach", *options)
    assert result.returncode == 0, result.stderr
    run_id = runs(project, "pipeline = ? AND trigger_kind = 'manual'", (pipeline,))[-1]["run_id"]
    wait_for(lambda: runs(project, "run_id = ? AND status = ?", (run_id, status)), 60,
             what=f"run {run_id} of {pipeline} to be {status}")
    return run_id


def wait_for_after_runs(project: Path, count: int, daemon: Daemon, pipeline: str = "b") -> list[dict]:
    return wait_for(lambda: (found := after_runs(project, pipeline)) and len(found) >= count
                    and all(run["status"] == "succeeded" for run in found) and found,
                    60, what=f"{count} finished run(s) of {pipeline} after its upstreams", alive=daemon.process)


def project_with(tmp_path: Path, after: str) -> Path:
    project = make_project(tmp_path / "project")
    numbers_pipeline(project, "a")
    numbers_pipeline(project, "c")
    numbers_pipeline(project, "b", f"triggers:\n  - after: {after}\n")
    return project


def test_each_publish_of_the_upstream_starts_the_follower_once(tmp_path: Path) -> None:
    project = project_with(tmp_path, "[a]")
    daemon = Daemon(project)
    try:
        daemon.address()
        first_a = run_upstream(project, "a")
        [first] = wait_for_after_runs(project, 1, daemon)
        assert first["trigger_key"] == f"after:b:a={first_a}"
        assert first["options"] == {"after": {"a": first_a}}
        time.sleep(QUIET_SECONDS)
        assert len(after_runs(project)) == 1, "one publish started the follower twice"

        unchanged_a = run_upstream(project, "a")  # nothing changed: every step unchanged, nothing published
        assert not query(project, "SELECT 1 FROM publishes WHERE run_id = ?", (unchanged_a,))
        time.sleep(QUIET_SECONDS)
        assert len(after_runs(project)) == 1, "a run that published nothing started the follower"

        second_a = run_upstream(project, "a", "succeeded", "--force")  # rebuilt: it publishes again
        both = wait_for_after_runs(project, 2, daemon)
        assert [run["trigger_key"] for run in both] == [f"after:b:a={first_a}", f"after:b:a={second_a}"]
        time.sleep(QUIET_SECONDS)
        assert len(after_runs(project)) == 2
        assert not runs(project, "pipeline = 'b' AND trigger_kind != 'after'")

        shown = flowdeck(project, "show", both[1]["run_id"])
        assert shown.returncode == 0, shown.stderr
        assert f"trigger after (after:b:a={second_a})" in shown.stdout
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()


def test_a_follower_of_two_pipelines_waits_for_both(tmp_path: Path) -> None:
    project = project_with(tmp_path, "[a, c]")
    daemon = Daemon(project)
    try:
        daemon.address()
        a_run = run_upstream(project, "a")
        time.sleep(QUIET_SECONDS)
        assert after_runs(project) == [], "the follower started before its second upstream published"
        listing = {item["name"]: item for item in json.loads(flowdeck(project, "pipelines", "--json").stdout)}
        assert listing["b"]["after"] == [{"pipelines": ["a", "c"], "waiting_for": ["c"]}]

        c_run = run_upstream(project, "c")
        [run] = wait_for_after_runs(project, 1, daemon)
        assert run["options"] == {"after": {"a": a_run, "c": c_run}}
        time.sleep(QUIET_SECONDS)
        assert len(after_runs(project)) == 1
        listing = {item["name"]: item for item in json.loads(flowdeck(project, "pipelines", "--json").stdout)}
        assert listing["b"]["after"] == [{"pipelines": ["a", "c"], "waiting_for": ["a", "c"]}]

        run_upstream(project, "c", "succeeded", "--force")  # c publishes again, a not: still waiting for a
        time.sleep(QUIET_SECONDS)
        assert len(after_runs(project)) == 1
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()


def test_a_publish_while_the_daemon_is_down_is_followed_once_when_it_starts(tmp_path: Path) -> None:
    project = project_with(tmp_path, "[a]")
    daemon = Daemon(project)
    try:
        daemon.address()
        wait_for(lambda: query(project, "SELECT since FROM follow_state WHERE pipeline = 'b'"), 30,
                 what="the trigger to come into force", alive=daemon.process)
    finally:
        daemon.kill()  # SIGKILL: no clean stop
        daemon.stop_quietly()
    a_run = run_upstream(project, "a")  # publishes while no daemon runs (a background worker runs it)
    for attempt in range(2):  # the second start finds it done: nothing new
        daemon = Daemon(project, f"daemon-{attempt}.log")
        try:
            daemon.address()
            [run] = wait_for_after_runs(project, 1, daemon)
            assert run["trigger_key"] == f"after:b:a={a_run}"
            time.sleep(QUIET_SECONDS)
            assert len(after_runs(project)) == 1
            assert daemon.terminate() == 0
        finally:
            daemon.stop_quietly()


def test_a_daemon_killed_between_queuing_the_follower_and_recording_it_starts_it_once(tmp_path: Path) -> None:
    project = project_with(tmp_path, "[a]")
    crashing = Daemon(project, "crashing.log", env={"FLOWDECK_DEBUG_CRASH_AT": "follow_queued:b"})
    try:
        crashing.address()
        a_run = run_upstream(project, "a")
        wait_for(lambda: crashing.process.poll() is not None, 30, what="the daemon to crash after queuing b")
    finally:
        crashing.stop_quietly()
    [queued] = after_runs(project)
    assert queued["status"] == "queued"
    daemon = Daemon(project)
    try:
        daemon.address()
        [run] = wait_for_after_runs(project, 1, daemon)
        assert run["run_id"] == queued["run_id"] and run["trigger_key"] == f"after:b:a={a_run}"
        time.sleep(QUIET_SECONDS)
        assert len(after_runs(project)) == 1
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()


def test_a_failed_upstream_starts_nothing_and_an_older_publish_is_not_followed(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    numbers_pipeline(project, "a")
    run_upstream(project, "a")  # published before b followed it: not followed
    numbers_pipeline(project, "b", "triggers:\n  - after: [a]\n")
    daemon = Daemon(project)
    try:
        daemon.address()
        time.sleep(QUIET_SECONDS)
        assert after_runs(project) == []
        # a run that failed after publishing a table
        write(project / "pipelines" / "a" / "total.sql", "SELECT CAST(label AS INTEGER) AS n FROM a_raw\n")
        failed = run_upstream(project, "a", "failed", "--force")  # forced: a_raw publishes again, then a_total fails
        assert runs(project, "run_id = ? AND EXISTS (SELECT 1 FROM commits WHERE commits.run_id = runs.run_id)",
                    (failed,)), "the failed run published a table before it failed"
        time.sleep(QUIET_SECONDS)
        assert after_runs(project) == [], "a failed run of a started b"
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
