"""Alerts derived from the ledger: failed or abandoned runs, and failed or warned checks.

This is the simple first version the console needs. Rules, routes and notification channels
come later behind the same ``Alert`` record and the ``Workspace.alerts`` /
``Workspace.acknowledge_alert`` methods, so the console does not change when they do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from state import Ledger, RunRecord

ALERTING_RUN_STATUSES = ("failed", "abandoned")
ALERTING_CHECK_STATUSES = ("failed", "warned")

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Alert:
    """Something an operator should look at, with a stable id to acknowledge it by."""

    alert_id: str
    kind: str  # run.failed, run.abandoned, check.failed, check.warned
    severity: Severity
    pipeline: str
    run_id: str
    title: str
    detail: str
    ts: float
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None

    @property
    def acknowledged(self) -> bool:
        """Whether someone has acknowledged it."""
        return self.acknowledged_at is not None


def run_alert_id(run_id: str) -> str:
    """The id of the alert a failed or abandoned run raises."""
    return f"run:{run_id}"


def check_alert_id(run_id: str, step: str, check_name: str) -> str:
    """The id of the alert a failed or warned check raises."""
    return f"check:{run_id}:{step}:{check_name}"


def derive_alerts(ledger: Ledger, *, limit: int = 200, include_acknowledged: bool = True) -> list[Alert]:
    """The newest alerts (at most ``limit``), newest first, with who acknowledged them."""
    alerts: list[Alert] = []
    runs: dict[str, RunRecord | None] = {}
    for status in ALERTING_RUN_STATUSES:
        for run in ledger.list_runs(status=status, limit=limit):
            runs[run.run_id] = run
            alerts.append(Alert(
                alert_id=run_alert_id(run.run_id),
                kind=f"run.{run.status}",
                severity="error",
                pipeline=run.pipeline,
                run_id=run.run_id,
                title=f"run of {run.pipeline} {run.status}",
                detail=(run.error or "").splitlines()[0] if run.error else "",
                ts=run.ended_at or run.created_at,
            ))
    for check in ledger.check_results(statuses=ALERTING_CHECK_STATUSES, limit=limit):
        if check.run_id not in runs:
            runs[check.run_id] = ledger.get_run(check.run_id)
        run = runs[check.run_id]
        alerts.append(Alert(
            alert_id=check_alert_id(check.run_id, check.step, check.check_name),
            kind=f"check.{check.status}",
            severity="error" if check.status == "failed" else "warning",
            pipeline=run.pipeline if run else "?",
            run_id=check.run_id,
            title=f"check {check.check_name} on {check.step} {check.status}",
            detail=check.message or f"{check.failing_rows:,} failing rows",
            ts=check.ts,
        ))
    alerts.sort(key=lambda alert: alert.ts, reverse=True)
    alerts = alerts[:limit]
    acknowledged = ledger.acknowledgements([alert.alert_id for alert in alerts])
    result: list[Alert] = []
    for alert in alerts:
        if alert.alert_id in acknowledged:
            if not include_acknowledged:
                continue
            by, at = acknowledged[alert.alert_id]
            alert = Alert(**{**alert.__dict__, "acknowledged_by": by, "acknowledged_at": at})
        result.append(alert)
    return result
