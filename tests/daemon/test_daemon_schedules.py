"""The real daemon process firing schedules, reloading edits, and surviving bad input."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from daemonkit import (Daemon, flowdeck, http_get, make_project, numbers_pipeline, query, readiness, runs, schedules,
                       wait_for, write)

pytestmark = pytest.mark.slow


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


def test_an_interval_schedule_fires_every_slot_exactly_once(project: Path) -> None:
    numbers_pipeline(project, "every2", "schedule:\n  interval: 2s\n  overlap: queue\n")
    daemon = Daemon(project)
    try:
        daemon.address()  # waits until the daemon serves: the slots are counted from here
        ready_at = time.time()
        wait_for(lambda: len(runs(project, "pipeline = 'every2' AND status = 'succeeded'")) >= 3, 40,
                 what="three scheduled runs", alive=daemon.process)
        stopped_at = time.time()
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
    scheduled = runs(project, "trigger_kind = 'schedule'")
    slots = sorted(run["options"]["scheduled_for"] for run in scheduled)
    assert len(slots) == len(set(slots)), "a slot fired twice"
    assert all(slot % 2 == 0 for slot in slots), slots
    # every 2s slot from the first to the last, none skipped; all between start and stop
    assert slots == [float(s) for s in range(int(slots[0]), int(slots[-1]) + 1, 2)]
    assert ready_at - 2.5 < slots[0] and slots[-1] <= stopped_at + 0.5
    expected_at_least = int((stopped_at - ready_at) // 2) - 1
    assert len(slots) >= expected_at_least
    assert {run["trigger_key"] for run in scheduled} == {
        f"schedule:every2:{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(slot))}.000Z" for slot in slots}
    assert not runs(project, "status = 'running'")
    ticks = query(project, "SELECT slot, status, run_id FROM schedule_ticks WHERE pipeline = 'every2' ORDER BY slot")
    assert [tick[0] for tick in ticks] == slots and {tick[1] for tick in ticks} == {"submitted"}


def test_bad_schedules_and_folders_are_reported_while_other_pipelines_run(project: Path) -> None:
    numbers_pipeline(project, "good", "schedule:\n  interval: 2s\n")
    numbers_pipeline(project, "bad_cron", "schedule:\n  cron: '61 * * * *'\n")
    numbers_pipeline(project, "bad_zone", "schedule:\n  cron: '0 6 * * *'\n  timezone: Mars/Olympus_Mons\n")
    numbers_pipeline(project, "no_folder", "triggers:\n  - folder: landing/nowhere\n")
    write(project / "landing" / "a_file", "not a folder\n")
    numbers_pipeline(project, "file_folder", "triggers:\n  - folder: landing/a_file\n")
    daemon = Daemon(project)
    try:
        address = daemon.address()
        wait_for(lambda: runs(project, "pipeline = 'good' AND status = 'succeeded'"), 30,
                 what="a run of the good pipeline", alive=daemon.process)
        code, body = http_get(f"{address}/readyz")
        assert code == 503
        reasons = "\n".join(json.loads(body)["reasons"])
        assert "pipeline bad_cron" in reasons and "invalid cron expression '61 * * * *'" in reasons
        assert "pipeline bad_zone" in reasons and "unknown time zone 'Mars/Olympus_Mons'" in reasons
        assert "pipeline no_folder" in reasons and "landing/nowhere does not exist" in reasons
        assert "pipeline file_folder" in reasons and "a_file is not a folder" in reasons
        assert "pipeline good" not in reasons
        assert http_get(f"{address}/healthz")[0] == 200

        status = flowdeck(project, "status", "--json")
        document = json.loads(status.stdout)
        assert document["daemon"]["running"] and document["daemon"]["pid"] == daemon.pid
        assert document["daemon"]["http"] == address and not document["healthy"]
        assert any("bad_cron" in reason for reason in document["daemon"]["reasons"])
        check = flowdeck(project, "status", "--check")
        assert check.returncode == 1 and "bad_zone" in check.stdout + check.stderr

        # the folder appears: that problem goes away without a restart
        (project / "landing" / "nowhere").mkdir(parents=True)
        wait_for(lambda: not any("no_folder" in reason for reason in readiness(address)), 20,
                 what="the watcher to pick up the new folder", alive=daemon.process)
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
    log = (project / ".flowdeck" / "logs" / "daemon.log").read_text()
    assert "bad_cron" in log and "landing/nowhere does not exist" in log


def test_an_edited_schedule_is_reloaded_and_an_invalid_edit_keeps_the_last_good_one(project: Path) -> None:
    numbers_pipeline(project, "edited", "schedule:\n  interval: 2s\n")
    daemon = Daemon(project)
    try:
        address = daemon.address()
        wait_for(lambda: runs(project, "pipeline = 'edited' AND status = 'succeeded'"), 30, what="a first run",
                 alive=daemon.process)
        yaml_path = project / "pipelines" / "edited" / "pipeline.yaml"
        good = yaml_path.read_text()
        yaml_path.write_text(good.replace("interval: 2s", "cron: 'every day'"))
        wait_for(lambda: any("pipeline edited" in reason and "every day" in reason for reason in readiness(address)),
                 20, what="the invalid edit to be reported", alive=daemon.process)
        assert http_get(f"{address}/readyz")[0] == 503
        # the 2s schedule stays in force; its slots cannot start runs of an invalid pipeline, and say why
        edited_at = time.time()
        failed = wait_for(lambda: query(project, "SELECT slot, reason FROM schedule_ticks WHERE pipeline = 'edited' "
                                        "AND status = 'failed' AND slot > ?", (edited_at,)), 20,
                          what="the last good schedule to keep ticking", alive=daemon.process)
        assert all(slot % 2 == 0 and "every day" in reason for slot, reason in failed)

        yaml_path.write_text(good.replace("interval: 2s", "interval: 3s"))
        wait_for(lambda: http_get(f"{address}/readyz")[0] == 200, 20, what="the fixed edit to be accepted")
        assert schedules(address) == ["every 3s"]
        fixed_at = time.time()
        wait_for(lambda: runs(project, "pipeline = 'edited' AND trigger_kind = 'schedule' AND created_at > ?",
                              (fixed_at,)), 20, what="a run on the new schedule", alive=daemon.process)
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
    new_slots = [run["options"]["scheduled_for"] for run in runs(project, "trigger_kind = 'schedule' AND created_at > ?",
                                                                 (fixed_at,))]
    assert new_slots and all(slot % 3 == 0 for slot in new_slots)


def test_a_pipeline_being_saved_is_read_only_once_whole(project: Path) -> None:
    numbers_pipeline(project, "saved", "schedule:\n  interval: 1h\n")
    daemon = Daemon(project)
    try:
        address = daemon.address()
        wait_for(lambda: schedules(address) == ["every 3600s"], 20, what="the pipeline to be loaded", alive=daemon.process)
        yaml_path = project / "pipelines" / "saved" / "pipeline.yaml"
        edited = yaml_path.read_text().replace("interval: 1h", "interval: 2h")
        # a slow writer: 25 pieces 0.1 s apart, so the file is half-written across at least one 2 s reload check
        size = len(edited) // 25 + 1
        with yaml_path.open("w") as file:
            for start in range(0, len(edited), size):
                file.write(edited[start:start + size])
                file.flush()
                time.sleep(0.1)
        wait_for(lambda: schedules(address) == ["every 7200s"], 20, what="the whole edit to be read",
                 alive=daemon.process)

        # an editor that saves by writing a new file and renaming it: pipeline.yaml is briefly gone each time
        for hours in range(3, 15):
            yaml_path.rename(yaml_path.with_suffix(".yaml~"))
            time.sleep(0.25)
            write(yaml_path, edited.replace("interval: 2h", f"interval: {hours}h"))
            time.sleep(0.25)
        wait_for(lambda: schedules(address) == ["every 50400s"], 20, what="the last save to be read",
                 alive=daemon.process)
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
    log = (project / ".flowdeck" / "logs" / "daemon.log").read_text()
    assert "is invalid" not in log and "was removed" not in log, log


def test_missed_slots_after_downtime_follow_catchup_all_from_the_ledger(project: Path) -> None:
    numbers_pipeline(project, "catchy", "schedule:\n  interval: 1s\n  catchup: all\n  max_catchup: 2\n"
                     "  misfire_grace: 1s\n  overlap: queue\n")
    first = Daemon(project, "first.log")
    try:
        first.address()
        wait_for(lambda: runs(project, "trigger_kind = 'schedule'"), 30, what="a first slot", alive=first.process)
        assert first.terminate() == 0
    finally:
        first.stop_quietly()
    last_before = query(project, "SELECT MAX(slot) FROM schedule_ticks")[0][0]
    time.sleep(5)  # at least four 1s slots pass with no daemon
    second = Daemon(project, "second.log")
    try:
        second.address()
        wait_for(lambda: query(project, "SELECT 1 FROM schedule_ticks WHERE status = 'missed'"), 30,
                 what="missed slots to be recorded", alive=second.process)
        assert second.terminate() == 0
    finally:
        second.stop_quietly()
    # when the second daemon caught up: its first recorded slot (not when its lease appeared: a slow
    # start would move slots from "late" to "on time" and the window with them)
    started = query(project, "SELECT MIN(ts) FROM schedule_ticks WHERE slot > ?", (last_before,))[0][0]
    ticks = query(project, "SELECT slot, status FROM schedule_ticks WHERE slot > ? AND slot < ? ORDER BY slot",
                  (last_before, started - 1.0))
    slots = [slot for slot, _ in ticks]
    assert slots == [float(s) for s in range(int(last_before) + 1, int(slots[-1]) + 1)], "a slot was not accounted for"
    downtime = [status for slot, status in ticks]
    # the two latest late slots ran; the older ones are recorded as missed, none fired twice
    assert downtime[-2:] == ["submitted", "submitted"] and set(downtime[:-2]) == {"missed"}
    keys = [run["trigger_key"] for run in runs(project, "trigger_kind = 'schedule'")]
    assert len(keys) == len(set(keys))
