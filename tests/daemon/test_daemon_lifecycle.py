"""One daemon per project, clean SIGTERM, and recovery after SIGKILL, with the real process."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from daemonkit import Daemon, flowdeck, make_project, numbers_pipeline, query, runs, wait_for, warehouse_held

from flowdeck.engine.run.processes import pid_alive

pytestmark = pytest.mark.slow


def wait_for_resumed(project: Path, run_id: str, daemon: Daemon) -> dict[str, object]:
    """Wait until the run queued to resume ``run_id`` has succeeded; return it."""
    return wait_for(lambda: runs(project, "trigger_key = ? AND status = 'succeeded'", (f"resume:{run_id}",)), 60,
                    what=f"run {run_id} to be resumed", alive=daemon.process)[0]


def test_two_daemons_started_together_give_one_daemon_and_one_clear_refusal(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    numbers_pipeline(project, "quiet")
    first, second = Daemon(project, "one.log"), Daemon(project, "two.log")
    try:
        loser = wait_for(lambda: next((d for d in (first, second) if d.process.poll() is not None), None), 30,
                         what="one of the two daemons to give up")
        winner = second if loser is first else first
        assert loser.wait() == 4
        message = loser.stderr()
        assert "a daemon is already running for this project" in message
        assert f"pid {winner.pid}" in message and "since 20" in message
        assert "Traceback" not in message
        winner.address()
        assert winner.process.poll() is None
        status = flowdeck(project, "status", "--check")
        assert status.returncode == 0, status.stdout + status.stderr
        assert f"pid {winner.pid}" in status.stdout
        assert winner.terminate() == 0
    finally:
        first.stop_quietly()
        second.stop_quietly()
    after = flowdeck(project, "status", "--check")
    assert after.returncode == 1 and "not running" in after.stdout


def test_sigterm_stops_cleanly_leaving_no_run_running(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project", grace="2s")
    numbers_pipeline(project, "patient", "on_abandoned: resume\n")
    daemon = Daemon(project)
    try:
        daemon.address()
        with warehouse_held(project):
            queued = flowdeck(project, "run", "patient", "--detach")
            assert queued.returncode == 0 and f"the daemon (pid {daemon.pid}) will run it" in queued.stdout
            running = wait_for(lambda: runs(project, "status = 'running'"), 30, what="the run to start",
                               alive=daemon.process)[0]
            assert running["owner_pid"] != daemon.pid  # it runs in its own worker process
            started = time.monotonic()
            assert daemon.terminate(timeout=60) == 0
            assert time.monotonic() - started < 2 + 15
    finally:
        daemon.stop_quietly()
    assert not runs(project, "status = 'running'")
    stopped = runs(project, "run_id = ?", (running["run_id"],))[0]
    assert stopped["status"] == "abandoned" and "resumable" in stopped["error"]
    assert not pid_alive(running["owner_pid"])
    lease = query(project, "SELECT stopped_at FROM daemon_lease")
    assert lease and lease[0][0] is not None
    # the next daemon resumes it, since the pipeline allows it
    again = Daemon(project, "again.log")
    try:
        again.address()
        resumed = wait_for_resumed(project, running["run_id"], again)
        assert resumed["parent_run_id"] == running["run_id"]
        assert again.terminate() == 0
    finally:
        again.stop_quietly()


def test_sigusr1_writes_every_threads_stack_to_the_log_and_the_daemon_goes_on(tmp_path: Path) -> None:
    """For a daemon that seems stuck: its threads' stacks, in its own log, without stopping it."""
    project = make_project(tmp_path / "project")
    numbers_pipeline(project, "numbers")
    daemon = Daemon(project)
    log_file = project / ".flowdeck" / "logs" / "daemon.log"
    try:
        daemon.address()
        os.kill(daemon.pid, signal.SIGUSR1)
        dumped = wait_for(lambda: log_file.read_text() if "Current thread" in log_file.read_text() else None, 30,
                          what="the stacks in daemon.log", alive=daemon.process)
        assert "_loop" in dumped  # the main thread, in its loop
        assert "Thread 0x" in dumped  # and the others (HTTP, scheduler, watcher)
        assert daemon.process.poll() is None
        assert daemon.terminate(timeout=60) == 0
    finally:
        daemon.stop_quietly()


def test_sigkill_mid_run_then_restart_abandons_resumes_and_loses_nothing(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    numbers_pipeline(project, "crashy", "schedule:\n  interval: 2s\n  overlap: skip\non_abandoned: resume\n")
    numbers_pipeline(project, "reported", "on_abandoned: report\n")
    daemon = Daemon(project, "killed.log")
    try:
        daemon.address()
        with warehouse_held(project):
            victim = wait_for(lambda: runs(project, "status = 'running' AND pipeline = 'crashy'"), 30,
                              what="a scheduled run to start", alive=daemon.process)[0]
            queued = flowdeck(project, "run", "reported", "--detach")
            assert queued.returncode == 0
            # a later slot comes while the run is stuck: skipped (overlap: skip), recorded
            wait_for(lambda: query(project, "SELECT 1 FROM schedule_ticks WHERE status = 'skipped'"), 30,
                     what="an overlapping slot to be skipped", alive=daemon.process)
            daemon.kill()
            wait_for(lambda: not pid_alive(victim["owner_pid"]), 10, what="the worker to die with its daemon")
            before_runs = {run["run_id"]: run for run in runs(project)}
            before_events = query(project, "SELECT event_id, kind, message FROM events ORDER BY event_id")
            before_ticks = query(project, "SELECT pipeline, slot, status, run_id FROM schedule_ticks ORDER BY slot")
            assert before_runs[victim["run_id"]]["status"] == "running"
        restarted = Daemon(project, "restarted.log")
        try:
            restarted.address()
            resumed = wait_for_resumed(project, victim["run_id"], restarted)
            # the queued run of the other pipeline is still run by the new daemon
            wait_for(lambda: runs(project, "pipeline = 'reported' AND status = 'succeeded'"), 60,
                     what="the queued run", alive=restarted.process)
            assert restarted.terminate() == 0
        finally:
            restarted.stop_quietly()
    finally:
        daemon.stop_quietly()
    victim_now = runs(project, "run_id = ?", (victim["run_id"],))[0]
    assert victim_now["status"] == "abandoned" and str(victim["owner_pid"]) in victim_now["error"]
    assert resumed["parent_run_id"] == victim["run_id"] and resumed["trigger_kind"] == "resume"
    after_runs = {run["run_id"]: run for run in runs(project)}
    assert set(before_runs) <= set(after_runs), "a run record was lost"
    after_events = query(project, "SELECT event_id, kind, message FROM events ORDER BY event_id")
    assert after_events[: len(before_events)] == before_events, "an event was lost or changed"
    after_ticks = query(project, "SELECT pipeline, slot, status, run_id FROM schedule_ticks ORDER BY slot")
    assert set(before_ticks) <= set(after_ticks)
    slots = [run["options"]["scheduled_for"] for run in after_runs.values() if run["trigger_kind"] == "schedule"]
    assert len(slots) == len(set(slots)), "a slot fired twice"
    assert len({tick[1] for tick in after_ticks}) == len(after_ticks)
    assert not runs(project, "status = 'running'")


def test_a_pipeline_that_says_report_is_only_reported_after_a_crash(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    numbers_pipeline(project, "fragile", "on_abandoned: report\n")
    daemon = Daemon(project, "killed.log")
    try:
        daemon.address()
        with warehouse_held(project):
            assert flowdeck(project, "run", "fragile", "--detach").returncode == 0
            victim = wait_for(lambda: runs(project, "status = 'running'"), 30, what="the run to start",
                              alive=daemon.process)[0]
            daemon.kill()
            wait_for(lambda: not pid_alive(victim["owner_pid"]), 10, what="the worker to die with its daemon")
        restarted = Daemon(project, "restarted.log")
        try:
            restarted.address()
            wait_for(lambda: "not resuming it" in (project / ".flowdeck" / "logs" / "daemon.log").read_text(), 30,
                     what="the crash to be reported", alive=restarted.process)
            status = flowdeck(project, "status", "--json")
            assert victim["run_id"] in status.stdout  # listed among the last errors
            assert restarted.terminate() == 0
        finally:
            restarted.stop_quietly()
    finally:
        daemon.stop_quietly()
    assert runs(project, "run_id = ?", (victim["run_id"],))[0]["status"] == "abandoned"
    assert len(runs(project)) == 1
    assert os.path.exists(project / ".flowdeck" / "logs" / "daemon.log")
