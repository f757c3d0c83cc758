"""The front door: the one surface the CLI and the console use to act on a project.

A ``Workspace`` is a loaded project plus its ledger, opened for one person (or the daemon) acting
from one place. Each method checks that person's role, records the action in the audit log, and
calls the one function of the package that does it: the run lifecycle (``engine.run``), planning,
the warehouse's tables, alerts, governance, operations. It holds no logic of its own and never
draws anything.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowdeck.engine.errors import DamagedFile, FlowdeckError, Forbidden, NotFound, restore_hint
from flowdeck.engine.governance import roles
from flowdeck.engine.governance.audit import SOURCES, audit_key, audited
from flowdeck.engine.governance.refusals import collect_refusals
from flowdeck.engine.governance.roles import Identity
from flowdeck.engine.masking import install_log_masking, mask
from flowdeck.engine.plan import planner
from flowdeck.engine.plan.planner import Plan, build_plan
from flowdeck.engine.project.project import PROD, Project
from flowdeck.engine.run import liveness
from flowdeck.state import AlertRecord, AuditRecord, AuditVerification, Ledger, LedgerError, Notification, RunRecord, Silence

# What the console's first screen does not use is imported by the methods that use it (runs, previews,
# alerts, backups, secrets, edits ...): the console's first paint does not wait for them (bench/README.md).
if TYPE_CHECKING:
    from flowdeck.engine.alerts.rules import DaemonHealth
    from flowdeck.engine.alerts.sender import DeliveryReport, QuietSender
    from flowdeck.engine.backends.base import QueryResult, TableVersion
    from flowdeck.engine.connectors.health import ConnectionReport
    from flowdeck.engine.daemon.lease import DaemonState
    from flowdeck.engine.governance.lineage import LineageReport
    from flowdeck.engine.governance.retention import PruneReport
    from flowdeck.engine.monitor.hints import Hint
    from flowdeck.engine.monitor.views import RunMetrics, StatsReport, StepDetail
    from flowdeck.engine.operations.assistant import PipelineAnswers
    from flowdeck.engine.operations.backup import BackupReport
    from flowdeck.engine.operations.dag_edit import DagSession
    from flowdeck.engine.plan.describe import PipelineSummary
    from flowdeck.engine.operations.sql_tests.definitions import SqlTestCase
    from flowdeck.engine.operations.sql_tests.runner import Collected, TestOutcome
    from flowdeck.engine.project.editing import SaveResult
    from flowdeck.engine.plan.columns import PipelineColumns
    from flowdeck.engine.run.backend_factory import LintReport
    from flowdeck.engine.run.env_diff import EnvDiff
    from flowdeck.engine.run.env_promote import PromoteReport
    from flowdeck.engine.run.executor import Observer, RunExecutor
    from flowdeck.engine.run.janitor import CleanupReport
    from flowdeck.engine.run.environments import EnvironmentSummary
    from flowdeck.engine.run.preview import RunPreview
    from flowdeck.engine.run.submit import PreparedRun, Submitted
    from flowdeck.state.records import CommitRecord

Say = Callable[[str], None]  # one sentence for the person waiting (who holds the warehouse)


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
        self._console_sender: QuietSender | None = None  # an open console's toasts (deliver_console_notifications)
        install_log_masking()

    @classmethod
    def open(cls, project_dir: str | os.PathLike[str] | None = None, *, source: str = "cli",
             identity: Identity | None = None) -> Workspace:
        """Find and load the project (``--project``, ``$FLOWDECK_PROJECT``, or upward from here)."""
        return cls(Project.load(project_dir), source=source, identity=identity)

    @property
    def ledger(self) -> Ledger:
        """The project's ledger, opened (and migrated) on first use, so commands that need none
        (validate) never open it. Every text it writes passes through the masker."""
        if self._ledger is None:
            from flowdeck.engine.alerts.rules import AlertEvaluator

            with self._ledger_opening:  # one connection per workspace, however many threads ask first
                if self._ledger is None:
                    self.project.ensure_runtime_dirs()
                    try:
                        self._ledger = Ledger(self.project.ledger_path, redact=mask,
                                              alert_hook=AlertEvaluator(self.project).on_transition, audit_key=audit_key())
                    except LedgerError as error:
                        if not error.damaged:
                            raise
                        raise DamagedFile(str(error), hint=restore_hint(self.project.runtime_dir)) from None
                    collect_refusals(self._ledger, self.project.runtime_dir)  # viewers' refusals, by the service user
        return self._ledger

    def _open_ledger(self) -> Ledger:
        """The ledger, for what needs it only sometimes (to say which run holds the warehouse)."""
        return self.ledger

    def close(self) -> None:
        """Close the ledger."""
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    # -- who may do what -----------------------------------------------------------------------

    @property
    def user(self) -> str:
        """The OS user acting."""
        return self.identity.user

    @property
    def role(self) -> str:
        """viewer, operator or admin (see governance/roles.py); the console shows a read-only badge for viewers."""
        return roles.role_of(self.identity, self.project.config.roles)

    @property
    def read_only(self) -> bool:
        """Whether this user may change nothing (a viewer)."""
        return not roles.allows(self.role, "run")

    def can(self, action: str) -> bool:
        """Whether this user may do ``action`` (run, cancel, edit, secrets, ...); the console hides what it may not."""
        return roles.allows(self.role, action, promote_role=self.project.config.environments.promote_role)

    def require(self, action: str, target: str | None = None) -> None:
        """Refuse ``action`` unless this user's role allows it, naming the role needed."""
        if self.can(action):
            return
        needed = roles.needed_role(action, promote_role=self.project.config.environments.promote_role)
        on = f" ({target})" if target else ""
        raise Forbidden(
            f"{self.user} is {roles.with_article(self.role)} in this project; {roles.describe(action)}{on} "
            f"needs the {needed} role",
            hint=f"ask an admin to add you (or one of your groups, as @group) to roles.{needed}s in flowdeck.yaml"
            if self.identity.role is None else f"its role is set where it is defined (daemon.http.tokens); "
            f"{needed} or above may do this",
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
            self.ledger.require_writable()  # its audit entry is written after the change: refuse before it
            yield extra

    def record_login(self) -> AuditRecord:
        """Record that someone opened the console (the console calls this once at start)."""
        return self.audit("login", self.project.config.name, details={"role": self.role})

    # -- pipelines -----------------------------------------------------------------------------

    def plan(self, pipeline: str) -> Plan:
        """Validate one pipeline (YAML, SQL, DAG)."""
        return build_plan(self.project, pipeline)

    def preview(self, pipeline: str, params: dict[str, str] | None = None, *, force: bool = False,
                engine: str | None = None, select: str | None = None, exclude: str | None = None,
                environment: str = PROD) -> RunPreview:
        """What a run of ``pipeline`` would do with each step and why (``flowdeck plan``); nothing runs.
        ``select``/``exclude`` narrow it to the steps a run with them would cover; ``environment``: a run there
        (what it would build, what it would read from prod)."""
        from flowdeck.engine.run.preview import preview_run

        return preview_run(self.project.in_environment(environment), self.ledger, pipeline, params, force=force,
                           engine=engine, select=select, exclude=exclude)

    def validate_all(self) -> dict[str, Plan | FlowdeckError]:
        """Validate every pipeline: each name with its plan, or with the error that makes it invalid."""
        return planner.validate_all(self.project)

    def check_columns(self, plan: Plan) -> PipelineColumns:
        """The columns of a valid pipeline's tables and the column references that do not exist (`validate`)."""
        from flowdeck.engine.steps.source_columns import check_columns

        return check_columns(self.project, plan)

    def pipeline_summaries(self, now: float | None = None) -> list[PipelineSummary]:
        """Every pipeline with its trigger, next scheduled time and last run; invalid ones included."""
        from flowdeck.engine.plan import describe

        return describe.pipeline_summaries(self.project, self.ledger, time.time() if now is None else now)

    def pipeline_files(self, pipeline: str) -> list[Path]:
        """The files of a pipeline an operator may edit: pipeline.yaml, then its SQL files."""
        from flowdeck.engine.project import editing

        return editing.pipeline_files(self.project, pipeline)

    def check_file(self, path: Path, text: str) -> list[FlowdeckError]:
        """Problems in ``text`` as the new content of ``path`` (YAML config or step SQL, its columns
        included), with positions."""
        from flowdeck.engine.steps.source_columns import check_edited_file

        return check_edited_file(self.project, path, text)

    def save_file(self, path: Path, text: str, *, force: bool = False) -> SaveResult:
        """Save an edited pipeline file: refuse an invalid one unless forced, keep the old one in backups.

        The write itself is ``write_project_file`` (role check, audit entry, atomic replace).
        """
        from flowdeck.engine.project import editing

        return editing.save_file(self.project, path, text, force=force, keep_backups=self.can("edit"),
                                 write=self.write_project_file)

    def published_tables(self, pipeline: str) -> list[str]:
        """Tables a pipeline publishes into the warehouse (its extract and transform outputs), in step order."""
        return build_plan(self.project, pipeline).published_tables()

    def preview_table(self, table: str, *, limit: int = 200, wait: float = 30.0, on_wait: Say | None = None,
                      engine: str | None = None) -> QueryResult:
        """The first ``limit`` rows of a published table, waiting (and saying who holds it) while a run writes,
        from the engine that published its current version (or ``engine``)."""
        from flowdeck.engine.run import published
        from flowdeck.engine.run.waiting import WarehouseWait

        return published.preview(self.project, table, limit=limit, wait=wait,
                                 on_wait=WarehouseWait(self._open_ledger, on_wait, reading=True),
                                 ledger=self.ledger, engine=engine)

    def sql_tests(self, pipelines: list[str] | None = None, *, select: str | None = None,
                  exclude: str | None = None) -> Collected:
        """The SQL unit tests of ``pipelines`` (default: every pipeline), only those of the steps the selection
        expressions ``select``/``exclude`` pick when given (`state:modified`: the steps a run with the default
        parameters would run), and the problems of the test files that could not be read (docs/sql-tests.md)."""
        from flowdeck.engine.operations.sql_tests.runner import collect_tests  # sqlglot: only for tests
        from flowdeck.engine.plan.changes import modified_steps, plan_changes

        def modified(plan: Plan) -> set[str]:
            from flowdeck.engine.sql.params import coerce_params

            params = coerce_params(plan.source.config.params, {}, plan.name)
            return modified_steps(plan_changes(self.project, self.ledger, plan, params))

        return collect_tests(self.project, self.project.pipeline_names() if pipelines is None else pipelines,
                             select=select, exclude=exclude, modified=modified)

    def run_sql_tests(self, cases: list[SqlTestCase], *, engines: tuple[str, ...] = ("duckdb",),
                      on_start: Say | None = None) -> Iterator[TestOutcome]:
        """Run SQL unit tests in engines of their own (never the warehouse), each outcome as it completes."""
        from flowdeck.engine.operations.sql_tests.runner import run_tests

        self.require("read")
        return run_tests(self.project, cases, engines=engines, on_start=on_start)

    def generate_sql_test(self, pipeline: str, step: str, *, force: bool = False) -> Path:
        """Write a starting SQL unit test of ``step`` from a sample of its published inputs (read-only) and the
        rows its SQL gives on them; an existing test file is replaced only when ``force``."""
        from flowdeck.engine.operations.sql_tests.generate import generate_test, generated_test_path

        plan = build_plan(self.project, pipeline)
        path = generated_test_path(plan, step)
        if path.exists() and not force:
            raise FlowdeckError(f"{path} exists; flowdeck does not overwrite a test",
                                hint="pass --force to replace it, or move it aside")
        text = generate_test(self.project, plan, step)
        return self.write_project_file(str(path.relative_to(self.project.root)), text)

    def lint_spark(self, pipeline: str) -> LintReport:
        """What the Spark lint refuses (and rewrites) in one pipeline, without running anything."""
        from flowdeck.engine.run.backend_factory import spark_lint

        return spark_lint(self.project, build_plan(self.project, pipeline))

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
        select: str | None = None,
        exclude: str | None = None,
        here: bool = False,
        environment: str = PROD,
    ) -> Submitted:
        """Validate and queue a run; return it, whether it is new (a reused trigger key is not), and
        what was prepared for it (``run, created = workspace.submit(...)``).

        ``environment`` is where it writes: prod's warehouse, or a development environment's
        (docs/environments.md; the name is checked before it becomes a path).

        ``request_id`` makes a manual request idempotent: asking again with the same id returns
        the run it started. ``select`` and ``exclude`` are selection expressions
        (engine/plan/selection.py: ``orders_clean+``, ``tag:daily``, ...) naming the steps it runs;
        ``from_step`` runs that step and everything downstream of it (``select="STEP+"``);
        ``reprocess`` makes incremental steps read all their input again and rebuild their tables.
        Hand ``prepared`` to ``execute`` to run it here without planning it again. With ``here`` the
        run is created claimed for this process (``execute(..., claimed=True)`` next), so a daemon
        polling for queued runs can never take it first.
        """
        from flowdeck.engine.run.submit import submit_run

        project = self.project.in_environment(environment)
        with self._guarded("run", "run", pipeline, {"trigger": trigger_kind, "environment": environment}) as details:
            submitted = submit_run(project, self.ledger, pipeline, params, requested_by=self.user,
                                   trigger_kind=trigger_kind, trigger_key=trigger_key, options=options,
                                   request_id=request_id, from_step=from_step, reprocess=reprocess,
                                   select=select, exclude=exclude, here=here)
            details.update(run_id=submitted.record.run_id, new=submitted.created)
        return submitted

    def resume(self, run_ref: str, *, here: bool = False) -> Submitted:
        """Queue a run continuing a failed, abandoned or canceled one from its first unfinished step.

        The new run has the same pipeline, parameters and options, and ``parent_run_id`` set;
        steps the parent finished are reused, not run again. A run is resumed once: asking
        again returns the run that resumed it (``False``) while it is queued or running, and
        is refused once that run has finished (resume that one instead). ``here`` as for ``submit``.
        """
        from flowdeck.engine.run.submit import resume_run

        with self._guarded("resume", "resume", run_ref) as details:
            parent = self.resolve_run(run_ref)
            details["parent_run_id"] = parent.run_id
            submitted = resume_run(self.project, self.ledger, parent, requested_by=self.user, here=here)
            details.update(run_id=submitted.record.run_id, new=submitted.created)
        return submitted

    def execute(self, run_id: str, observer: Observer | None = None, *, claimed: bool = False,
                executor: RunExecutor | None = None, prepared: PreparedRun | None = None) -> str:
        """Claim a queued run and execute it in this process; return its final status.

        With ``claimed``, the run must already have been claimed for this process (the daemon
        claims for its workers, so the claim and the execution are one compare-and-set).
        ``prepared`` is what ``submit`` prepared in this process (else the run is planned here).
        No role check: whoever queued the run was checked then (a worker or the daemon runs it).
        At the end, with no daemon running, the alerts the run raised are delivered from here.
        """
        from flowdeck.engine.run.claim import claim
        from flowdeck.engine.run.executor import RunExecutor  # DuckDB: only for commands that run

        run = claim(self.ledger, run_id, already_claimed=claimed)
        status = (executor or RunExecutor(self.project, self.ledger, observer=observer)).execute(run, prepared)
        self.flush_alerts(run_id)
        self.flush_lineage()
        return status

    def launch_detached(self, run_id: str) -> int:
        """Start a worker process for a queued run that outlives this one; return its pid."""
        from flowdeck.engine.run import launch

        return launch.launch_detached(self.project, run_id)

    def hand_off(self, run_id: str) -> str:
        """Have a queued run executed in the background: by the daemon when one is running (it picks
        queued runs up), else by a detached worker. Return a sentence saying which."""
        from flowdeck.engine.daemon import stand_in

        return stand_in.hand_off(self.project, self.ledger, run_id)

    def daemon_state(self) -> DaemonState:
        """Whether the project's daemon is running, with its lease (pid, since, HTTP address, report)."""
        from flowdeck.engine.daemon.lease import read_daemon_state

        return read_daemon_state(self.ledger)

    def cancel(self, run_ref: str) -> RunRecord:
        """Cancel a queued run at once, or ask a running one to stop."""
        from flowdeck.engine.run.cancel import cancel_run

        with self._guarded("cancel", "cancel", run_ref) as details:
            run = self.resolve_run(run_ref)
            details["run_id"] = run.run_id
            return cancel_run(self.ledger, run, requested_by=self.user)

    def resolve_run(self, ref: str) -> RunRecord:
        """A run from its id, a unique prefix of it, or ``last``."""
        from flowdeck.engine.run.lookup import find_run

        return find_run(self.ledger, ref, self.project.root)

    def reap_orphans(self) -> list[RunRecord]:
        """Mark runs whose process died (or stopped heartbeating) as abandoned; return them.

        Called where run states must be true: `flowdeck status`, `runs`, `show` and `logs`, the
        console as it opens and while it watches (the daemon, cleanup, every run, and resume or
        cancel of a run that looks running do it through the run lifecycle).
        """
        return liveness.reap_dead_runs(self.ledger)

    def cleanup(self, on_wait: Say | None = None) -> CleanupReport:
        """Abandon dead runs, reconcile the ledger from the warehouse's markers, and remove what
        dead runs left: staging tables, half-written export files, temporary files."""
        from flowdeck.engine.run import janitor  # DuckDB (through the steps' modules): only for cleanup
        from flowdeck.engine.run.waiting import WarehouseWait

        with self._guarded("cleanup", "cleanup", self.project.config.name) as details:
            report = janitor.clean_up(self.project, self.ledger, WarehouseWait(self._open_ledger, on_wait))
            details.update(report.counts())
        return report

    # -- environments ------------------------------------------------------------------------------

    def environments(self, *, wait: float = 5.0, on_wait: Say | None = None) -> list[EnvironmentSummary]:
        """Every environment (prod first): its warehouse size, the tables it built, those it reads from prod,
        its last run (``flowdeck env list``; docs/environments.md)."""
        from flowdeck.engine.run.environments import list_environments
        from flowdeck.engine.run.waiting import WarehouseWait

        self.require("read")
        return list_environments(self.project, self.ledger, wait=wait,
                                 on_wait=WarehouseWait(self._open_ledger, on_wait, reading=True))

    def drop_environment(self, name: str) -> Path:
        """Remove a development environment's warehouse (never prod's; not while a run is active in it); audited."""
        from flowdeck.engine.run.environments import drop_environment

        with self._guarded("drop_environment", "env.drop", name) as details:
            folder = drop_environment(self.project, self.ledger, name)
            details.update(folder=str(folder))
        return folder

    # -- table versions ----------------------------------------------------------------------------

    def versions(self, table: str, *, wait: float = 10.0, on_wait: Say | None = None) -> list[TableVersion]:
        """The current version of a published table and the versions kept for rollback, newest first."""
        from flowdeck.engine.run import published
        from flowdeck.engine.run.waiting import WarehouseWait

        self.require("read")
        return published.versions(self.project, table, wait=wait,
                                  on_wait=WarehouseWait(self._open_ledger, on_wait, reading=True))

    def rollback(self, table: str, to_run: str, *, on_wait: Say | None = None) -> CommitRecord:
        """Make the kept version of ``table`` holding ``to_run``'s data current again; recorded in the ledger.

        ``to_run`` may be a unique prefix of the run id. The version replaced is kept in its
        place, so a rollback can itself be rolled back. Tables read by other steps are not
        rebuilt: rerun downstream steps with ``flowdeck run PIPELINE --from STEP``.
        """
        from flowdeck.engine.run import published
        from flowdeck.engine.run.waiting import WarehouseWait

        with self._guarded("rollback", "rollback", table.lower(), {"to_run": to_run}) as details:
            record, replaced = published.rollback(self.project, self.ledger, table, to_run, requested_by=self.user,
                                                  on_wait=WarehouseWait(self._open_ledger, on_wait))
            details.update(previous_run=replaced, commit=record.seq)
        return record

    # -- environments --------------------------------------------------------------------------

    def env_diff(self, name: str, *, sample: int = 5, wait: float = 30.0, on_wait: Say | None = None) -> EnvDiff:
        """Each table environment ``name`` built against prod's current version: schema, rows, differing rows."""
        from flowdeck.engine.run.env_diff import diff_environment
        from flowdeck.engine.run.waiting import WarehouseWait

        self.require("read")
        return diff_environment(self.project, name, sample=sample, wait=wait,
                                on_wait=WarehouseWait(self._open_ledger, on_wait, reading=True))

    def env_promote(self, name: str, *, skip_tests: bool = False, on_wait: Say | None = None) -> PromoteReport:
        """Make every table environment ``name`` built prod's, all or none, after prod's checks pass on them (and its
        SQL unit tests, when `environments.require_tests` says so; an admin may skip them). Needs the role
        `environments.promote_role` names (admin unless it says operator)."""
        from flowdeck.engine.run.env_promote import promote_environment
        from flowdeck.engine.run.waiting import WarehouseWait

        with self._guarded("promote", "env.promote", name, {"skip_tests": skip_tests} if skip_tests else None) as details:
            required = self.project.config.environments.require_tests
            if skip_tests and required:
                self.require("skip_tests", name)
            if required and not skip_tests:
                details["tests"] = self._tests_before_promote(name)
            report = promote_environment(self.project, self.ledger, name, requested_by=self.user,
                                         on_wait=WarehouseWait(self._open_ledger, on_wait))
            details.update(promote_id=report.promote_id, promoted=[p.output for p in report.promoted],
                           unchanged=report.unchanged)
        return report

    def _tests_before_promote(self, name: str) -> int:
        """Run the SQL unit tests of the steps environment ``name`` built; refuse the promote when one fails.
        Returns how many passed."""
        from flowdeck.engine.errors import CheckFailed
        from flowdeck.engine.run.env_promote import promotable

        steps: dict[str, set[str]] = {}
        for pipeline, step in promotable(self.project, name):
            steps.setdefault(pipeline, set()).add(step)
        collected = self.sql_tests(sorted(steps))
        if collected.problems:
            raise collected.problems[0]
        cases = [case for case in collected.cases if case.step in steps.get(case.pipeline, set())]
        failed = [outcome for outcome in self.run_sql_tests(cases) if not outcome.passed]
        if failed:
            names = ", ".join(f"{o.case.pipeline}/{o.case.name} ({o.status})" for o in failed)
            raise CheckFailed(f"the promote of environment `{name}` was refused: {len(failed)} of {len(cases)} SQL unit "
                              f"tests of the steps it built did not pass: {names}",
                              hint="prod was not changed; see why with `flowdeck test`, fix, rebuild the environment, "
                              "then promote again")
        return len(cases)

    def serve_spark(self) -> str:
        """Keep the Spark driver warm in this process (master mode) for the project's runs, queries and console
        in other processes (``run.backend_factory.serve_spark``); its URL. ``stop_serving_spark`` when done."""
        from flowdeck.engine.run import backend_factory

        return backend_factory.serve_spark(self.project)

    def stop_serving_spark(self) -> None:
        """No longer announce this process's Spark driver (it stops with the process)."""
        from flowdeck.engine.run import backend_factory

        backend_factory.stop_serving_spark(self.project)

    # -- monitoring ----------------------------------------------------------------------------

    def run_metrics(self, run_ref: str) -> RunMetrics:
        """A run with its steps' measures (rows in/out, bytes, throughput, live query progress) and
        the process's CPU, memory and I/O over time: what run detail screens and reports draw."""
        from flowdeck.engine.monitor import views

        return views.run_metrics(self.ledger, self.resolve_run(run_ref))

    def run_hints(self, metrics: RunMetrics) -> list[Hint]:
        """Performance hints of a finished run, from what was measured about it and its steps' history
        (`flowdeck show`, `flowdeck report`, the console's run view); none for a run that did nothing unusual."""
        from flowdeck.engine.monitor import hints

        return hints.run_hints(self.ledger, self.project, metrics)

    def stats(self, pipeline: str | None = None, *, days: float | None = 30.0, recent: int = 50) -> StatsReport:
        """Run counts, duration trends, errors by kind and slowest steps (`flowdeck stats`, the dashboard)."""
        from flowdeck.engine.monitor import views

        if pipeline is not None:
            self.project.pipeline(pipeline)  # an unknown name is bad input, not an empty report
        return views.stats_report(self.ledger, pipeline, days=days, recent=recent)

    # -- alerts --------------------------------------------------------------------------------

    def alerts(self, *, limit: int = 200, include_acknowledged: bool = True, status: str | None = None,
               pipeline: str | None = None) -> list[AlertRecord]:
        """Alerts, firing first then newest first (what `flowdeck alerts` and the console list)."""
        return self.ledger.alerts(status=status, limit=limit, include_acknowledged=include_acknowledged,
                                  pipeline=pipeline)

    def resolve_alert(self, ref: str) -> AlertRecord:
        """An alert from its fingerprint or a unique prefix of it."""
        from flowdeck.engine.alerts.lookup import find_alert

        return find_alert(self.ledger, ref)

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
        from flowdeck.engine.alerts.rules import evaluate_periodic
        from flowdeck.engine.daemon.lease import daemon_health

        health = daemon if daemon is not None else daemon_health(self.daemon_state())
        evaluate_periodic(self.project, self.ledger, health)

    def deliver_notifications(self, *, ids: list[int] | None = None, channels: list[str] | None = None,
                              deadline: float | None = None) -> DeliveryReport:
        """Deliver the notifications due now (or just ``ids``, or those of ``channels``) from this
        process; return what happened. An open console delivers the ``console`` channel (its toasts)."""
        from flowdeck.engine.alerts.sender import Sender

        return Sender(self.project, self.ledger).deliver_due(ids=ids, channels=channels, deadline=deadline)

    def deliver_console_notifications(self) -> DeliveryReport:
        """Deliver the ``console`` channel's notifications due now (an open console's toasts), asked on every
        poll: a pass costs one cheap question while nothing waits and nothing was written since (``QuietSender``)."""
        if self._console_sender is None:
            from flowdeck.engine.alerts.sender import QuietSender

            self._console_sender = QuietSender(self.project, self.ledger, ["console"])
        return self._console_sender.deliver_due()

    def flush_alerts(self, run_id: str) -> DeliveryReport | None:
        """At the end of a run, with no daemon running (it has its own sender): deliver what this run
        raised, once each; the rest is the daemon's or `flowdeck alerts send`'s. Never raises."""
        from flowdeck.engine.daemon import stand_in

        return stand_in.deliver_after_run(self.project, self.ledger, run_id)

    def flush_lineage(self) -> None:
        """At the end of a run: send the OpenLineage events due (when configured). Never raises."""
        from flowdeck.engine.openlineage.sender import send_due  # light: the client loads only to send

        send_due(self.project, self.ledger)

    def drop_notification(self, outbox_id: int) -> Notification:
        """Remove a notification not delivered yet from the outbox (operators; audited): a failed test,
        or a message the operator has decided not to send. Return it as it was."""
        from flowdeck.engine.alerts.outbox import drop_notification

        with self._guarded("notify", "notification.drop", str(outbox_id)) as details:
            return drop_notification(self.ledger, outbox_id, by=self.user, details=details)

    def test_channel(self, name: str) -> tuple[Notification, str | None]:
        """Send a test notification on one channel now (through the outbox); return it and the
        error if the channel did not take it."""
        from flowdeck.engine.alerts.channels import require_channel
        from flowdeck.engine.alerts.sender import send_test

        require_channel(self.project, name)
        self.require("notify", f"channel {name}")
        return send_test(self.project, self.ledger, name, by=self.user)

    # -- the warehouse -------------------------------------------------------------------------

    def query(self, sql: str, *, limit: int = 1000, wait: float = 10.0, on_wait: Say | None = None,
              engine: str | None = None, environment: str = PROD) -> QueryResult:
        """Run a read-only query on the warehouse (of ``environment``), waiting up to ``wait`` seconds for a writer.

        It reads on the engine (``engine``, or else the one) that published the current version of
        its tables (``run/query_engine.py``); the result says which and why. In a development
        environment it reads that environment's tables, and prod's where the environment reads prod's.
        """
        from flowdeck.engine.run import published
        from flowdeck.engine.run.waiting import WarehouseWait

        project = self.project.in_environment(environment)
        return published.query(project, sql, limit=limit, wait=wait,
                               on_wait=WarehouseWait(self._open_ledger, on_wait, reading=True),
                               ledger=self.ledger, engine=engine)

    def backup(self, folder: Path, *, on_wait: Say | None = None) -> BackupReport:
        """Copy the ledger, the warehouse and the secrets file into ``folder``, consistently, while runs go on."""
        from flowdeck.engine.operations.backup import back_up
        from flowdeck.engine.run.waiting import WarehouseWait

        with self._guarded("backup", "backup", str(folder)) as details:
            result = back_up(self.project, self.ledger, folder, WarehouseWait(self._open_ledger, on_wait))
            details.update(files=sorted(result.files), runs=result.runs)
        return result

    # -- connections ---------------------------------------------------------------------------

    def connections(self) -> list[dict[str, Any]]:
        """The declared database connections: where they point (no password) and which steps use them."""
        from flowdeck.engine.connectors.health import declared_connections  # pyarrow: only for connections

        self.require("read")
        return declared_connections(self.project)

    def test_connections(self, names: list[str] | None = None, *, tables: list[str] | None = None
                         ) -> list[ConnectionReport]:
        """Connect to each named connection (all when none) and probe the tables the pipelines use.

        Operators and admins only: it logs in with the connection's credentials.
        """
        from flowdeck.engine.connectors.health import chosen_connections, test_connections  # pyarrow, as above

        chosen = chosen_connections(self.project, names)  # an unknown name is bad input, before anything else
        with self._guarded("run", "connections.test", ",".join(chosen)) as details:
            reports = test_connections(self.project, chosen, tables=tables)
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

    def set_secret(self, name: str, value: str, *, allow_short: bool = False) -> str:
        """Store a secret (admins); return where it went. The value is never logged or audited.

        A value too short for the masker is refused unless ``allow_short`` (``store_secret``).
        """
        from flowdeck.engine.secrets.store import store_secret

        with self._guarded("secrets", "secret.set", name) as details:
            where, details["maskable"] = store_secret(self.project, name, value, allow_short=allow_short)
            details["store"] = where
        return where

    def delete_secret(self, name: str) -> bool:
        """Remove a secret (admins); ``False`` if there was none."""
        from flowdeck.engine.secrets import open_store

        with self._guarded("secrets", "secret.delete", name) as details:
            existed = details["existed"] = open_store(self.project).delete(name)
        return existed

    # -- editing -------------------------------------------------------------------------------

    def write_project_file(self, relative: str, text: str) -> Path:
        """Replace a file of the project (a pipeline.yaml, a .sql file, flowdeck.yaml) atomically (admins).

        The console's editor saves through this, so the role check and the audit entry hold
        for every edit. Paths outside the project are refused.
        """
        from flowdeck.engine.project import editing

        with self._guarded("edit", "edit", relative) as details:
            path, details["sha256"] = editing.write_project_file(self.project, relative, text)
        return path

    def dag_session(self, pipeline: str) -> DagSession:
        """Start editing a pipeline's DAG (add, remove, rename steps, set depends_on): changes are validated
        as they are made and pending until ``save_dag`` (admins)."""
        from flowdeck.engine.operations.dag_edit import DagSession  # ruamel.yaml loads only for this

        self.require("edit", f"pipelines/{pipeline}")
        return DagSession(self.project, pipeline)

    def save_dag(self, session: DagSession) -> list[Path]:
        """Write a DAG session's pending changes, each file through ``write_project_file`` (role check, audit
        entry, atomic replace); refused when pipeline.yaml changed on disk since the session read it."""
        self.require("edit", f"pipelines/{session.pipeline}")
        return session.save(self.write_project_file)

    def create_pipeline(self, answers: PipelineAnswers) -> list[Path]:
        """Write the pipeline the assistant's answers describe, once the project's validation accepts it (admins).

        Nothing is written when any answer or the resulting files are invalid; each file goes
        through ``write_project_file`` (role check, audit entry, atomic replace).
        """
        self.require("edit", f"pipelines/{answers.name}")
        from flowdeck.engine.operations import assistant

        return assistant.create_pipeline(self.project, answers, write=self.write_project_file)

    # -- audit, lineage, retention -------------------------------------------------------------

    def audit_entries(self, *, limit: int = 100, action: str | None = None, actor: str | None = None) -> list[AuditRecord]:
        """The audit log, newest first (operators and admins)."""
        self.require("audit")
        return self.ledger.audit_entries(limit=limit, action=action, actor=actor)

    def verify_audit(self) -> AuditVerification:
        """Check the audit log's hash chain and its anchors (operators and admins)."""
        from flowdeck.engine.governance.audit import verify_audit

        self.require("audit")
        return verify_audit(self.project, self.ledger)

    def lineage(self, target: str) -> LineageReport:
        """Upstream and downstream of ``TABLE`` or ``TABLE.COLUMN``."""
        from flowdeck.engine.governance.lineage import lineage_report
        from flowdeck.engine.run import published

        return lineage_report(self.project, self.ledger, target, published.warehouse_columns(self.project))

    def prune(self, *, dry_run: bool = False) -> PruneReport:
        """Apply the retention policies (admins; the daemon applies them daily as configured). A dry run
        only counts what would go, so any role may ask for one."""
        from flowdeck.engine.governance import retention

        if self.source == "daemon":  # the configured policy, applied on schedule: no person to check
            report = retention.prune(self.project, self.ledger, dry_run=dry_run)
            if not dry_run:
                self.audit("prune", self.project.config.name, details=report.removed)
            return report
        if dry_run:
            self.require("read")  # it changes nothing
            return retention.prune(self.project, self.ledger, dry_run=True)
        with self._guarded("prune", "prune", self.project.config.name) as details:
            report = retention.prune(self.project, self.ledger)
            details.update(report.removed)
        return report

    # -- a step in detail

    def step_detail(self, run_ref: str, step: str) -> StepDetail:
        """One step of a run: its whole error, log lines, parameters, rows, checks with samples and
        the SQL it ran (`flowdeck show RUN --step STEP`, the console's step view)."""
        from flowdeck.engine.monitor import views

        run = self.resolve_run(run_ref)
        found = views.step_detail(self.ledger, run, step)
        if found is None:
            steps = [record.step for record in self.ledger.steps_of(run.run_id)]
            raise NotFound(f"run {run.run_id} has no step `{step}`",
                           hint=f"its steps: {', '.join(steps)}" if steps else "it ran no step")
        return found
