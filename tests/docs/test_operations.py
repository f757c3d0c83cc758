"""The operator guide's procedures work: backup and restore as documented, and a dashboard and rules that match /metrics."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO_ROOT, ledger_rows, run_flowdeck, warehouse_snapshot
from tests.daemon.daemonkit import Daemon
from tests.docs.conftest import PreparedProject
from tests.docs.markdown import section
from tests.docs.runner import Script, doc_env, failures, page_steps

OPERATIONS = REPO_ROOT / "docs" / "operations.md"
DASHBOARD = REPO_ROOT / "docs" / "grafana" / "flowdeck-dashboard.json"
RULES = REPO_ROOT / "docs" / "prometheus" / "flowdeck-rules.yml"
PROMETHEUS_OWN = {"up"}  # series Prometheus itself adds for every target


def run_blocks(blocks: list[Any], project: Path, tmp_path: Path, name: str) -> None:
    """Run documented blocks on the project, with /var/backups under the test's folder; fail with the doc's line."""
    backups = tmp_path / "var" / "backups"
    substitutions = [
        # "the backup to restore": the newest one there
        (r"(?m)^BACKUP=/var/backups/flowdeck/\S+", f"BACKUP=$(ls -td {backups}/flowdeck/*/ | head -n 1)"),
        (r"(?<![\w/])/var/backups\b", str(backups)),
    ]
    script = Script(page_steps(blocks), project, doc_env(tmp_path / "home"), substitutions)
    outcomes = script.run(tmp_path / name)
    problems = failures(outcomes)
    assert not problems, "\n\n".join(problems)
    assert script.finished and outcomes, f"the blocks did not run to the end (see {tmp_path / name})"


def state_of(project: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """What a restore must bring back: every run with its status, and every table with its rows."""
    runs = ledger_rows(project, "SELECT run_id, pipeline, status, error FROM runs ORDER BY run_id")
    return runs, warehouse_snapshot(project)


def test_the_documented_backup_and_restore_bring_back_the_same_runs_and_tables(
        example_with_history: PreparedProject, tmp_path: Path) -> None:
    project = example_with_history.root
    backup_block, restore_block = [block for block in section(OPERATIONS, "## Backup and restore")
                                   if block.language == "sh"]
    before = state_of(project)
    run_blocks([backup_block], project, tmp_path, "backup")
    # after the backup: more runs, different data, then the warehouse is lost
    assert run_flowdeck("run", "daily_sales", "--param", "since=2026-11-20", project=project).returncode == 0
    assert state_of(project) != before
    (project / ".flowdeck" / "warehouse.duckdb").unlink()
    run_blocks([restore_block], project, tmp_path, "restore")
    runs, tables = state_of(project)
    assert runs == before[0]
    assert tables == before[1]
    assert any(path.name.startswith(".flowdeck.replaced-") for path in project.iterdir()), "the old state was kept aside"


def promql_metrics(expression: str) -> set[str]:
    """The metric names a PromQL expression reads (label names, functions and keywords are not metric names)."""
    without_labels = re.sub(r"\{[^}]*\}", "", expression)
    without_groupings = re.sub(r"\b(by|without)\s*\([^)]*\)", "", without_labels)
    return set(re.findall(r"\b(?:flowdeck_[a-z0-9_]+|up)\b(?!\s*\()", without_groupings))


def exported_names(exposition: str) -> set[str]:
    """Every series name a Prometheus text exposition can hold, from its TYPE lines (histogram and counter suffixes too)."""
    names: set[str] = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", exposition, re.M):
        names.add(name)
        if kind == "counter":
            names |= {name + "_total", name.removesuffix("_total") + "_total", name + "_created"}
        elif kind == "histogram":
            names |= {name + suffix for suffix in ("_bucket", "_sum", "_count", "_created")}
    return names


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    expressions += [variable["definition"] for variable in dashboard["templating"]["list"]]
    return expressions


def test_the_dashboard_and_the_rules_use_only_metrics_the_daemon_exports(example_with_history: PreparedProject) -> None:
    project = example_with_history.root
    config = project / "flowdeck.yaml"
    config.write_text(config.read_text() + "\ndaemon:\n  http: {port: 0}\n")
    daemon = Daemon(project)
    try:
        address = daemon.address()
        with urllib.request.urlopen(f"{address}/metrics", timeout=30) as response:
            exposition = response.read().decode()
    finally:
        daemon.terminate()
    exported = exported_names(exposition)
    assert "flowdeck_runs_total" in exported and "flowdeck_run_duration_seconds_bucket" in exported

    used_by_dashboard = set().union(*(promql_metrics(expression) for expression in dashboard_expressions()))
    rules = [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    used_by_rules = set().union(*(promql_metrics(rule["expr"]) for rule in rules))
    assert len(used_by_dashboard) >= 10 and len(used_by_rules) >= 6
    assert used_by_dashboard <= exported, f"not exported by /metrics: {sorted(used_by_dashboard - exported)}"
    assert used_by_rules - PROMETHEUS_OWN <= exported, f"not exported: {sorted(used_by_rules - PROMETHEUS_OWN - exported)}"
    for rule in rules:
        assert rule["alert"].startswith("Flowdeck") and rule["labels"]["severity"] in ("critical", "warning")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_the_dashboard_is_importable_into_grafana() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    assert [entry["pluginId"] for entry in dashboard["__inputs"]] == ["prometheus"]
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}" and panel["targets"], panel["title"]
        position = panel["gridPos"]
        assert position["x"] + position["w"] <= 24, panel["title"]
