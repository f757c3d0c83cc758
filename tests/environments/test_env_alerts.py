"""Alerts and metrics carry the environment: a rule watches prod only unless it names others, so a
failing dev run raises nothing by default (real CLI runs, a real ledger)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "alerts"))

from alertkit import flowdeck, make_failing, make_healthy, make_project  # noqa: E402

from flowdeck.engine.daemon.metrics import LedgerCollector  # noqa: E402
from flowdeck.engine.workspace import Workspace  # noqa: E402


def alerts_of(root: Path) -> list[tuple[str, str, dict[str, str]]]:
    ws = Workspace.open(root)
    try:
        return [(alert.rule, alert.status, dict(alert.labels)) for alert in ws.alerts()]
    finally:
        ws.close()


def test_a_failing_dev_run_raises_no_alert_by_default(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", "")
    assert flowdeck(root, "run", "orders").returncode == 0
    make_failing(root)
    failed = flowdeck(root, "run", "orders", "--env", "dev")
    assert failed.returncode == 1, failed
    assert alerts_of(root) == []
    # the same failure in prod alerts, as always
    assert flowdeck(root, "run", "orders").returncode == 1
    assert [(rule, status) for rule, status, _ in alerts_of(root)] == [("run_failed", "firing")]


def test_a_rule_naming_an_environment_alerts_for_it_apart_from_prod(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", """
        alerts:
          rules:
            run_failed:
              environments: [prod, dev]
        """)
    assert flowdeck(root, "run", "orders").returncode == 0
    make_failing(root)
    assert flowdeck(root, "run", "orders", "--env", "dev").returncode == 1
    [(rule, status, labels)] = alerts_of(root)
    assert (rule, status) == ("run_failed", "firing") and labels["environment"] == "dev"
    assert flowdeck(root, "run", "orders").returncode == 1  # prod's failure is an alert of its own
    assert sorted(identity.get("environment", "prod") for _, _, identity in alerts_of(root)) == ["dev", "prod"]
    make_healthy(root)
    assert flowdeck(root, "run", "orders", "--env", "dev").returncode == 0  # resolves dev's, not prod's
    states = {identity.get("environment", "prod"): status for _, status, identity in alerts_of(root)}
    assert states == {"dev": "resolved", "prod": "firing"}


def test_the_metrics_count_runs_by_environment(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", "")
    assert flowdeck(root, "run", "orders").returncode == 0
    assert flowdeck(root, "run", "orders", "--env", "dev").returncode == 0
    make_failing(root)
    assert flowdeck(root, "run", "orders", "--env", "dev").returncode == 1
    ws = Workspace.open(root)
    try:
        families = {family.name: family for family in LedgerCollector(ws.ledger).collect()}
    finally:
        ws.close()
    samples = {(s.labels["environment"], s.labels["pipeline"], s.labels["status"]): s.value
               for s in families["flowdeck_environment_runs"].samples if s.name.endswith("_total")}
    assert samples == {("prod", "orders", "succeeded"): 1, ("dev", "orders", "succeeded"): 1,
                       ("dev", "orders", "failed"): 1}
