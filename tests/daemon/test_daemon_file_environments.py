"""One folder watched by a pipeline's prod trigger and its dev trigger, with the real daemon and real files.

Each environment runs once for every file; prod's trigger archives a file only after dev's run of
it has ended (each run reads the folder when it runs, so a file moved away earlier is lost for the
other); a dev run never archives for prod; a dev trigger that would archive a shared folder is refused.
Two pipelines on one folder: the same wait, so the second pipeline's run still finds the file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from daemonkit import NUMBERS_CSV, Daemon, flowdeck, http_get, make_project, numbers_pipeline, query, runs, wait_for, write
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow

PROD_TRIGGER = """
  - folder: landing
    patterns: ["*.csv"]
    settle: 1s
    archive: archive
"""


def dev_trigger(settle: str = "1s", extra: str = "") -> str:
    """A trigger on the same folder writing to the `dev` environment."""
    return f"""
  - folder: landing
    patterns: ["*.csv"]
    settle: {settle}
    env: dev
{extra}"""


def both_finished(project: Path, count: int) -> list[dict[str, object]]:
    """The file runs once ``count`` of them have ended (none queued or running), else an empty list."""
    found = runs(project, "trigger_kind = 'file'")
    done = [run for run in found if run["status"] not in ("queued", "running")]
    return found if len(found) == count and len(done) == count else []


def file_event_counts(address: str) -> dict[tuple[str, str, str], float]:
    """``flowdeck_file_events_total`` from the daemon's /metrics: (environment, pipeline, outcome) → count."""
    code, body = http_get(f"{address}/metrics")
    assert code == 200
    return {(sample.labels["environment"], sample.labels["pipeline"], sample.labels["outcome"]): sample.value
            for family in text_string_to_metric_families(body.decode()) if family.name == "flowdeck_file_events"
            for sample in family.samples if sample.name == "flowdeck_file_events_total"}


def extract_rows(project: Path, run_id: object) -> list[tuple[object, ...]]:
    return query(project, "SELECT status, rows_out, reuse_reason FROM steps WHERE run_id = ? AND step = 'ingest_raw'",
                 (run_id,))


def test_prods_archive_waits_for_devs_run_of_the_file_so_both_environments_read_it(tmp_path: Path) -> None:
    # dev's trigger settles later than prod's: prod's run has succeeded while dev has yet to queue its own
    project = make_project(tmp_path / "project")
    numbers_pipeline(project, "ingest", "triggers:" + PROD_TRIGGER + dev_trigger(settle="4s"), source="landing/*.csv")
    (project / "landing").mkdir()
    daemon = Daemon(project)
    try:
        daemon.address()
        write(project / "landing" / "a.csv", NUMBERS_CSV)
        prod_done = wait_for(lambda: runs(project, "environment = 'prod' AND status = 'succeeded'"), 60,
                             what="prod's run of the file", alive=daemon.process)
        assert (project / "landing" / "a.csv").exists(), "prod archived the file before dev's trigger took it"
        found = wait_for(lambda: both_finished(project, 2), 60, what="dev's run of the file", alive=daemon.process)
        wait_for(lambda: list((project / "archive").glob("*/a.csv")), 30, what="the file to be archived after dev's run",
                 alive=daemon.process)
        file_events = file_event_counts(daemon.address())
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
    digest = hashlib.sha256(NUMBERS_CSV.encode()).hexdigest()
    by_environment = {run["environment"]: run for run in found}
    assert {env: (run["status"], run["trigger_key"]) for env, run in by_environment.items()} == {
        "prod": ("succeeded", f"file:ingest:{digest}"), "dev": ("succeeded", f"file:ingest@dev:{digest}")}
    assert extract_rows(project, prod_done[0]["run_id"]) == [("succeeded", 50, None)]
    # dev's extract read the same file as prod's current version: it reads prod's table (no copy)
    assert extract_rows(project, by_environment["dev"]["run_id"]) == [("succeeded", None, "prod")]
    assert not (project / "landing" / "a.csv").exists()
    assert [path.read_text() for path in (project / "archive").glob("*/*")] == [NUMBERS_CSV]  # moved once, whole
    accepted = query(project, "SELECT run_id FROM events WHERE kind = 'file.accepted'")
    assert sorted(row[0] for row in accepted) == sorted(run["run_id"] for run in found)
    # the daemon's metrics count the file once per environment, and its archiving once, by prod's trigger
    assert file_events == {("prod", "ingest", "accepted"): 1.0, ("dev", "ingest", "accepted"): 1.0,
                           ("prod", "ingest", "archived"): 1.0}


def test_a_dev_run_that_ends_first_never_archives_the_file_prods_run_has_yet_to_read(tmp_path: Path) -> None:
    # dev's trigger comes first in the file, so its run is queued, and runs, before prod's
    project = make_project(tmp_path / "project")
    numbers_pipeline(project, "ingest", "triggers:" + dev_trigger() + PROD_TRIGGER, source="landing/*.csv")
    (project / "landing").mkdir()
    daemon = Daemon(project)
    try:
        daemon.address()
        write(project / "landing" / "a.csv", NUMBERS_CSV)
        found = wait_for(lambda: both_finished(project, 2), 60, what="both runs of the file", alive=daemon.process)
        wait_for(lambda: list((project / "archive").glob("*/a.csv")), 30, what="the file to be archived",
                 alive=daemon.process)
        # `flowdeck status` tells the two watchers apart (read from the lease the daemon renews every 5 s)
        shown = wait_for(lambda: [line for line in flowdeck(project, "status").stdout.splitlines()
                                  if line.startswith("watch ")], 30, what="the watchers in `flowdeck status`")
        assert [line.split(":")[0] for line in shown] == ["watch ingest [dev]", "watch ingest"]
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
    assert [run["environment"] for run in found] == ["dev", "prod"]
    dev, prod = found
    assert (dev["status"], prod["status"]) == ("succeeded", "succeeded"), prod["error"]
    assert extract_rows(project, dev["run_id"]) == [("succeeded", 50, None)]  # dev built it: prod had not yet
    assert extract_rows(project, prod["run_id"]) == [("succeeded", 50, None)]
    assert prod["started_at"] > dev["ended_at"]  # prod read the file after dev's run had ended
    # prod's file bookkeeping is prod's: the file it read, in prod's warehouse only
    prod_files = query(project, "SELECT path FROM input_files WHERE run_id = ?", (prod["run_id"],))
    assert prod_files == [("landing/a.csv",)]
    assert len(list((project / "archive").glob("*/*"))) == 1


def test_a_file_that_landed_while_the_daemon_was_down_is_taken_by_both_environments_batched_or_not(
        tmp_path: Path) -> None:
    # prod batches with a short window; dev settles later than prod's batch is queued: prod's batch
    # run of the content must not count as dev's (dev's file would be a "duplicate", never run in dev)
    project = make_project(tmp_path / "project")
    prod_batched = PROD_TRIGGER + "    batch: {max_files: 10, max_wait: 1s}\n"
    numbers_pipeline(project, "ingest", "triggers:" + prod_batched + dev_trigger(settle="5s"), source="landing/*.csv")
    write(project / "landing" / "early.csv", NUMBERS_CSV)
    daemon = Daemon(project)
    try:
        daemon.address()
        found = wait_for(lambda: both_finished(project, 2), 90, what="a run in each environment",
                         alive=daemon.process)
        wait_for(lambda: list((project / "archive").glob("*/early.csv")), 30, what="the file to be archived",
                 alive=daemon.process)
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
    digest = hashlib.sha256(NUMBERS_CSV.encode()).hexdigest()
    assert {run["environment"]: run["status"] for run in found} == {"prod": "succeeded", "dev": "succeeded"}
    by_environment = {run["environment"]: run for run in found}
    assert by_environment["prod"]["options"] == {"files": [{"file": "landing/early.csv", "sha256": digest}]}
    assert by_environment["dev"]["options"] == {"file": "landing/early.csv", "sha256": digest}
    assert not query(project, "SELECT 1 FROM events WHERE kind = 'file.duplicate'")


def test_a_dev_trigger_that_would_archive_a_folder_prod_watches_is_refused_naming_file_and_line(
        tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    numbers_pipeline(project, "ingest", "triggers:" + PROD_TRIGGER + dev_trigger(extra="    archive: archive/dev\n"),
                     source="landing/*.csv")
    result = flowdeck(project, "validate")
    assert result.returncode != 0
    said = result.stdout + result.stderr
    assert "pipeline.yaml:11:" in said  # the dev trigger's archive: line
    assert "the `dev` trigger on landing would archive (move away) files that the `prod` trigger on the same " \
           "folder (line 2) reads too" in said
    assert "only prod's trigger archives" in said
    # without archive on dev's, the same two triggers are valid
    numbers_pipeline(project, "ingest", "triggers:" + PROD_TRIGGER + dev_trigger(), source="landing/*.csv")
    assert flowdeck(project, "validate").returncode == 0


def test_two_pipelines_on_one_folder_both_read_each_file_before_it_is_archived_once(tmp_path: Path) -> None:
    # `audit` settles later: `ingest`'s run has succeeded while audit has yet to queue its own; both archive
    project = make_project(tmp_path / "project")
    numbers_pipeline(project, "ingest", "triggers:" + PROD_TRIGGER, source="landing/*.csv")
    numbers_pipeline(project, "audit", "triggers:" + PROD_TRIGGER.replace("settle: 1s", "settle: 4s").replace(
        "archive: archive", "archive: audit_archive"), source="landing/*.csv")
    (project / "landing").mkdir()
    daemon = Daemon(project)
    try:
        daemon.address()
        write(project / "landing" / "a.csv", NUMBERS_CSV)
        wait_for(lambda: runs(project, "pipeline = 'ingest' AND status = 'succeeded'"), 60, what="ingest's run of the file",
                 alive=daemon.process)
        assert (project / "landing" / "a.csv").exists(), "ingest archived the file before audit's trigger took it"
        wait_for(lambda: runs(project, "pipeline = 'audit' AND status = 'succeeded'"), 60, what="audit's run of the file",
                 alive=daemon.process)
        archived = wait_for(lambda: list(project.glob("*archive/*/a.csv")), 30, what="the file to be archived",
                            alive=daemon.process)
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
    for pipeline in ("ingest", "audit"):  # each extract read the whole file
        assert query(project, "SELECT rows_out FROM steps WHERE step = ?", (f"{pipeline}_raw",)) == [(50,)]
    # archived once, whole, after both had read it: into the archive of whichever trigger freed it last
    assert len(archived) == 1 and archived[0].relative_to(project).parts[0] in ("archive", "audit_archive")
    assert len(list(project.glob("*archive/*/*"))) == 1
    assert archived[0].read_text() == NUMBERS_CSV and not (project / "landing" / "a.csv").exists()
    assert "a.csv is archived once the trigger of pipeline audit has read it" in daemon.stderr_path.read_text()
