"""The client API: the one small surface the CLI and the console use to talk to the engine.

A ``Workspace`` is a loaded project plus its ledger. It validates, queues, executes,
launches detached workers, cancels and reads runs; it never draws anything.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowdeck.engine.governance import roles
from flowdeck.engine.governance.audit import SOURCES, audited
from flowdeck.engine.alerts.rules import AlertEvaluator, DaemonHealth, evaluate_periodic
from flowdeck.engine.alerts.sender import DeliveryReport, Sender, send_test
from flowdeck.engine.backends.base import QueryResult, TableVersion
from flowdeck.engine.daemon import stand_in
from flowdeck.engine.daemon.lease import DaemonState, daemon_health, read_daemon_state
from flowdeck.engine.errors import FlowdeckError, Forbidden, NotFound, ParamError
from flowdeck.engine.masking import install_log_masking, mask
from flowdeck.engine.run import launch
from flowdeck.engine.run.liveness import reap_dead_runs
from flowdeck.engine.run.processes import process_identity
from flowdeck.engine.project.config.steps import ExtractStep, TransformStep
from flowdeck.engine.project.project import Project
from flowdeck.engine.governance.roles import Identity
from flowdeck.engine.run.trigger_keys import manual_key, resume_key
from flowdeck.engine.sql.render import identifier
from flowdeck.state import AlertRecord, AuditRecord, AuditVerification, Ledger, Notification, RunRecord, Silence
from flowdeck.state.records import CommitRecord

if TYPE_CHECKING:  # DuckDB and sqlglot load on first use, so opening a workspace (and the console) stays fast
    from flowdeck.engine.operations.assistant import PipelineAnswers
    from flowdeck.engine.backends.spark.lint import LintReport
    from flowdeck.engine.operations.backup import BackupReport
    from flowdeck.engine.connectors.health import ConnectionReport
    from flowdeck.engine.monitor.views import RunMetrics, StatsReport
    from flowdeck.engine.plan.describe import PipelineSummary
    from flowdeck.engine.plan.planner import Plan
    from flowdeck.engine.project.editing import SaveResult
    from flowdeck.engine.governance.retention import PruneReport
    from flowdeck.engine.backends.base import Backend
    from flowdeck.engine.run.executor import Observer, RunExecutor
    from flowdeck.engine.run.janitor import CleanupReport

RESUMABLE = ("failed", "abandoned", "canceled")


def current_user() -> str:
    """The OS user acting (recorded on runs and in the audit log); the real user, not $USER."""
    return Identity.current().user


class Workspace:
    """A project and its ledger, opened for one command or one console session.

    ``source`` says where actions come from (cli, console, daemon, http) for the audit log;
    ``identity`` is who acts (the process's OS user unless given) and decides the ``role``.
    """

    def __init__(self, project: Project, *, source: str = "cli", identity: Identity | None = None) -> None:
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}; one of {', '.join(SOURCES)}")
        self.project = project
        self.source = source
        self.identity = identity or Identity.current()
        self._ledger: Ledger | None = None
        self._ledger_opening = threading.Lock()  # the console's workers all reach for the ledger as it starts
        self.reaped: list[RunRecord] = []
        install_log_masking()

    @classmethod
    def open(cls, project_dir: str | os.PathLike[str] | None = None, *, source: str = "cli",
             identity: Identity | None = None) -> Workspace:
        """Find and load the project (``--project``, ``$FLOWDECK_PROJECT``, or upward from here)."""
        return cls(Project.load(project_dir), source=source, identity=identity)

    @property
    def ledger(self) -> Ledger:
        """The project's ledger, opened (and migrated) on first use; dead runs are reaped then.

        Every text it writes passes through the masker.
        """
        if self._ledger is None:
            with self._ledger_opening:  # one connection per workspace, however many threads ask first
                if self._ledger is None:
                    self.project.ensure_runtime_dirs()
                    self._ledger = Ledger(self.project.ledger_path, redact=mask,
                                          alert_hook=AlertEvaluator(self.project).on_transition)
                    self.reaped = self.reap_orphans()
        return self._ledger

    # -- who may do what -----------------------------------------------------------------------

    @property
    def user(self) -> str:
        """The OS user acting."""
        return self.identity.user

    @property
    def role(self) -> str:
        """viewer, operator or admin (see engine/roles.py); the console shows a read-only badge for viewers."""
        return roles.role_of(self.identity, self.project.config.roles)

    @property
    def read_only(self) -> bool:
        """Whether this user may change nothing (a viewer)."""
        return not roles.allows(self.role, "run")

    def can(self, action: str) -> bool:
        """Whether this user may do ``action`` (run, cancel, edit, secrets, ...); the console hides what it may not."""
        return roles.allows(self.role, action)

    def require(self, action: str, target: str | None = None) -> None:
        """Refuse ``action`` unless this user's role allows it, naming the role needed."""
        if self.can(action):
            return
        needed = roles.needed_role(action)
        on = f" ({target})" if target else ""
        raise Forbidden(
            f"{self.user} is {roles.with_article(self.role)} in this project; {roles.describe(action)}{on} "
            f"needs the {needed} role",
            hint=f"ask an admin to add you (or one of your groups, as @group) to roles.{needed}s in flowdeck.yaml",
        )

    def audit(self, action: str, target: str | None = None, *, outcome: str = "ok",
              details: dict[str, Any] | None = None) -> AuditRecord:
        """Append an audit entry for an action done through this workspace (schedule changes, rollbacks ...)."""
        return self.ledger.append_audit(actor=self.user, source=self.source, action=action, target=target,
                                        outcome=outcome, details=details)

    @contextmanager
    def _guarded(self, permission: str, action: str, target: str | None,
                 details: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Check the role and record the action in one step: ``denied``, ``failed`` or ``ok``."""
        with audited(self.ledger, actor=self.user, source=self.source, action=action, target=target,
                     details=details) as extra:
            self.require(permission, target)
            yield extra

    def record_login(self) -> AuditRecord:
        """Record that someone opened the console (the console calls this once at start)."""
        return self.audit("login", self.project.config.name, details={"role": self.role})

    def close(self) -> None:
        """Close the ledger."""
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    # -- pipelines -----------------------------------------------------------------------------

    def plan(self, pipeline: str) -> Plan:
        """Validate one pipeline (YAML, SQL, DAG)."""
        from flowdeck.engine.plan.planner import build_plan

        return build_plan(self.project, pipeline)

    def validate_all(self) -> dict[str, Plan | FlowdeckError]:
        """Validate every pipeline: each name with its plan, or with the error that makes it invalid."""
        results: dict[str, Plan | FlowdeckError] = {}
        for name in self.project.pipeline_names():
            try:
                results[name] = self.plan(name)
            except FlowdeckError as error:
                results[name] = error
        return results

    def pipeline_summaries(self, now: float | None = None) -> list[PipelineSummary]:
        """Every pipeline with its trigger, next scheduled time and last run; invalid ones included."""
        from flowdeck.engine.plan.describe import summarize_pipeline

        now = time.time() if now is None else now
        summaries: list[PipelineSummary] = []
        for name in self.project.pipeline_names():
            last_run = self.ledger.last_run_of(name)
            try:
                source = self.project.pipeline(name)
            except FlowdeckError as error:
                summaries.append(summarize_pipeline(name, None, error.what, last_run, now))
                continue
            summaries.append(summarize_pipeline(name, source, None, last_run, now))
        return summaries

    def pipeline_files(self, pipeline: str) -> list[Path]:
        """The files of a pipeline an operator may edit: pipeline.yaml, then its SQL files."""
        from flowdeck.engine.project.editing import editable_files

        folder = self.project.pipeline_folder(pipeline)
        if not folder.is_dir():
            from flowdeck.engine.project.project import did_you_mean

            raise NotFound(f"no pipeline named `{pipeline}` in {self.project.pipelines_dir}",
                           hint=did_you_mean(pipeline, self.project.pipeline_names())
                           or "create one with `flowdeck new pipeline`")
        return editable_files(folder)

    def check_file(self, path: Path, text: str) -> list[FlowdeckError]:
        """Problems in ``text`` as the new content of ``path`` (YAML config or step SQL), with positions."""
        from flowdeck.engine.project.editing import check_source

        return check_source(path, text)

    def save_file(self, path: Path, text: str, *, force: bool = False) -> SaveResult:
        """Save an edited pipeline file: refuse an invalid one unless forced, keep the old one in backups.

        The write itself is ``write_project_file`` (role check, audit entry, atomic replace).
        """
        from flowdeck.engine.project.editing import SaveResult, check_source, keep_backup, refusal

        path = Path(path).resolve()
        if self.project.pipelines_dir.resolve() not in path.parents:
            raise NotFound(f"{path} is not a file of a pipeline of this project",
                           hint=f"only files under {self.project.pipelines_dir} are saved from the editor")
        problems = check_source(path, text)
        if problems and not force:
            raise refusal(path, problems)
        backup = keep_backup(path, self.project.runtime_dir / "backups") if self.can("edit") else None
        self.write_project_file(str(path.relative_to(self.project.root)), text)
        return SaveResult(path=path, backup=backup, problems=len(problems))

    def published_tables(self, pipeline: str) -> list[str]:
        """Tables a pipeline publishes into the warehouse (its extract and transform outputs), in step order."""
        plan = self.plan(pipeline)
        return [plan.steps[name].output for name in plan.order if plan.steps[name].output]  # type: ignore[misc]

    def preview_table(self, table: str, *, limit: int = 200, wait: float = 30.0,
                      on_wait: Callable[[str], None] | None = None) -> QueryResult:
        """The first ``limit`` rows of a published table, waiting (and saying who holds it) while a run writes."""
        return self.query(f"SELECT * FROM {identifier(table)}", limit=limit, wait=wait, on_wait=on_wait)

    def lint_spark(self, pipeline: str) -> LintReport:
        """What the Spark lint refuses (and rewrites) in one pipeline, without running anything."""
        from flowdeck.engine.backends.spark.lint import lint_plan

        return lint_plan(self.project, self.plan(pipeline))

    # -- runs ----------------------------------------------------------------------------------

    def submit(
        self,
        pipeline: str,
        params: dict[str, str] | None = None,
        *,
        trigger_kind: str = "manual",
        trigger_key: str | None = None,
        options: dict[str, Any] | None = None,
        request_id: str | None = None,
        from_step: str | None = None,
        reprocess: bool = False,
    ) -> tuple[RunRecord, bool]:
        """Validate and queue a run; return it and whether it is new (a reused trigger key is not).

        ``request_id`` makes a manual request idempotent: asking again with the same id returns
        the run it started. ``from_step`` runs that step and everything downstream of it;
        ``reprocess`` makes incremental steps read all their input again and rebuild their tables.
        """
        from flowdeck.engine.sql.params import coerce_params

        with self._guarded("run", "run", pipeline, {"trigger": trigger_kind}) as details:
            _refuse_literal_params(params or {})
            plan = self.plan(pipeline)
            coerce_params(plan.source.config.params, params or {}, pipeline)  # bad input fails before queuing
            options = dict(options or {})
            if from_step is not None:
                options["from_step"] = self._step_of(plan, from_step)
            if reprocess:
                options["reprocess"] = True
            if request_id is not None:
                if not request_id.strip():
                    raise ParamError("--request-id must not be empty", hint="pass an id unique to this request")
                trigger_key = manual_key(pipeline, request_id.strip())
            engine = options.get("engine") or self.project.config.engine
            if engine == "spark":
                from flowdeck.engine.run.executor import check_spark_lint

                check_spark_lint(self.project, plan)  # refused constructs fail before queuing too
            record, created = self.ledger.create_run(
                pipeline,
                trigger_kind=trigger_kind,
                trigger_key=trigger_key,
                params=params or {},
                options=options,
                requested_by=self.user,
            )
            details.update(run_id=record.run_id, new=created)
        return record, created

    @staticmethod
    def _step_of(plan: Plan, name: str) -> str:
        if name in plan.steps:
            return name
        import difflib

        close = difflib.get_close_matches(name, list(plan.steps), n=1)
        raise NotFound(
            f"pipeline `{plan.name}` has no step `{name}`",
            hint=(f"did you mean `{close[0]}`? " if close else "") + f"its steps: {', '.join(plan.order)}",
        )

    def resume(self, run_ref: str) -> tuple[RunRecord, bool]:
        """Queue a run continuing a failed, abandoned or canceled one from its first unfinished step.

        The new run has the same pipeline, parameters and options, and ``parent_run_id`` set;
        steps the parent finished are reused, not run again. A run is resumed once: asking
        again returns the run that resumed it (``False``) while it is queued or running, and
        is refused once that run has finished (resume that one instead).
        """
        with self._guarded("resume", "resume", run_ref) as details:
            parent = self.resolve_run(run_ref)
            details["parent_run_id"] = parent.run_id
            record, created = self._resume(parent)
            details.update(run_id=record.run_id, new=created)
        return record, created

    def _resume(self, parent: RunRecord) -> tuple[RunRecord, bool]:
        existing = self.ledger.run_by_trigger_key(resume_key(parent.run_id))
        if existing is not None:
            if not existing.finished:
                return existing, False
            raise ParamError(
                f"run {parent.run_id} was already resumed by run {existing.run_id}, which {existing.status}",
                hint=f"resume that one instead: `flowdeck run --resume {existing.run_id}`"
                if existing.status in RESUMABLE else f"see it with `flowdeck show {existing.run_id}`",
            )
        if parent.status not in RESUMABLE:
            hint = (f"to run it again from a step: `flowdeck run {parent.pipeline} --from STEP`"
                    if parent.status == "succeeded" else f"wait for it to finish: `flowdeck logs {parent.run_id} -f`")
            raise ParamError(f"run {parent.run_id} {parent.status}; only a failed, abandoned or canceled run can be "
                             "resumed", hint=hint)
        self.plan(parent.pipeline)  # a pipeline broken since then fails here, before anything is queued
        options = {**parent.options, "resume_of": parent.run_id}
        return self.ledger.create_run(
            parent.pipeline,
            trigger_kind="resume",
            trigger_key=resume_key(parent.run_id),
            params=parent.params,
            options=options,
            requested_by=self.user,
            parent_run_id=parent.run_id,
        )

    def execute(self, run_id: str, observer: Observer | None = None, *, claimed: bool = False,
                executor: RunExecutor | None = None) -> str:
        """Claim a queued run and execute it in this process; return its final status.

        With ``claimed``, the run must already have been claimed for this process (the daemon
        claims for its workers, so the claim and the execution are one compare-and-set).
        No role check: whoever queued the run was checked then (a worker or the daemon runs it).
        """
        if claimed:
            run = self.ledger.get_run(run_id)
            if run is None or run.status != "running" or run.owner_pid != os.getpid():
                state = run.status if run else "missing"
                raise NotFound(f"run {run_id} was not claimed for this process (it is {state})")
        elif not self.ledger.claim_run(run_id, pid=os.getpid(), process_started=process_identity(os.getpid())):
            run = self.ledger.get_run(run_id)
            state = run.status if run else "missing"
            raise NotFound(f"run {run_id} cannot be started: it is {state}, not queued")
        run = self.ledger.get_run(run_id)
        assert run is not None
        from flowdeck.engine.run.executor import RunExecutor

        executor = executor or RunExecutor(self.project, self.ledger, observer=observer)
        status = executor.execute(run)
        self.flush_alerts(run_id)
        return status

    def launch_detached(self, run_id: str) -> int:
        """Start a worker process for a queued run that outlives this one; return its pid."""
        return launch.launch_detached(self.project, run_id)

    def hand_off(self, run_id: str) -> str:
        """Have a queued run executed in the background: by the daemon when one is running (it
        picks queued runs up), else by a detached worker. Return a sentence saying which."""
        return stand_in.hand_off(self.project, self.ledger, run_id)

    def daemon_state(self) -> DaemonState:
        """Whether the project's daemon is running, with its lease (pid, since, HTTP address, report)."""
        return read_daemon_state(self.ledger)

    def cancel(self, run_ref: str) -> RunRecord:
        """Cancel a queued run at once, or ask a running one to stop."""
        with self._guarded("cancel", "cancel", run_ref) as details:
            run = self.resolve_run(run_ref)
            details["run_id"] = run.run_id
            if run.finished:
                return run
            return self.ledger.request_cancel(run.run_id, requested_by=self.user)

    def resolve_run(self, ref: str) -> RunRecord:
        """A run from its id, a unique prefix of it, or ``last``."""
        if ref == "last":
            runs = self.ledger.list_runs(limit=1)
            if not runs:
                raise NotFound("there are no runs yet", hint="start one with `flowdeck run PIPELINE`")
            return runs[0]
        exact = self.ledger.get_run(ref)
        if exact is not None:
            return exact
        matches = self.ledger.find_runs(ref)
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise NotFound(f"no run with id {ref} in the ledger of this project ({self.project.root})",
                           hint="list runs with `flowdeck runs`, or `last` for the latest; is --project the right one?")
        raise NotFound(
            f"{ref} matches {len(matches)} runs: {', '.join(run.run_id for run in matches[:3])}",
            hint="give more of the run id",
        )

    def reap_orphans(self) -> list[RunRecord]:
        """Mark runs whose process died (or stopped heartbeating) as abandoned; return them."""
        assert self._ledger is not None
        return reap_dead_runs(self._ledger)

    def cleanup(self, on_wait: Callable[[str], None] | None = None) -> CleanupReport:
        """Abandon dead runs, reconcile the ledger from the warehouse's markers, and remove what
        dead runs left: staging tables, half-written export files, temporary files."""
        from flowdeck.engine.run import janitor
        from flowdeck.engine.run.reconcile import reconcile_ledger

        already_open = self._ledger is not None
        ledger = self.ledger  # opening it reaps
        abandoned = [*self.reaped, *(self.reap_orphans() if already_open else [])]
        report = janitor.CleanupReport(abandoned=sorted({run.run_id for run in abandoned}))
        with self._guarded("cleanup", "cleanup", self.project.config.name) as details:
            backend = self._writer(on_wait)
            try:
                recovered = reconcile_ledger(ledger, backend)
                report.reconciled = [f"{c.output}: {c.kind} by {c.step} of run {c.run_id} (commit {c.seq})"
                                     for c in recovered]
                live = janitor.live_run_ids(ledger)
                janitor.sweep_staging(backend, live, report)
                janitor.sweep_partials(self.project, self.project.pipeline_names(), live, report)
                janitor.sweep_temp(self.project, live, report)
            finally:
                backend.close()
            details.update({name: len(items) for name, items in report.to_json().items() if items})
        if report.removed_anything:
            ledger.log(None, "cleanup: " + ", ".join(f"{len(items)} {name.replace('_', ' ')}"
                                                     for name, items in report.to_json().items() if items),
                       kind="cleanup", payload=report.to_json())
        return report

    # -- table versions ----------------------------------------------------------------------------

    def versions(self, table: str, *, wait: float = 10.0, on_wait: Callable[[str], None] | None = None) -> list[TableVersion]:
        """The current version of a published table and the versions kept for rollback, newest first."""
        self.require("read")
        name = table.lower()
        backend = self._reader(wait, on_wait)
        try:
            found = backend.versions(name)
        finally:
            backend.close()
        if not found:
            raise NotFound(f"no table `{name}` in the warehouse", hint="list tables with `flowdeck query \"SHOW TABLES\"`")
        return found

    def rollback(self, table: str, to_run: str, *, on_wait: Callable[[str], None] | None = None) -> CommitRecord:
        """Make the kept version of ``table`` holding ``to_run``'s data current again; recorded in the ledger.

        ``to_run`` may be a unique prefix of the run id. The version replaced is kept in its
        place, so a rollback can itself be rolled back. Tables read by other steps are not
        rebuilt: rerun downstream steps with ``flowdeck run PIPELINE --from STEP``.
        """
        name = table.lower()
        with self._guarded("rollback", "rollback", name, {"to_run": to_run}) as details:
            record, current = self._rollback(name, to_run, on_wait)
            details.update(previous_run=current, commit=record.seq)
        return record

    def _rollback(self, name: str, to_run: str, on_wait: Callable[[str], None] | None) -> tuple[CommitRecord, str | None]:
        from flowdeck.engine.backends.base import CommitMarker
        from flowdeck.engine.run.reconcile import commit_record
        from flowdeck.state.ledger import new_run_id

        backend = self._writer(on_wait)
        try:
            versions = backend.versions(name)
            if not versions:
                raise NotFound(f"no table `{name}` in the warehouse",
                               hint="list tables with `flowdeck query \"SHOW TABLES\"`")
            matches = sorted({v.run_id for v in versions if v.run_id.startswith(to_run)})
            if len(matches) > 1:
                raise ParamError(f"{to_run} matches versions of {len(matches)} runs: {', '.join(matches)}",
                                 hint="give more of the run id")
            target = matches[0] if matches else to_run
            current = next((v.run_id for v in versions if v.current), None)
            user = self.user
            marker = CommitMarker(run_id=f"rollback-{new_run_id()}", step=self._step_publishing(name) or "rollback",
                                  output=name, rows=None, checksum="", kind="rollback", data_run_id=target,
                                  state={"requested_by": user})
            committed = backend.rollback(name, target, marker)
            record = commit_record(committed, backend.warehouse_id(), requested_by=user)
        finally:
            backend.close()
        self.ledger.record_rollback(record, previous_run=current)
        return record, current

    def _step_publishing(self, table: str) -> str | None:
        for name in self.project.pipeline_names():
            try:
                steps = self.project.pipeline(name).config.steps
            except FlowdeckError:
                continue
            for step in steps:
                if isinstance(step, (ExtractStep, TransformStep)) and (step.output or step.name).lower() == table:
                    return step.name
        return None

    def _writer(self, on_wait: Callable[[str], None] | None) -> Backend:
        if self.project.config.engine == "spark":
            return self._spark()

        def report(pid: int | None, waited: float) -> None:
            if on_wait is not None:
                on_wait(f"waiting for the warehouse, held by {self.describe_process(pid)} ({waited:.0f}s so far)")

        from flowdeck.engine.run.executor import open_duckdb_backend

        return open_duckdb_backend(self.project, report)

    def _reader(self, wait: float, on_wait: Callable[[str], None] | None) -> Backend:
        if self.project.config.engine == "spark":
            return self._spark()

        def report(pid: int | None, waited: float) -> None:
            if on_wait is not None:
                on_wait(f"the warehouse is busy: {self.describe_process(pid)} holds it; waiting ({waited:.0f}s)")

        from flowdeck.engine.backends.duckdb.backend import DuckDBBackend
        from flowdeck.engine.backends.duckdb.warehouse import open_warehouse

        return DuckDBBackend(open_warehouse(self.project, read_only=True, timeout=wait, on_wait=report), read_only=True)

    def _spark(self) -> Backend:
        """The Spark warehouse (with `engine: spark`: versions, rollback, cleanup and queries go there)."""
        from flowdeck.engine.backends.spark.backend import open_spark_backend

        return open_spark_backend(self.project)

    # -- monitoring ----------------------------------------------------------------------------

    def run_metrics(self, run_ref: str) -> RunMetrics:
        """A run with its steps' measures (rows in/out, bytes, throughput, live query progress) and
        the process's CPU, memory and I/O over time: what run detail screens and reports draw."""
        from flowdeck.engine.monitor.views import run_metrics

        return run_metrics(self.ledger, self.resolve_run(run_ref))

    def stats(self, pipeline: str | None = None, *, days: float | None = 30.0, recent: int = 50) -> StatsReport:
        """Run counts, duration trends, errors by kind and slowest steps (`flowdeck stats`, the dashboard)."""
        from flowdeck.engine.monitor.views import stats_report

        if pipeline is not None:
            self.project.pipeline(pipeline)  # an unknown name is bad input, not an empty report
        return stats_report(self.ledger, pipeline, days=days, recent=recent)

    # -- alerts --------------------------------------------------------------------------------

    def alerts(self, *, limit: int = 200, include_acknowledged: bool = True, status: str | None = None,
               pipeline: str | None = None) -> list[AlertRecord]:
        """Alerts, firing first then newest first (what `flowdeck alerts` and the console list)."""
        return self.ledger.alerts(status=status, limit=limit, include_acknowledged=include_acknowledged,
                                  pipeline=pipeline)

    def resolve_alert(self, ref: str) -> AlertRecord:
        """An alert from its fingerprint or a unique prefix of it."""
        exact = self.ledger.get_alert(ref)
        if exact is not None:
            return exact
        matches = self.ledger.find_alerts(ref)
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise NotFound(f"no alert with id {ref}", hint="list them with `flowdeck alerts`")
        raise NotFound(f"{ref} matches {len(matches)} alerts", hint="give more of the alert id")

    def acknowledge_alert(self, alert_id: str) -> bool:
        """Acknowledge a firing alert for the current user: no reminders until it resolves and fires
        again. ``False`` if it was already acknowledged (or is not firing)."""
        alert = self.resolve_alert(alert_id)
        with self._guarded("acknowledge", "alert.acknowledge", alert.fingerprint, {"rule": alert.rule}):
            return self.ledger.acknowledge_alert(alert.fingerprint, by=self.user)

    def silence(self, pipeline: str, seconds: float, comment: str | None = None) -> Silence:
        """No notifications about ``pipeline`` (``*``: every pipeline) for ``seconds``; alerts still change state."""
        if pipeline != "*":
            self.project.pipeline(pipeline)  # a typo must not silence nothing
        with self._guarded("acknowledge", "alert.silence", pipeline, {"seconds": seconds}):
            return self.ledger.add_silence(pipeline, seconds, by=self.user, comment=comment)

    def unsilence(self, pipeline: str) -> int:
        """End a pipeline's silences now; return how many were active."""
        with self._guarded("acknowledge", "alert.unsilence", pipeline):
            return self.ledger.end_silences(pipeline, by=self.user)

    def silences(self) -> list[Silence]:
        """The silences active now."""
        return self.ledger.silences()

    def notifications_of_run(self, run_id: str) -> list[Notification]:
        """The notifications a run raised (about alerts it fired or resolved), oldest first."""
        return self.ledger.notifications_of_run(run_id)

    def notifications(self, *, states: tuple[str, ...] = ("pending", "sending", "failed"),
                      limit: int = 100) -> list[Notification]:
        """Outbox notifications in some states (by default: not delivered yet), newest first."""
        return self.ledger.notifications(states=states, limit=limit)

    def retry_failed_notifications(self) -> int:
        """Queue every given-up notification again (after fixing its channel); return how many."""
        with self._guarded("acknowledge", "alert.retry_failed", None):
            return self.ledger.retry_failed_notifications()

    def evaluate_alerts(self, daemon: DaemonHealth | None = None) -> None:
        """Evaluate the conditions no transition announces (deadlines, stale data, the daemon's
        health) and enqueue the reminders due. Without ``daemon``, its health is read from its lease."""
        health = daemon if daemon is not None else daemon_health(self.daemon_state())
        evaluate_periodic(self.project, self.ledger, health)

    def deliver_notifications(self, *, ids: list[int] | None = None, channels: list[str] | None = None,
                              deadline: float | None = None) -> DeliveryReport:
        """Deliver the notifications due now (or just ``ids``, or those of ``channels``) from this
        process; return what happened. An open console delivers the ``console`` channel (its toasts)."""
        return Sender(self.project, self.ledger).deliver_due(ids=ids, channels=channels, deadline=deadline)

    def flush_alerts(self, run_id: str) -> DeliveryReport | None:
        """At the end of a run, with no daemon running (it has its own sender): deliver what this run
        raised, once each; the rest is the daemon's or `flowdeck alerts send`'s. Never raises."""
        return stand_in.deliver_after_run(self.project, self.ledger, run_id)

    def drop_notification(self, outbox_id: int) -> Notification:
        """Remove a notification not delivered yet from the outbox (operators; audited): a failed test,
        or a message the operator has decided not to send. Return it as it was."""
        with self._guarded("notify", "notification.drop", str(outbox_id)) as details:
            notification = self.ledger.drop_notification(outbox_id, by=self.user)
            if notification is None:
                raise NotFound(f"there is no notification {outbox_id} in the outbox",
                               hint="`flowdeck alerts` lists the notifications not delivered, with their numbers (#)")
            details.update(channel=notification.channel, kind=notification.kind, state=notification.state)
            if notification.state == "sending":
                raise ParamError(f"notification {outbox_id} is being sent right now; it cannot be dropped",
                                 hint="look again in a moment (`flowdeck alerts`)")
            if notification.state == "sent":
                raise ParamError(f"notification {outbox_id} was delivered; there is nothing to drop")
        return notification

    def test_channel(self, name: str) -> tuple[Notification, str | None]:
        """Send a test notification on one channel now (through the outbox); return it and the
        error if the channel did not take it."""
        from flowdeck.engine.alerts.channels import channel_named

        if channel_named(self.project, name) is None:
            known = ", ".join(sorted({*self.project.config.alerts.channels, "console"}))
            raise NotFound(f"no channel named `{name}` in alerts.channels of flowdeck.yaml", hint=f"known: {known}")
        self.require("notify", f"channel {name}")
        return send_test(self.project, self.ledger, name, by=self.user)

    # -- the warehouse -------------------------------------------------------------------------

    def query(self, sql: str, *, limit: int = 1000, wait: float = 10.0,
              on_wait: Callable[[str], None] | None = None) -> QueryResult:
        """Run a read-only query on the warehouse, waiting up to ``wait`` seconds for a writer.

        With `engine: spark` the query runs on Spark, over the outputs published there.
        """
        if self.project.config.engine == "spark":
            backend = self._spark()
            try:
                return backend.query(sql, limit=limit)
            finally:
                backend.close()

        def report(pid: int | None, waited: float) -> None:
            if on_wait is not None:
                on_wait(f"the warehouse is busy: {self.describe_process(pid)} holds it; waiting ({waited:.0f}s)")

        from flowdeck.engine.backends.duckdb.warehouse import open_warehouse

        connection = open_warehouse(self.project, read_only=True, timeout=wait, on_wait=report)
        try:
            return _read_only_query(connection, sql, limit)
        finally:
            connection.close()

    def backup(self, folder: Path, *, on_wait: Callable[[str], None] | None = None) -> BackupReport:
        """Copy the ledger, the warehouse and the secrets file into ``folder``, consistently, while runs go on."""

        def report(pid: int | None, waited: float) -> None:
            if on_wait is not None:
                on_wait(f"waiting for the warehouse, held by {self.describe_process(pid)} ({waited:.0f}s so far)")

        from flowdeck.engine.operations.backup import back_up

        with self._guarded("backup", "backup", str(folder)) as details:
            result = back_up(self.project, self.ledger, folder, report)
            details.update(files=sorted(result.files), runs=result.runs)
        return result

    def describe_process(self, pid: int | None) -> str:
        """Which run (if any) a process id belongs to, for "who holds the warehouse" messages."""
        for run in self.ledger.runs_in_status("running"):
            if run.owner_pid == pid:
                return f"run {run.run_id} of {run.pipeline} (pid {pid})"
        return f"process {pid}" if pid else "another process"

    # -- connections ---------------------------------------------------------------------------

    def connections(self) -> list[dict[str, Any]]:
        """The declared database connections: where they point (no password) and which steps use them."""
        from flowdeck.engine.connectors.connection import describe
        from flowdeck.engine.connectors.health import tables_used

        self.require("read")
        listed = []
        for name, config in sorted(self.project.config.connections.items()):
            uses = tables_used(self.project, name)
            listed.append({
                "name": name, "type": config.type, "where": describe(self.project, name),
                "sslmode": config.sslmode, "health_check": config.health_check,
                "used_by": [{"step": use.step, "access": use.access, "table": use.table} for use in uses],
            })
        return listed

    def test_connections(self, names: list[str] | None = None, *, tables: list[str] | None = None
                         ) -> list[ConnectionReport]:
        """Connect to each named connection (all when none) and probe the tables the pipelines use.

        Operators and admins only: it logs in with the connection's credentials.
        """
        from flowdeck.engine.connectors.connection import connection_config
        from flowdeck.engine.connectors.health import test_connection

        chosen = names or sorted(self.project.config.connections)
        for name in chosen:
            connection_config(self.project, name)  # an unknown name is bad input, before anything else
        with self._guarded("run", "connections.test", ",".join(chosen)) as details:
            reports = [test_connection(self.project, name, tables=tables) for name in chosen]
            details["failed"] = [report.name for report in reports if not report.ok]
        return reports

    # -- secrets -------------------------------------------------------------------------------

    def secret_names(self) -> list[str]:
        """Names of the secrets in the project's store (never their values)."""
        from flowdeck.engine.secrets import open_store

        self.require("read")
        return open_store(self.project).names()

    def secret_store_description(self) -> str:
        """Where the project's secrets are kept (for messages)."""
        from flowdeck.engine.secrets import open_store

        return open_store(self.project).where

    def set_secret(self, name: str, value: str) -> str:
        """Store a secret (admins); return where it went. The value is never logged or audited."""
        from flowdeck.engine.masking import register_secret
        from flowdeck.engine.secrets import SecretsError, open_store
        from flowdeck.engine.secrets.store import check_name

        with self._guarded("secrets", "secret.set", name) as details:
            check_name(name)
            if not value:
                raise SecretsError(f"refusing to store an empty value for `{name}`")
            register_secret(value)
            store = open_store(self.project)
            store.set(name, value)
            details["store"] = store.where
        return store.where

    def delete_secret(self, name: str) -> bool:
        """Remove a secret (admins); ``False`` if there was none."""
        from flowdeck.engine.secrets import open_store

        with self._guarded("secrets", "secret.delete", name) as details:
            existed = open_store(self.project).delete(name)
            details["existed"] = existed
        return existed

    # -- editing -------------------------------------------------------------------------------

    def write_project_file(self, relative: str, text: str) -> Path:
        """Replace a file of the project (a pipeline.yaml, a .sql file, flowdeck.yaml) atomically (admins).

        The console's editor saves through this, so the role check and the audit entry hold
        for every edit. Paths outside the project are refused.
        """
        import hashlib

        with self._guarded("edit", "edit", relative) as details:
            path = (self.project.root / relative).resolve()
            if not path.is_relative_to(self.project.root) or path.is_relative_to(self.project.runtime_dir):
                raise Forbidden(f"{relative} is not a file of the project's configuration",
                                hint="edit files under the project folder, outside its runtime folder")
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
            try:
                partial.write_text(text, encoding="utf-8")
                os.replace(partial, path)
            finally:
                partial.unlink(missing_ok=True)
            details["sha256"] = hashlib.sha256(text.encode()).hexdigest()
            self.project.forget()
        return path

    def create_pipeline(self, answers: PipelineAnswers) -> list[Path]:
        """Write the pipeline the assistant's answers describe, once the project's validation accepts it (admins).

        Nothing is written when any answer or the resulting files are invalid; each file goes
        through ``write_project_file`` (role check, audit entry, atomic replace).
        """
        from flowdeck.engine.operations.assistant import draft_pipeline

        self.require("edit", f"pipelines/{answers.name}")
        draft = draft_pipeline(self.project, answers)
        written = [self.write_project_file(relative, text) for relative, text in draft.files.items()]
        self.project.forget()
        return written

    # -- audit, lineage, retention -------------------------------------------------------------

    def audit_entries(self, *, limit: int = 100, action: str | None = None, actor: str | None = None) -> list[AuditRecord]:
        """The audit log, newest first (operators and admins)."""
        self.require("audit")
        return self.ledger.audit_entries(limit=limit, action=action, actor=actor)

    def verify_audit(self) -> AuditVerification:
        """Check the audit log's hash chain (operators and admins)."""
        self.require("audit")
        return self.ledger.verify_audit()

    def lineage(self, target: str) -> Any:
        """Upstream and downstream of ``TABLE`` or ``TABLE.COLUMN`` (a ``LineageReport``)."""
        from flowdeck.engine.governance.lineage import ProjectLineage

        table, _, column = target.lower().partition(".")
        catalog = ProjectLineage(self.project, self.ledger, self._warehouse_schemas())
        return catalog.column_report(table, column) if column else catalog.table_report(table)

    def _warehouse_schemas(self) -> dict[str, list[str]]:
        """Columns of every table in the warehouse; empty when it does not exist or stays busy."""
        from flowdeck.engine.backends.duckdb.warehouse import open_warehouse

        try:
            connection = open_warehouse(self.project, read_only=True, timeout=2.0)
        except FlowdeckError:
            return {}
        try:
            rows = connection.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_catalog = current_database() AND table_schema = 'main' "
                "ORDER BY table_name, ordinal_position"
            ).fetchall()
        finally:
            connection.close()
        schemas: dict[str, list[str]] = {}
        for table, column in rows:
            schemas.setdefault(str(table).lower(), []).append(str(column))
        return schemas

    def prune(self, *, dry_run: bool = False) -> PruneReport:
        """Apply the retention policies (admins; the daemon applies them daily as configured). A dry run
        only counts what would go, so any role may ask for one."""
        from flowdeck.engine.governance.retention import prune

        if self.source == "daemon":  # the configured policy, applied on schedule: no person to check
            report = prune(self.project, self.ledger, dry_run=dry_run)
            if not dry_run:
                self.audit("prune", self.project.config.name, details=report.removed)
            return report
        if dry_run:
            self.require("read")  # it changes nothing
            return prune(self.project, self.ledger, dry_run=True)
        with self._guarded("prune", "prune", self.project.config.name) as details:
            report = prune(self.project, self.ledger)
            details.update(report.removed)
        return report


def _refuse_literal_params(params: dict[str, str]) -> None:
    """Run parameters are stored in the ledger as given: a credential must come as a reference."""
    from flowdeck.engine.errors import ParamError
    from flowdeck.engine.secrets.literals import literal_param_problem

    for name, value in params.items():
        problem = literal_param_problem(name, str(value))
        if problem:
            raise ParamError(f"--param {name}: {problem.replace('in YAML', 'in run parameters')}",
                             hint=f"store it with `flowdeck secrets set NAME` and pass --param '{name}=${{secret:NAME}}'")


def _read_only_query(cursor: Any, sql: str, limit: int) -> QueryResult:
    import duckdb

    from flowdeck.engine.errors import SqlError

    try:
        result = cursor.execute(sql)
        columns = [column[0] for column in result.description or []]
        rows = result.fetchmany(limit + 1) if result.description else []
    except duckdb.Error as error:
        text = str(error).strip().splitlines()[0]
        if "read-only mode" in text:
            raise SqlError("`flowdeck query` only reads; this statement would change the warehouse",
                           hint="change tables through pipelines") from None
        raise SqlError(f"the query failed: {text}") from None
    return QueryResult(columns=columns, rows=rows[:limit], truncated=len(rows) > limit)
