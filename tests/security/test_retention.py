"""Retention: prune removes what the policies no longer keep, says what, and keeps audit entries longest."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from security_helpers import cli, write

from tests.conftest import ledger_rows

from flowdeck.engine.workspace import Workspace
from flowdeck.engine.errors import ConfigError
from flowdeck.engine.project.project import Project
from flowdeck.engine.governance.retention import prune

DAY = 86400.0


def two_runs(project: Path) -> Workspace:
    workspace = Workspace.open(project)
    for _ in range(2):
        record, _ = workspace.submit("daily_sales")
        assert workspace.execute(record.run_id) == "succeeded"
    return workspace


def test_nothing_within_policy_is_removed(project: Path) -> None:
    two_runs(project).close()
    result = json.loads(cli(project, "prune", "--json", check=0).stdout)
    assert result["dry_run"] is False and sum(result["removed"].values()) == 0
    assert len(json.loads(cli(project, "runs", "--json", check=0).stdout)) == 2


def test_old_runs_events_and_lineage_go_but_audit_entries_stay_longer(project: Path) -> None:
    workspace = two_runs(project)
    ledger = workspace.ledger
    runs = ledger.list_runs()
    steps = sum(len(ledger.steps_of(run.run_id)) for run in runs)
    events = len(ledger.events(limit=100_000))
    after_runs_policy = time.time() + 91 * DAY  # past runs (90d) and events (30d), within audit (400d)
    dry = prune(workspace.project, ledger, dry_run=True, now=after_runs_policy)
    assert dry.removed["runs"] == 2 and dry.removed["steps"] == steps and dry.removed["events"] == events
    assert len(ledger.list_runs()) == 2  # a dry run removes nothing
    done = prune(workspace.project, ledger, now=after_runs_policy)
    assert done.removed == dry.removed
    assert ledger.list_runs() == [] and ledger.events(limit=10) == []
    assert ledger.lineage_into("daily_sales") == []
    assert [entry.action for entry in ledger.audit_entries()] == ["run", "run"]  # the audit trail outlives runs
    assert ledger.verify_audit().intact


def test_prune_reports_what_it_removed_and_is_audited(project: Path) -> None:
    two_runs(project).close()
    write(project / "flowdeck.yaml", (project / "flowdeck.yaml").read_text()
          + "\nretention:\n  runs: 0s\n  events: 0s\n  file_records: 0s\n  audit: 1d\n")
    dry = cli(project, "prune", "--dry-run", check=0)
    assert dry.stdout.startswith("would remove 2 runs,")
    done = cli(project, "prune", check=0)
    assert done.stdout.startswith("removed 2 runs,")
    entry = Workspace.open(project).audit_entries(action="prune")[0]
    assert entry.outcome == "ok" and entry.details["runs"] == 2


def test_temporary_folders_of_dead_runs_are_swept(project: Path) -> None:
    workspace = two_runs(project)
    stale = workspace.project.temp_dir / "run-20260101-000000-abcdef"
    (stale / "spill").mkdir(parents=True)
    report = workspace.prune()
    assert report.removed["temp_dirs"] == 1 and not stale.exists()


def test_audit_must_be_kept_at_least_as_long_as_runs(project: Path) -> None:
    write(project / "flowdeck.yaml", (project / "flowdeck.yaml").read_text() + "\nretention:\n  runs: 400d\n  audit: 90d\n")
    with pytest.raises(ConfigError, match="audit entries are kept longest"):
        Project.load(project)


def test_only_admins_prune(project: Path) -> None:
    write(project / "flowdeck.yaml", (project / "flowdeck.yaml").read_text()
          + "\nroles:\n  admins: [nobody-here]\n  default: operator\n")
    assert "pruning the ledger" in cli(project, "prune", check=3).stderr


def test_pruned_runs_take_the_fingerprint_versions_nothing_else_has_with_them(project: Path) -> None:
    """step_versions grows by one row per new fingerprint (a changed parameter is one): runs pruned, the
    versions only they had go too; those of the published tables stay, so the next plan still explains itself."""
    workspace = Workspace.open(project)
    try:
        for since in ("2026-01-01", "2026-02-01"):  # two fingerprints for the steps that read the parameter
            record, _ = workspace.submit("daily_sales", {"since": since})
            assert workspace.execute(record.run_id) == "succeeded"
        ledger = workspace.ledger
        before = {row["fingerprint"] for row in ledger_rows(project, "SELECT fingerprint FROM step_versions")}
        current = {row["fingerprint"] for row in ledger_rows(
            project, "SELECT fingerprint FROM commits WHERE fingerprint IS NOT NULL")}
        assert current and before - current  # some versions are only the first run's
        prune(workspace.project, ledger, now=time.time() + 91 * DAY)
        after = {row["fingerprint"] for row in ledger_rows(project, "SELECT fingerprint FROM step_versions")}
        assert after == before & current
        plan = json.loads(cli(project, "plan", "daily_sales", "--param", "since=2026-02-01", "--json", check=0).stdout)
        published = {row["output"] for row in ledger_rows(project, "SELECT DISTINCT output FROM commits")}
        tables = [step for step in plan["steps"] if step["step"] in published]  # a table is named for its step
        assert tables and all(step["runs"] is False for step in tables), tables  # still known unchanged
    finally:
        workspace.close()
