"""The built-in alert rules: which ledger transitions raise or resolve which alerts, and the
periodic evaluation of conditions no transition announces (deadlines, stale data, the daemon).

``AlertEvaluator.on_transition`` is installed as the ledger's alert hook, so it runs inside the
transaction of the run, check or schedule transition it reacts to: the alert, and the outbox
rows its routes call for, commit with that transition or not at all.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from flowdeck.engine.alerts.routing import deliveries_for
from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.project.config.alerts import PipelineAlerts, Rule, SlowRunRule, StaleRule
from flowdeck.engine.project.project import PROD, Project
from flowdeck.engine.units import format_duration
from flowdeck.state import AlertBook, AlertSignal, Ledger, RunRecord, Transition
from flowdeck.state.status import RunStatus, StepStatus

DEFAULT_SEVERITY: dict[str, str] = {
    "run_failed": "critical",
    "run_abandoned": "critical",
    "check_failed": "critical",
    "check_warned": "warning",
    "run_slow": "warning",
    "schedule_missed": "warning",
    "data_stale": "warning",
    "daemon_unhealthy": "critical",
}
RULE_NAMES = tuple(DEFAULT_SEVERITY)


@dataclass(frozen=True)
class DaemonHealth:
    """What the periodic evaluation knows about the daemon: healthy, or why not."""

    unhealthy_for: float | None  # seconds it has been unhealthy; None when healthy or not expected to run
    reasons: tuple[str, ...] = ()


class AlertEvaluator:
    """The rules of one project, evaluated on ledger transitions and periodically."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.config = project.config.alerts

    # -- configuration -------------------------------------------------------------------------

    def _pipeline_alerts(self, pipeline: str | None) -> PipelineAlerts:
        if pipeline is None:
            return PipelineAlerts()
        try:
            return self.project.pipeline(pipeline).config.alerts
        except FlowdeckError:  # an invalid pipeline.yaml must not keep its failures from alerting
            return PipelineAlerts()

    def rule(self, name: str, pipeline: str | None = None) -> Rule | None:
        """The settings of a rule for a pipeline (flowdeck.yaml's, overridden by pipeline.yaml's); None when off."""
        base: Rule = getattr(self.config.rules, name)
        override: Rule | None = getattr(self._pipeline_alerts(pipeline), name, None)
        if override is not None:
            base = base.model_copy(update=override.model_dump(exclude_unset=True))
        return base if base.enabled else None

    def signal(self, name: str, rule: Rule, pipeline: str | None, summary: str, *, run_id: str | None = None,
               annotations: dict[str, Any] | None = None, **identity: str) -> AlertSignal:
        """An alert of rule ``name``, with its labels and the channels its routes pick."""
        severity = rule.severity or DEFAULT_SEVERITY[name]
        ident = {"pipeline": pipeline, **identity} if pipeline else dict(identity)
        labels = {**self._pipeline_alerts(pipeline).labels, **rule.labels}
        routed = {**labels, **ident, "severity": severity, "rule": name}
        return AlertSignal(rule=name, severity=severity, identity=ident, labels=labels, summary=summary,
                           annotations={k: v for k, v in (annotations or {}).items() if v is not None},
                           run_id=run_id, deliveries=deliveries_for(self.config, routed))

    def _resolve(self, book: AlertBook, name: str, pipeline: str | None, reason: str, *, run_id: str | None = None,
                 **identity: str) -> None:
        rule = self.rule(name, pipeline) or getattr(self.config.rules, name)
        signal = self.signal(name, rule, pipeline, "", annotations=None, **identity)
        book.resolve(signal.fingerprint, reason=reason, run_id=run_id, deliveries=signal.deliveries)

    # -- transitions (inside the ledger transaction) -------------------------------------------

    def on_transition(self, book: AlertBook, transition: Transition) -> None:
        """The ledger's alert hook."""
        if transition.kind == "run.finished" and transition.run is not None:
            self._run_finished(book, transition.run)
        elif transition.kind == "check.recorded" and transition.check is not None:
            check = transition.check
            run = book.run(check.run_id)
            if run is not None:
                self._check_recorded(book, run, check.step, check.check_name, check.status, check.failing_rows,
                                     check.message)
        elif transition.kind == "tick.recorded" and transition.tick is not None:
            tick = transition.tick
            if tick.status in ("missed", "failed"):
                rule = self.rule("schedule_missed", tick.pipeline)
                if rule is not None:
                    slot = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(tick.slot))
                    why = "was missed" if tick.status == "missed" else "could not run"
                    book.fire(self.signal("schedule_missed", rule, tick.pipeline,
                                          f"scheduled run of {tick.pipeline} at {slot} {why}",
                                          annotations={"slot": slot, "reason": tick.reason}))
            elif tick.status == "submitted":
                self._resolve(book, "schedule_missed", tick.pipeline, "a later slot was submitted", run_id=tick.run_id)

    def run_rule(self, name: str, run: RunRecord) -> Rule | None:
        """The settings of a rule for a run's pipeline, None when off or when the rule does not watch the run's
        environment (by default a rule watches prod only)."""
        rule = self.rule(name, run.pipeline)
        return rule if rule is not None and run.environment in rule.environments else None

    @staticmethod
    def _where(run: RunRecord) -> dict[str, str]:
        """What tells a development environment's alert from prod's (prod's alerts keep their identity)."""
        return {} if run.environment == PROD else {"environment": run.environment}

    def _run_finished(self, book: AlertBook, run: RunRecord) -> None:
        pipeline = run.pipeline
        where = self._where(run)
        if run.status == RunStatus.FAILED:
            rule = self.run_rule("run_failed", run)
            if rule is not None:
                failed = [step for step in book.steps_of(run.run_id) if step.status == StepStatus.FAILED]
                step = failed[0] if failed else None
                error = (step.error if step and step.error else run.error) or "no error recorded"
                at = f" at step {step.step}" if step else ""
                signal = self.signal("run_failed", rule, pipeline, f"run of {pipeline}{_in(run)} failed{at}",
                                     run_id=run.run_id, annotations={"run_id": run.run_id,
                                                                     "step": step.step if step else None,
                                                                     "error": error}, **where)
                book.fire(signal, inhibited_by=self._inhibitor(book, "run_failed", pipeline, run.run_id))
        elif run.status == RunStatus.ABANDONED:
            rule = self.run_rule("run_abandoned", run)
            if rule is not None:
                book.fire(self.signal("run_abandoned", rule, pipeline, f"run of {pipeline}{_in(run)} was abandoned",
                                      run_id=run.run_id, annotations={"run_id": run.run_id, "error": run.error},
                                      **where))
        elif run.status == RunStatus.SUCCEEDED:
            for name in ("run_failed", "run_abandoned") + (("data_stale",) if not where else ()):
                self._resolve(book, name, pipeline, f"run {run.run_id} succeeded", run_id=run.run_id, **where)
        if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED) and run.started_at and run.ended_at:
            self._judge_speed(book, run, run.ended_at - run.started_at, finished=True)

    def _inhibitor(self, book: AlertBook, rule: str, pipeline: str | None, run_id: str | None) -> str | None:
        """Why an alert is not to be told while another one is (Alertmanager's inhibition): a run that
        failed because a blocking check failed is told as that check, not twice."""
        if rule != "run_failed" or pipeline is None:
            return None
        checks = [alert for alert in book.firing(pipeline=pipeline, rule="check_failed") if alert.run_id == run_id]
        return f"{checks[0].summary} (the run failed because of it)" if checks else None

    def _check_recorded(self, book: AlertBook, run: RunRecord, step: str, check: str, status: str, failing: int,
                        message: str | None) -> None:
        if status == "passed":
            for name in ("check_failed", "check_warned"):
                self._resolve(book, name, run.pipeline, f"check passed in run {run.run_id}", run_id=run.run_id,
                              step=step, check=check, **self._where(run))
            return
        name = "check_failed" if status == "failed" else "check_warned"
        rule = self.run_rule(name, run)
        if rule is None:
            return
        verb = "failed" if status == "failed" else "found rows"
        book.fire(self.signal(name, rule, run.pipeline, f"check {check} on {run.pipeline}.{step}{_in(run)} {verb}",
                              run_id=run.run_id, step=step, check=check, **self._where(run),
                              annotations={"run_id": run.run_id, "step": step, "check": check,
                                           "failing_rows": failing, "error": message}))

    def _judge_speed(self, book: AlertBook, run: RunRecord, seconds: float, *, finished: bool) -> None:
        """Fire ``run_slow`` for a run slower than usual or past its deadline; a normal successful run resolves it."""
        rule = self.run_rule("run_slow", run)
        if not isinstance(rule, SlowRunRule):
            return
        reasons: list[str] = []
        usual: float | None = None
        history = book.durations(run.pipeline, limit=rule.history, before=run.ended_at or book.now)
        if len(history) >= rule.min_runs:
            usual = statistics.median(history)
            if seconds > rule.factor * usual and seconds >= rule.min_duration.total_seconds():
                reasons.append(f"{format_duration(seconds)} is more than {rule.factor:g}x "
                               f"the usual {format_duration(usual)}")
        if rule.deadline is not None and seconds > rule.deadline.total_seconds():
            deadline = format_duration(rule.deadline.total_seconds())
            reasons.append(f"{format_duration(seconds)} is past the deadline of {deadline}")
        if reasons:
            doing = "took" if finished else "has been running for"
            book.fire(self.signal("run_slow", rule, run.pipeline,
                                  f"run of {run.pipeline}{_in(run)} {doing} {format_duration(seconds)}",
                                  run_id=run.run_id, **self._where(run),
                                  annotations={"run_id": run.run_id, "seconds": round(seconds, 3),
                                               "usual_seconds": round(usual, 3) if usual else None,
                                               "description": "; ".join(reasons)}),
                      occurrence=finished)
        elif finished and run.status == RunStatus.SUCCEEDED:
            self._resolve(book, "run_slow", run.pipeline, f"run {run.run_id} took a usual time", run_id=run.run_id,
                          **self._where(run))

    # -- periodic evaluation -------------------------------------------------------------------

    def evaluate(self, book: AlertBook, daemon: DaemonHealth | None = None) -> None:
        """Conditions no transition announces: runs past their deadline, stale data, the daemon's
        health; then the reminders due for alerts still firing."""
        for run in book.runs_in_status(RunStatus.RUNNING):
            if run.started_at:
                self._judge_speed(book, run, book.now - run.started_at, finished=False)
        for pipeline in self.project.pipeline_names():
            self._judge_staleness(book, pipeline)
        if daemon is not None:
            self._judge_daemon(book, daemon)
        for alert in book.firing():
            if self._inhibitor(book, alert.rule, alert.pipeline, alert.run_id) is not None:
                continue
            routed = {**alert.labels, "severity": alert.severity, "rule": alert.rule}
            book.notify_due(alert.fingerprint, deliveries_for(self.config, routed))

    def _judge_staleness(self, book: AlertBook, pipeline: str) -> None:
        rule = self.rule("data_stale", pipeline)
        if not isinstance(rule, StaleRule) or rule.after is None:
            return
        last = book.last_success(pipeline)
        since = last or book.first_run_created(pipeline)
        if since is None:
            return  # never ran: nothing to call stale yet
        window = rule.after.total_seconds()
        age = book.now - since
        if age > window:
            what = (f"last successful run ended {format_duration(age)} ago" if last
                    else f"no successful run in {format_duration(age)}")
            book.fire(self.signal("data_stale", rule, pipeline, f"data of {pipeline} is stale: {what}",
                                  annotations={"description": f"the window is {format_duration(window)}",
                                               "last_success_age_seconds": round(age, 1)}),
                      occurrence=False)

    def _judge_daemon(self, book: AlertBook, daemon: DaemonHealth) -> None:
        rule = self.rule("daemon_unhealthy")
        if rule is None:
            return
        after = self.config.rules.daemon_unhealthy.after.total_seconds()
        if daemon.unhealthy_for is not None and daemon.unhealthy_for >= after:
            reasons = "; ".join(daemon.reasons) or "unknown reason"
            book.fire(self.signal("daemon_unhealthy", rule, None, f"the daemon is unhealthy: {reasons}",
                                  annotations={"description": reasons, "for_seconds": round(daemon.unhealthy_for)},
                                  component="daemon"),
                      occurrence=False)
        elif daemon.unhealthy_for is None:
            self._resolve(book, "daemon_unhealthy", None, "the daemon is healthy again", component="daemon")



def _in(run: RunRecord) -> str:
    """`` in environment dev`` for a development environment's run, nothing for prod's."""
    return "" if run.environment == PROD else f" in environment {run.environment}"


def evaluate_periodic(project: Project, ledger: Ledger, daemon: DaemonHealth) -> None:
    """Evaluate the conditions no transition announces (deadlines, stale data, the daemon's health)
    and enqueue the reminders due, in one ledger transaction."""
    rules = AlertEvaluator(project)
    ledger.evaluate_alerts(lambda book: rules.evaluate(book, daemon))
