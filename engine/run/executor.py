"""Execute one claimed run: its steps in dependency order, independent ones in parallel.

It uses the plan and parameters submit prepared when the run was submitted in this process,
else prepares them itself (a worker). Before any step, it takes the warehouse (waiting, and
saying for whom, while another process holds it) and runs the janitor's sequence (dead runs
reaped, the ledger reconciled from the commit markers, leftovers of dead runs swept); unless the
warehouse's seal (``backends/duckdb/seal.py``) shows every selected step unchanged, when it
records them so without opening the warehouse at all. It then
selects the steps to run: all of them, those downstream of ``--from STEP``, or, for a resumed
run, those its parent did not finish. It records every transition and every attempt in the
ledger as it happens, retries transient failures with backoff, heartbeats while it runs, and
stops at the next opportunity when a cancel is requested. A failed step stops everything
downstream of it; independent branches run to the end.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any

from pathlib import Path

from flowdeck.engine.backends.base import Backend
from flowdeck.engine.connectors.failures import ConnectionFailed
from flowdeck.engine.debug_hooks import crash_point
from flowdeck.engine.errors import EXIT_RUN_FAILED, CheckFailed, FlowdeckError, PlanError, SqlError, StepFailed, WarehouseBusy
from flowdeck.engine.masking import mask
from flowdeck.engine.plan.changes import (
    EnvironmentVersions,
    StepChange,
    environment_versions,
    export_intact,
    plan_changes,
    plan_lines,
    read_tokens,
)
from flowdeck.engine.plan.fingerprint import StepParts, all_step_parts, version_of
from flowdeck.engine.plan.planner import Plan, PlannedStep
from flowdeck.engine.plan.selection import named_steps
from flowdeck.engine.project.config.steps import LoadStep, Retries
from flowdeck.engine.project.project import PROD, Project
from flowdeck.engine.monitor.sampler import RunMonitor
from flowdeck.engine.run import janitor
from flowdeck.engine.run.backend_factory import OnWait, engine_of, open_backend, sealed_warehouse
from flowdeck.engine.run.reconcile import commit_record
from flowdeck.engine.run.submit import PreparedRun, prepare
from flowdeck.engine.run.tempfiles import run_temp_dir, run_temp_path
from flowdeck.engine.run.waiting import WarehouseWait
from flowdeck.engine.secrets import resolve_values
from flowdeck.engine.steps.check_queries import CheckQuery
from flowdeck.engine.steps.context import StepContext, StepResult
from flowdeck.engine.steps.dispatch import bytes_moved, run_step
from flowdeck.state import Ledger, LedgerError, RunRecord
from flowdeck.state.records import FROM_PROD, UNCHANGED
from flowdeck.state.status import RunStatus, StepStatus

HEARTBEAT_SECONDS = 2.0


@dataclass(frozen=True)
class RunUpdate:
    """What the executor tells an in-process observer (the foreground CLI display)."""

    kind: str  # plan, plan.changes, step.started, step.succeeded, step.failed, step.skipped, step.reused,
    #            step.retrying, check, waiting, note, run.finished (step.reused: status "unchanged" when by fingerprint)
    step: str | None = None
    rows: int | None = None
    message: str | None = None
    status: str | None = None
    exit_code: int | None = None  # with run.finished: what a command should exit with


Observer = Callable[[RunUpdate], None]
BackendOpener = Callable[[Project, OnWait, Path], Backend]  # (project, on_wait, the run's temp folder)


def backoff_seconds(policy: Retries, attempt: int) -> float:
    """The wait after failed attempt ``attempt`` (1-based): ``backoff``, doubled each time, capped."""
    return min(policy.backoff.total_seconds() * 2.0 ** (attempt - 1), policy.max_backoff.total_seconds())


class RunExecutor:
    """Runs one run that this process has claimed."""

    def __init__(
        self,
        project: Project,
        ledger: Ledger,
        *,
        observer: Observer | None = None,
        open_backend: BackendOpener | None = None,
    ) -> None:
        self.project = project
        self.ledger = ledger
        self.observer: Observer = _harmless(_masked(observer or (lambda update: None)))
        self._open_backend = open_backend
        self._cancel = threading.Event()
        self._draining = threading.Event()
        self._stop_reason: str | None = None
        self._backend: Backend | None = None
        self._unfinished = False
        self._lost = threading.Event()
        self._step_threads: dict[str, int] = {}  # running step → the thread running it (for query progress)
        self._rows: dict[str, int | None] = {}  # finished step → its row count (the next steps' rows in)
        self._plan: Plan | None = None
        self._changes: dict[str, StepChange] = {}  # what the fingerprints say of each step (engine/plan/changes.py)
        self._environment: EnvironmentVersions | None = None  # where a development environment's tables are
        self._published: set[str] = set()  # steps of this run that wrote something (a commit, a file)
        self._parts: Future[dict[str, StepParts]] | None = None  # the fingerprints' static parts, taken ahead

    def drain(self, reason: str) -> None:
        """Start no more steps; running ones finish. A run cut short this way ends ``abandoned``,
        so that it can be resumed (the daemon's graceful shutdown)."""
        self._stop_reason = reason
        self._draining.set()

    def interrupt(self, reason: str) -> None:
        """Also stop the running steps now; the run ends ``abandoned`` (shutdown grace is over)."""
        self.drain(reason)
        self._cancel.set()
        if self._backend is not None:
            self._backend.interrupt()

    def execute(self, run: RunRecord, prepared: PreparedRun | None = None) -> str:
        """Execute ``run`` (already claimed by this process); return its final status.

        ``prepared`` is what submitting the run in this process prepared (its plan and checked
        parameters); without it the run is prepared here, as a worker must. The run writes into the
        warehouse of its environment (docs/environments.md), whoever executes it.
        """
        self.project = self.project.in_environment(run.environment)
        heartbeat = _Heartbeat(self.ledger, run.run_id, self._cancel, self._lost)
        heartbeat.start()
        settings = self.project.config.monitoring
        monitor = RunMonitor(self.ledger, run.run_id, self._progress, sample_seconds=settings.sample_interval.total_seconds(),
                             flush_seconds=settings.flush_interval.total_seconds(),
                             temp_dir=run_temp_path(self.project.temp_dir, run.run_id))
        monitor.start()
        backend: Backend | None = None
        if self.project.config.lineage.openlineage is not None:  # the client costs ~300 ms to import: only then
            from flowdeck.engine.openlineage.emitter import LineageEmitter

            # the one hook of OpenLineage: it watches what this run tells its observer
            self.observer = LineageEmitter(self.project, self.ledger).observing(
                run.run_id, self.observer, backend=lambda: self._backend, plan=lambda: self._plan)
        try:
            with run_temp_dir(self.project.temp_dir, run.run_id) as temp_dir:
                try:
                    engine = engine_of(self.project, run.options)
                    # refused before any step runs: a bad plan, bad parameters, SQL Spark would run differently
                    prepared = prepared or prepare(self.project, run.pipeline, run.params, engine=engine)
                    assert prepared.plan.name == run.pipeline, "a run is executed with its own pipeline's plan"
                    plan = self._plan = prepared.plan
                    params = resolve_values(prepared.params, self.project)  # secrets: resolved here, masked from now on
                    self._take_parts_ahead(plan, prepared.params, engine)
                    sealed = self._unchanged_under_seal(run, plan, prepared.params, engine)
                    if sealed is None:
                        waiting = WarehouseWait(lambda: self.ledger, self._say_waiting, run_id=run.run_id,
                                                stopped=self._stopping)
                        if self._open_backend is not None:
                            backend = self._open_backend(self.project, waiting, temp_dir)
                        else:
                            backend = open_backend(self.project, "run", engine=engine, on_wait=waiting,
                                                   temp_dir=temp_dir, progress_threads=self._parallel(plan) + 1)
                        heartbeat.backend = self._backend = backend
                        self._prepare(run, backend)
                        selected, reused = self._select(run, plan)
                        opened = backend
                        unchanged = self._unchanged(
                            run, plan, prepared.params, engine, backend.warehouse_id(), backend.prod_warehouse_id(),
                            lambda step, change: self._output_present(step, opened, change), selected, reused)
                    else:  # every step unchanged, known without opening the warehouse
                        self._prepare(run, None)
                        selected, reused, unchanged = sealed, {}, sealed
                    self.ledger.add_steps(run.run_id, [(plan.steps[n].name, plan.steps[n].kind, plan.steps[n].output)
                                                       for n in selected])
                    self.observer(RunUpdate(kind="plan", message=",".join(selected)))
                    if self._changes and not run.options.get("resume_of"):  # a resume runs what its parent left
                        self.observer(RunUpdate(kind="plan.changes", message="\n".join(
                            plan_lines(self._changes, [n for n in selected if n not in reused]))))
                    for name, (from_run, rows) in reused.items():
                        self.ledger.step_reused(run.run_id, name, from_run=from_run, rows=rows)
                        self.observer(RunUpdate(kind="step.reused", step=name, rows=rows, message=from_run))
                    for name in unchanged:
                        self._record_unchanged(run.run_id, self._changes[name])
                    to_run = [plan.steps[name] for name in selected if name not in reused and name not in unchanged]
                    failures: list[tuple[str, str]] = []
                    if backend is not None:
                        to_run = self._outside_the_warehouse(run, to_run)
                        if not to_run or not backend.prod_links():  # nothing left reads prod: a prod writer need not wait
                            backend.detach_prod()
                        self._require_upstream_tables(plan, set(selected), to_run, backend)
                        failures = self._run_steps(run, plan, to_run, backend, params)
                        if not failures and not self._stopping():
                            backend.seal_on_close()  # a later run finding every step unchanged needs not open it
                finally:
                    if backend is not None:  # before the temp folder goes: DuckDB may still hold files in it
                        backend.close()
        except FlowdeckError as error:
            if self._stop_reason is not None:
                return self._finish(run, RunStatus.ABANDONED, self._stop_reason)
            if self._cancel.is_set() and not self._lost.is_set():
                return self._finish(run, RunStatus.CANCELED, "canceled on request")
            # a run that failed exits 1, whatever failed it; only a busy warehouse says so (exit 4)
            return self._finish(run, RunStatus.FAILED, error.render(),
                                exit_code=error.exit_code if isinstance(error, WarehouseBusy) else None)
        except LedgerError as error:  # a full disk: said in words, and kept on the run (the ledger's space reserve)
            return self._finish(run, RunStatus.FAILED, str(error))
        except Exception as error:  # a bug, not bad input: record it rather than lose the run
            return self._finish(run, RunStatus.FAILED, f"internal error: {type(error).__name__}: {error}")
        finally:
            self._parts_taken()  # nothing of this run touches the ledger once it is over
            heartbeat.stop()
            monitor.stop()
        if self._lost.is_set():
            current = self.ledger.get_run(run.run_id)
            status = current.status if current else RunStatus.ABANDONED
            self.observer(RunUpdate(kind="run.finished", status=status, message=current.error if current else None,
                                    exit_code=EXIT_RUN_FAILED))
            return status
        if self._stop_reason is not None and (self._unfinished or self._cancel.is_set()):
            return self._finish(run, RunStatus.ABANDONED, self._stop_reason)
        if self._cancel.is_set():
            return self._finish(run, RunStatus.CANCELED, "canceled on request")
        if failures:
            first = failures[0]
            more = f" (and {len(failures) - 1} more steps failed)" if len(failures) > 1 else ""
            return self._finish(run, RunStatus.FAILED, f"step {first[0]} failed: {first[1]}{more}")
        return self._finish(run, RunStatus.SUCCEEDED, None)

    def _progress(self) -> dict[str, float]:
        """DuckDB's progress estimate of each running step's query (for the monitor thread)."""
        backend = self._backend
        if backend is None:
            return {}
        found: dict[str, float] = {}
        for step, thread_id in list(self._step_threads.items()):
            percent = backend.query_progress(thread_id)
            if percent is not None:
                found[step] = percent
        return found

    def _record_metrics(self, context: StepContext, step: PlannedStep, rows: int | None,
                        error: BaseException | None = None) -> None:
        """What the step read and wrote (rows in from its upstream steps, bytes of files), or its kind of error."""
        upstream = [self._rows.get(name) for name in step.upstream]
        rows_in = sum(value for value in upstream if value is not None) if any(v is not None for v in upstream) else None
        if step.kind == "extract":
            rows_in = rows
        try:  # a measure is never worth failing a step for; the tests of the measures catch wrong ones
            bytes_in, bytes_out = bytes_moved(context, step) if error is None else (None, None)
            self.ledger.record_step_metrics(context.run_id, step.name, rows_in=rows_in, bytes_in=bytes_in,
                                            bytes_out=bytes_out, error_kind=error_kind(error) if error else None)
        except Exception as failure:
            context.log(step.name, f"could not record this step's measures: {failure}", level="warning")

    def _record_statements(self, context: StepContext, step: PlannedStep, attempt: int) -> None:
        """The SQL this attempt of the step ran (as its engine received it), for `show --step` and the console."""
        try:
            self.ledger.record_step_statements(context.run_id, step.name, attempt, context.backend.name,
                                               context.backend.take_statements())
        except Exception as failure:  # like the measures: never worth failing a step for
            context.log(step.name, f"could not record the SQL this step ran: {failure}", level="warning")

    def _finish(self, run: RunRecord, status: RunStatus, error: str | None, *,
                exit_code: int | None = None) -> RunStatus:
        if not self.ledger.finish_run(run.run_id, status, error):  # someone marked it abandoned meanwhile
            current = self.ledger.get_run(run.run_id)
            status = current.status if current else status
        code = 0 if status == RunStatus.SUCCEEDED else (exit_code or EXIT_RUN_FAILED)
        self.observer(RunUpdate(kind="run.finished", status=status, message=error, exit_code=code))
        return status

    def _say_waiting(self, message: str) -> None:
        self.observer(RunUpdate(kind="waiting", message=message))

    def _stopping(self) -> bool:
        """Whether the run was asked to stop (drain, interrupt or cancel): a wait for the warehouse ends then."""
        return self._draining.is_set() or self._cancel.is_set()

    # -- before the steps ------------------------------------------------------------------------

    def _prepare(self, run: RunRecord, backend: Backend | None) -> None:
        """The janitor's sequence, for this run's pipeline: reap, reconcile, sweep; say what it found
        (without a backend: what needs no warehouse, see ``_unchanged_under_seal``)."""
        report = janitor.tidy(self.project, self.ledger, backend, [run.pipeline])
        recovered = report.recovered
        if recovered:
            self._note(run.run_id, f"recovered {len(recovered)} commit(s) the ledger had missed: "
                       + ", ".join(f"{c.step} of run {c.run_id}" for c in recovered[:5]))
        swept = report.swept
        if swept:
            self._note(run.run_id, f"removed {len(swept)} leftover(s) of dead runs: {', '.join(swept[:5])}")

    def _note(self, run_id: str, message: str) -> None:
        self.ledger.log(run_id, message, kind="run.note")
        self.observer(RunUpdate(kind="note", message=message))

    def _select(self, run: RunRecord, plan: Plan) -> tuple[list[str], dict[str, tuple[str, int | None]]]:
        """The steps this run covers, in plan order, and those it reuses: step → (run that did it, rows)."""
        options = run.options
        names = list(plan.order)
        from_step = options.get("from_step")
        chosen = options.get("selected_steps")  # resolved by submit from --select/--exclude/--from
        if chosen is not None:
            gone = [name for name in chosen if name not in plan.steps]
            if gone:
                raise PlanError(f"pipeline `{plan.name}` has no step `{gone[0]}` any more, which this run selected "
                                "when it was queued", hint=f"start a new run: `flowdeck run {plan.name}`")
            keep = set(chosen)
            names = [name for name in names if name in keep]
        elif from_step:  # a run queued before selections were resolved at submit
            if from_step not in plan.steps:
                raise PlanError(f"pipeline `{plan.name}` has no step `{from_step}`")
            downstream = plan.downstream_of(from_step)
            names = [name for name in names if name in downstream]
        reused: dict[str, tuple[str, int | None]] = {}
        parent = options.get("resume_of")
        if parent:
            done = {step.step: step for step in self.ledger.steps_of(parent)}
            # the parent's steps, those since removed dropped; a parent stopped before it recorded its steps
            # (waiting for the warehouse, say) finished none of them: its resume runs them all
            if done:
                names = [name for name in names if name in done]
            for name in names:
                step = done.get(name)
                if step is None:
                    continue
                upstream_rerun = any(up in names and up not in reused for up in plan.steps[name].upstream)
                if step.status != StepStatus.SUCCEEDED or upstream_rerun:
                    continue
                origin = step.reused_from or parent
                if isinstance(plan.steps[name].config, LoadStep) and not self._export_intact(origin, name):
                    continue
                rows = step.rows_out if not step.unchanged else \
                    next((ran.rows_out for ran in self.ledger.steps_of(origin) if ran.step == name), None)
                reused[name] = (origin, rows)
        return names, reused

    def _export_intact(self, run_id: str, step: str) -> bool:
        """Whether the file a load step wrote is still there, byte for byte."""
        return export_intact(self.project, self.ledger, run_id, step)

    # -- fingerprints: steps nothing changed for -------------------------------------------------

    def _take_parts_ahead(self, plan: Plan, params: dict[str, Any], engine: str) -> None:
        """Start taking the static parts of every step's fingerprint on a thread of their own, for ``_unchanged``.

        They include the sha256 of each input file the ledger has no checksum for at its size and time (a new or
        changed file: reading 250 MB takes ~0.2 s). Taken here, that reading overlaps with importing DuckDB and
        opening the warehouse, which need not wait for it (hashlib and DuckDB let go of the GIL as they work).
        """
        taken: Future[dict[str, StepParts]] = Future()

        def take() -> None:
            try:
                taken.set_result(all_step_parts(self.project, self.ledger, plan, params, engine))
            except BaseException as error:  # met again, where it always was, when _unchanged takes them itself
                taken.set_exception(error)

        self._parts = taken
        threading.Thread(target=take, name="fingerprint-parts", daemon=True).start()

    def _parts_taken(self) -> dict[str, StepParts] | None:
        """The parts ``_take_parts_ahead`` took (waiting for them), or None when it failed or never started."""
        if self._parts is None:
            return None
        try:
            return self._parts.result()
        except Exception:
            return None

    def _unchanged_under_seal(self, run: RunRecord, plan: Plan, params: dict[str, Any], engine: str) -> list[str] | None:
        """The selected steps, when every one is unchanged by what the warehouse's seal says (its id and tables,
        read without opening it: ``backends/duckdb/seal.py``) and the ledger knows every commit in it; else
        None, and the run opens the warehouse as always. Not for a resumed, forced or reprocessing run, one
        whose backend the caller opens, one whose lineage is reported (its emitter reads the backend), or one
        in a development environment."""
        options = run.options
        if options.get("resume_of") or options.get("force") or options.get("reprocess") or \
                self._open_backend is not None or self.project.config.lineage.openlineage is not None or \
                self.project.environment != PROD:  # a development environment reads prod's tables through its warehouse
            return None
        facts = sealed_warehouse(self.project, engine)
        if facts is None or self.ledger.last_commit_seq(facts.warehouse_id) != facts.last_seq:
            return None
        selected, reused = self._select(run, plan)
        unchanged = self._unchanged(run, plan, params, engine, facts.warehouse_id, None,
                                    lambda step, change: step.output is None or step.output in facts.tables,
                                    selected, reused)
        return selected if not reused and unchanged == selected else None

    def _unchanged(self, run: RunRecord, plan: Plan, params: dict[str, Any], engine: str, warehouse_id: str,
                   prod_warehouse_id: str | None, output_present: Callable[[PlannedStep, StepChange], bool],
                   selected: list[str], reused: dict[str, tuple[str, int | None]]) -> list[str]:
        """Judge every step by its fingerprint (kept for recording them); return the selected steps the run
        reuses because nothing they depend on changed (and whose output is ``output_present`` still). A
        resumed run runs what its parent left, as before."""
        from_step = run.options.get("from_step")
        # a step asked for by name is rebuilt, as --from's is (`--from STEP` is `--select STEP+`)
        forced = {name: "selected by name (--select)" for name in named_steps(run.options.get("select"), selected)}
        if from_step:
            forced[from_step] = "rerun from this step (--from)"
        self._environment = environment_versions(self.project, self.ledger, warehouse_id, prod_warehouse_id)
        self._changes = plan_changes(self.project, self.ledger, plan, params, force=bool(run.options.get("force")),
                                     engine=engine, warehouse_id=warehouse_id, forced_steps=forced or None,
                                     prod_warehouse_id=self._environment.prod_warehouse_id if self._environment else None,
                                     parts=self._parts_taken())
        if run.options.get("resume_of"):
            return []
        runs: set[str] = set()
        for name in selected:  # plan order: a step upstream of another comes first
            change, step = self._changes[name], plan.steps[name]
            if name not in reused and (change.runs or step.upstream & runs or
                                       not output_present(step, change)):
                runs.add(name)
        return [name for name in selected if name not in reused and name not in runs]

    @staticmethod
    def _output_present(step: PlannedStep, backend: Backend, change: StepChange | None = None) -> bool:
        """An unchanged step is reused only while its table is still in the warehouse (prod's, for a step
        a development environment reads from prod)."""
        if step.output is None:
            return True
        if change is not None and change.reads_prod:
            return backend.prod_table_exists(step.output)
        return backend.table_exists(step.output)

    def _record_unchanged(self, run_id: str, change: StepChange) -> None:
        assert change.previous_run is not None, "an unchanged step has a current output"
        self._rows[change.step] = change.rows  # the rows the next steps read from it
        reason = UNCHANGED
        if change.reads_prod:
            plan, backend = self._plan, self._backend
            assert plan is not None and backend is not None, "a step is read from prod during a run"
            output = plan.steps[change.step].output
            if output is not None:  # the warehouse first, then the ledger: a crash between is healed by the next run
                backend.link_from_prod(output, change.previous_run)
            reason = FROM_PROD
        self.ledger.step_reused(run_id, change.step, from_run=change.previous_run, rows=change.rows, reason=reason,
                                version=change.version)
        self.observer(RunUpdate(kind="step.reused", step=change.step, rows=change.rows, message=change.previous_run,
                                status=UNCHANGED if reason == UNCHANGED else f"{UNCHANGED} (prod)"))

    def _outside_the_warehouse(self, run: RunRecord, to_run: list[PlannedStep]) -> list[PlannedStep]:
        """``to_run`` without the load steps when the run is in a development environment: a load writes files
        or another database, which are prod's, so it runs in prod only (recorded skipped, saying so)."""
        if run.environment == PROD:
            return to_run
        kept: list[PlannedStep] = []
        for step in to_run:
            if isinstance(step.config, LoadStep):
                why = f"load steps write outside the warehouse: they run in prod only, not in `{run.environment}`"
                self.ledger.step_finished(run.run_id, step.name, StepStatus.SKIPPED, error=why)
                self.observer(RunUpdate(kind="step.skipped", step=step.name, message=why))
            else:
                kept.append(step)
        return kept

    def _why(self, step: str) -> str | None:
        """Why the step runs, in words (recorded with its start for `show --step` and the console)."""
        change = self._changes.get(step)
        if change is None:
            return None
        return f"{change.status}: {'; '.join(change.reasons)}" if change.reasons else change.status

    def _version_now(self, context: StepContext, step: PlannedStep) -> StepChange | None:
        """The step's fingerprint with the tables it reads as they are now (its upstream steps have run) put
        where its publish finds it; the step's change when that makes it unchanged after all (the steps
        upstream it ran for wrote nothing new), else None."""
        change = self._changes.get(step.name)
        plan = self._plan
        if change is None or change.parts is None or plan is None:
            return None
        version = version_of(plan.name, step.name, change.parts,
                             read_tokens(self.ledger, change.parts.reads, context.warehouse_id, self._environment))
        context.versions[step.name] = version
        if change.upstream_only and version.fingerprint == change.previous_fingerprint and \
                not (step.upstream & self._published) and \
                self._output_present(step, context.backend, replace(change, status=UNCHANGED)):
            return replace(change, status=UNCHANGED, reasons=(), version=version, fingerprint=version.fingerprint)
        return None

    def _require_upstream_tables(self, plan: Plan, selected: set[str], to_run: list[PlannedStep],
                                 backend: Backend) -> None:
        """A step run without its upstream steps needs their tables to exist already."""
        for step in to_run:
            for upstream in sorted(step.upstream - selected):
                table = plan.steps[upstream].output
                if table and not backend.table_exists(table):
                    raise PlanError(
                        f"step `{step.name}` reads table `{table}` (from step `{upstream}`), which does not exist yet",
                        hint=f"run the whole pipeline first: `flowdeck run {plan.name}`",
                    )

    # -- the steps -------------------------------------------------------------------------------

    def _run_steps(
        self, run: RunRecord, plan: Plan, selected: list[PlannedStep], backend: Backend, params: dict[str, Any]
    ) -> list[tuple[str, str]]:
        """Run ``selected`` respecting dependencies; return (step, error) of the failed ones."""
        context = StepContext(
            project=self.project, backend=backend, run_id=run.run_id, params=params,
            record_check=self._check_recorder(run.run_id),
            record_lineage=self._lineage_recorder(run.run_id),
            log=self._step_logger(run.run_id), pipeline=run.pipeline,
            ledger=self.ledger, warehouse_id=backend.warehouse_id(), reprocess=bool(run.options.get("reprocess")),
        )
        names = {step.name for step in selected}
        waiting = {step.name: step.upstream & names for step in selected}
        failures: list[tuple[str, str]] = []
        blocked: set[str] = set()
        limit = self._parallel(plan)
        with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="step") as pool:
            running: dict[Future[StepResult], PlannedStep] = {}
            while waiting or running:
                if not self._cancel.is_set() and not self._draining.is_set():
                    ready = sorted((name for name, up in waiting.items() if not up), key=lambda n: plan.steps[n].index)
                    for name in ready[: max(limit - len(running), 0)]:
                        del waiting[name]
                        running[pool.submit(self._run_one, context, plan.steps[name])] = plan.steps[name]
                if not running:
                    self._unfinished = bool(waiting) or self._cancel.is_set()
                    break
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in done:
                    step = running.pop(future)
                    error = future.exception()
                    if error is None:
                        for upstream in waiting.values():
                            upstream.discard(step.name)
                        continue
                    failures.append((step.name, error.what if isinstance(error, FlowdeckError) else str(error)))
                    for name in plan.downstream_of(step.name) - {step.name}:
                        if name in waiting:
                            del waiting[name]
                            blocked.add(name)
        for name in sorted(blocked, key=lambda n: plan.steps[n].index):
            self.ledger.step_finished(run.run_id, name, StepStatus.SKIPPED, error="an upstream step failed")
            self.observer(RunUpdate(kind="step.skipped", step=name))
        return failures

    def _parallel(self, plan: Plan) -> int:
        """How many steps of the run may run at once (each on a thread of its own)."""
        return plan.source.config.max_parallel_steps or self.project.config.defaults.max_parallel_steps

    def _retries(self, step: PlannedStep) -> Retries:
        return step.config.retries or self.project.config.defaults.retries

    def _run_one(self, context: StepContext, step: PlannedStep) -> StepResult:
        """Run one step, retrying transient failures; record each attempt and the outcome."""
        run_id = context.run_id
        policy = self._retries(step)
        if (unchanged := self._version_now(context, step)) is not None:
            self._record_unchanged(run_id, unchanged)
            return StepResult(rows=unchanged.rows)
        while True:
            attempt = self.ledger.step_started(run_id, step.name, engine=context.backend.name,
                                               plan=self._why(step.name))
            self.observer(RunUpdate(kind="step.started", step=step.name))
            started = time.monotonic()
            self._step_threads[step.name] = threading.get_ident()
            context.backend.take_statements()  # this thread's log starts with this attempt
            try:
                result = run_step(context, step)
            except StepFailed as error:
                self._record_statements(context, step, attempt)
                self._step_threads.pop(step.name, None)
                if self._cancel.is_set():
                    self.ledger.step_finished(run_id, step.name, StepStatus.CANCELED, error="canceled on request")
                    self.observer(RunUpdate(kind="step.canceled", step=step.name))
                    raise
                if error.transient and attempt < policy.attempts and not self._draining.is_set():
                    delay = backoff_seconds(policy, attempt)
                    self.ledger.step_retrying(run_id, step.name, attempt, error.what, delay)
                    self.observer(RunUpdate(kind="step.retrying", step=step.name,
                                            message=f"{step.name}: attempt {attempt} failed ({error.what}); "
                                                    f"retrying in {delay:g}s"))
                    if self._cancel.wait(delay):
                        self.ledger.step_finished(run_id, step.name, StepStatus.CANCELED, error="canceled on request")
                        self.observer(RunUpdate(kind="step.canceled", step=step.name))
                        raise
                    continue
                self._record_metrics(context, step, None, error)
                self.ledger.step_finished(run_id, step.name, StepStatus.FAILED, error=error.render(),
                                          transient=error.transient)
                self.observer(RunUpdate(kind="step.failed", step=step.name, message=error.render()))
                raise
            except Exception as error:
                self._record_statements(context, step, attempt)
                self._step_threads.pop(step.name, None)
                self._record_metrics(context, step, None, error)
                message = f"internal error: {type(error).__name__}: {error}"
                self.ledger.step_finished(run_id, step.name, StepStatus.FAILED, error=message, transient=False)
                self.observer(RunUpdate(kind="step.failed", step=step.name, message=message))
                raise StepFailed(message) from error
            break
        if result.commit is not None:
            crash_point("published", step.name)  # the warehouse has it; the ledger does not yet
        elapsed = time.monotonic() - started
        self._record_statements(context, step, attempt)
        self._step_threads.pop(step.name, None)
        self._rows[step.name] = result.rows
        self._record_metrics(context, step, result.rows)
        payload = {**result.payload, "seconds": round(elapsed, 3), "attempts": attempt}
        if result.note:
            payload["note"] = result.note
        commit = commit_record(result.commit, context.warehouse_id) if result.commit is not None else None
        if result.commit is not None or result.export is not None:
            self._published.add(step.name)
        self.ledger.step_finished(run_id, step.name, StepStatus.SUCCEEDED, rows=result.rows, payload=payload,
                                  commit=commit, export=result.export, version=context.versions.get(step.name))
        self.observer(RunUpdate(kind="step.succeeded", step=step.name, rows=result.rows, message=result.note))
        return result

    def _lineage_recorder(self, run_id: str) -> Callable[..., None]:
        def record(step: str, *, output: str, output_kind: str, output_checksum: str | None,
                   inputs: list[tuple[str, str, str | None]]) -> None:
            self.ledger.record_lineage(run_id, step, output=output, output_kind=output_kind,
                                       output_checksum=output_checksum, inputs=inputs)

        return record

    def _step_logger(self, run_id: str) -> Callable[..., None]:
        def log(step: str, message: str, *, level: str = "info", kind: str = "log",
                payload: dict[str, Any] | None = None) -> None:
            self.ledger.log(run_id, message, step=step, level=level, kind=kind, payload=payload)

        return log

    def _check_recorder(self, run_id: str) -> Callable[..., None]:
        def record(step: str, query: CheckQuery, status: str, failing: int, message: str,
                   sample: list[dict[str, Any]]) -> None:
            self.ledger.record_check(run_id, step, query.name, severity=query.severity, status=status,
                                     failing_rows=failing, message=message, sample=sample)
            self.observer(RunUpdate(kind="check", step=step, status=status, message=message))

        return record


def error_kind(error: BaseException) -> str:
    """The kind of error that stopped a step, as counted by `flowdeck stats`."""
    if isinstance(error, CheckFailed):
        return "check failed"
    if isinstance(error, WarehouseBusy):
        return "warehouse busy"
    if isinstance(error, SqlError):
        return "sql error"
    if isinstance(error, ConnectionFailed):  # which way the database failed says more than "transient"
        return f"database {error.reason.replace('_', ' ')}"
    if isinstance(error, StepFailed):
        if "interrupted" in error.what:
            return "interrupted"
        if error.transient:
            return "transient error"
        engine_kind = re.search(r"\b([A-Z][a-z]+) Error\b", error.what)  # DuckDB's "Binder Error: ..." and kin
        if engine_kind:
            return f"{engine_kind[1].lower()} error"
        spark_class = re.search(r"\[([A-Z]+(?:_[A-Z]+)*)(?:\.[A-Z_]+)?\]", error.what)  # Spark's "[CAST_INVALID_INPUT] ..."
        return spark_class[1].lower().replace("_", " ") if spark_class else "step error"
    if isinstance(error, FlowdeckError):
        return type(error).__name__
    return "internal error"


def _masked(observer: Observer) -> Observer:
    """An observer that never sees a secret: messages are masked before they reach it."""

    def observe(update: RunUpdate) -> None:
        if update.message:
            update = replace(update, message=mask(update.message))
        observer(update)

    return observe


def _harmless(observer: Observer) -> Observer:
    """An observer whose failure never changes the run: a display that breaks (``flowdeck run | head``
    closed its pipe) is dropped at its first error and the run goes on; the ledger has the whole story."""
    broken = threading.Event()

    def observe(update: RunUpdate) -> None:
        if broken.is_set():
            return
        try:
            observer(update)
        except Exception:
            broken.set()

    return observe


class _Heartbeat(threading.Thread):
    """Keeps the run's heartbeat fresh, notices cancel requests, and stops the run if it lost it.

    A run someone else marked abandoned (its heartbeat looked stale) must not go on writing
    beside whatever resumes it, so the executor stops as if canceled.
    """

    def __init__(self, ledger: Ledger, run_id: str, cancel: threading.Event, lost: threading.Event) -> None:
        super().__init__(name=f"heartbeat-{run_id}", daemon=True)
        self.ledger = ledger
        self.run_id = run_id
        self.cancel = cancel
        self.lost = lost
        self.backend: Backend | None = None
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(HEARTBEAT_SECONDS):
            alive = self.ledger.heartbeat(self.run_id)
            record = self.ledger.get_run(self.run_id)
            if not alive:
                self.lost.set()
            if (not alive or (record is not None and record.cancel_requested)) and not self.cancel.is_set():
                self.cancel.set()
                if self.backend is not None:
                    self.backend.interrupt()

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=5)
