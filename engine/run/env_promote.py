"""`flowdeck env promote`: an environment's tables become prod's, all of them or none.

In one DuckDB transaction on prod's warehouse, with the environment's file attached read-only: each
table the environment built is copied in under a staging name and published as a run publishes (the
table it replaces is kept as a version, so `flowdeck rollback` can restore it), with a commit marker
carrying the fingerprint the environment's run recorded, so the next prod run finds those steps
unchanged. Prod's checks then run on the tables as they will be (each promoted step's checks, and
check steps on them): a blocking failure rolls everything back. Only then is the transaction
committed, and the ledger told afterwards (a crash in between is reconciled from the markers, as
after a run). A table prod already holds with the same fingerprint and data is left as it is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from flowdeck.engine.backends.base import Backend, CommitMarker, Incoming
from flowdeck.engine.debug_hooks import crash_point
from flowdeck.engine.errors import CheckFailed, FlowdeckError, NotFound, PlanError
from flowdeck.engine.plan.planner import Plan, PlannedStep
from flowdeck.engine.project.config.steps import CheckStep
from flowdeck.engine.project.project import Project
from flowdeck.engine.run.backend_factory import open_backend
from flowdeck.engine.run.env_warehouses import (
    ENV_DATABASE,
    EnvOutput,
    OnWait,
    built_outputs,
    environment,
    open_beside_prod,
    steps_by_output,
)
from flowdeck.engine.run.reconcile import commit_record, reconcile_ledger
from flowdeck.engine.sql.params import coerce_params
from flowdeck.engine.steps.check import SAMPLE_ROWS
from flowdeck.engine.steps.check_queries import check_queries
from flowdeck.state import Ledger
from flowdeck.state.ledger import new_run_id
from flowdeck.state.records import CommitRecord, PromotedStep, PromoteRun


@dataclass(frozen=True)
class Promoted:
    """A table the promote made prod's."""

    output: str
    pipeline: str
    step: str
    kind: str
    rows: int | None
    run_id: str  # the promote's run of this pipeline in the ledger: the run prod's table holds the data of now
    from_run: str  # the environment's run that built the data
    replaced_run: str | None  # the run whose data prod's table held before (kept as a version), None: new in prod
    fingerprint: str | None = None
    commit: int | None = None

    def to_json(self) -> dict[str, Any]:
        """As `env promote --json` shows it."""
        return {"table": self.output, "pipeline": self.pipeline, "step": self.step, "rows": self.rows,
                "run_id": self.run_id, "from_run": self.from_run, "replaced_run": self.replaced_run,
                "commit": self.commit}


@dataclass
class PromoteReport:
    """What a promote did: the tables it published in prod, and those prod already held."""

    environment: str
    promote_id: str
    promoted: list[Promoted] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # prod already holds this very version
    warnings: list[str] = field(default_factory=list)  # checks of severity warn that failed

    def to_json(self) -> dict[str, Any]:
        """As `env promote --json` shows it."""
        return {"environment": self.environment, "promote_id": self.promote_id,
                "promoted": [p.to_json() for p in self.promoted], "unchanged": self.unchanged,
                "warnings": self.warnings}


def promotable(project: Project, name: str) -> list[tuple[str, str]]:
    """(pipeline, step) of every table environment ``name`` built (to run their SQL unit tests before promoting);
    only the environment's warehouse is read."""
    env = environment(project, name)
    steps = steps_by_output(project)
    backend = open_backend(env, "read")
    try:
        return [(steps[b.output][0].name, steps[b.output][1].name)
                for b in built_outputs(backend, backend.database) if b.output in steps]
    finally:
        backend.close()


def promote_environment(project: Project, ledger: Ledger, name: str, *, requested_by: str,
                        on_wait: OnWait | None = None) -> PromoteReport:
    """Publish every table environment ``name`` built into prod in one transaction, after prod's checks pass on
    them; record it in the ledger. Raises ``CheckFailed`` (prod untouched) when a blocking check fails."""
    env = environment(project, name)
    steps = steps_by_output(project)
    report = PromoteReport(environment=name, promote_id=f"promote-{new_run_id()}")
    run_ids: dict[str, str] = {}  # pipeline -> the run that records the promote of its tables
    started = time.time()
    backend = open_beside_prod(project, env, read_only=False, on_wait=on_wait)
    try:
        reconcile_ledger(ledger, backend)  # prod's ledger current first: the markers below come after
        prod_id = backend.warehouse_id()
        env_id = backend.warehouse_id_in(ENV_DATABASE)
        built = built_outputs(backend)
        if not built:
            raise NotFound(f"environment `{name}` has built nothing of its own: there is nothing to promote",
                           hint=f"build what you changed with `flowdeck run PIPELINE --env {name}`")
        gone = [b.output for b in built if b.output not in steps]
        if gone:
            raise PlanError(f"environment `{name}` holds {', '.join(gone)}, which no valid pipeline publishes now",
                            hint=f"fix the pipeline (`flowdeck validate`), or drop the environment (`flowdeck env drop {name}`) "
                            "and build it again")
        incoming: list[Incoming] = []
        for item in built:
            plan, step = steps[item.output]
            current = ledger.current_output_commit(item.output, prod_id)
            if current is not None and current.fingerprint is not None and current.fingerprint == item.fingerprint \
                    and current.checksum == item.marker.checksum:
                report.unchanged.append(item.output)
                continue
            while plan.name not in run_ids:
                candidate = new_run_id()
                if candidate not in run_ids.values() and ledger.get_run(candidate) is None:
                    run_ids[plan.name] = candidate
            incoming.append(_incoming(project, ledger, item, step, run_ids[plan.name], env_id, name, requested_by,
                                      report.promote_id))
            report.promoted.append(Promoted(output=item.output, pipeline=plan.name, step=step.name, kind=step.kind,
                                            rows=item.marker.rows, run_id=run_ids[plan.name],
                                            from_run=item.marker.data_run_id or item.marker.run_id,
                                            replaced_run=current.data_run_id if current is not None else None,
                                            fingerprint=item.fingerprint))
        if not incoming:
            return report
        promoted = {item.output for item in incoming}

        def prod_checks() -> None:
            _run_checks(backend, ledger, steps, built, promoted, report)

        committed = backend.publish_together(incoming, audit=prod_checks)
        crash_point("promoted", name)
        records: list[CommitRecord] = [commit_record(marker, prod_id, requested_by=requested_by)
                                       for marker in committed]
    finally:
        backend.close()
    committed_of = {record.output: record for record in records}
    report.promoted = [replace(p, rows=committed_of[p.output].rows, commit=committed_of[p.output].seq)
                       for p in report.promoted]
    runs = [PromoteRun(run_id=run_id, pipeline=pipeline,
                       steps=tuple(PromotedStep(step=p.step, kind=p.kind, output=p.output, rows=p.rows,
                                                fingerprint=p.fingerprint)
                                   for p in report.promoted if p.pipeline == pipeline))
            for pipeline, run_id in run_ids.items()]
    ledger.record_promote(records, runs, environment=name, promote_id=report.promote_id, requested_by=requested_by,
                          started_at=started)
    return report


def _incoming(project: Project, ledger: Ledger, item: EnvOutput, step: PlannedStep, run_id: str, env_id: str,
              name: str, requested_by: str, promote_id: str) -> Incoming:
    """What to copy for one table and the marker prod will hold for it: the environment's fingerprint, and the
    incremental state of the environment's data (files read, watermark, intervals), so prod's next run goes on
    from there."""
    state: dict[str, Any] = {"environment": name, "from_run": item.marker.data_run_id or item.marker.run_id,
                             "requested_by": requested_by, "promote_id": promote_id}
    if item.marker.state.get("version"):
        state["version"] = item.marker.state["version"]
    files = ledger.current_input_files(env_id, item.output)
    if files:
        state["files"] = [f.to_json() for f in files]
    config = step.config
    watermark_column = getattr(config, "watermark", None)
    if watermark_column:
        mark = ledger.watermark(env_id, item.output, watermark_column)
        if mark is not None:
            state["watermark"] = {"column": mark.column, "value": mark.value, "value_type": mark.value_type}
    time_range = getattr(config, "time_range", None)
    if time_range is not None:
        intervals = ledger.processed_intervals(env_id, item.output, time_range.column)
        if intervals:
            state["intervals"] = [{"column": i.column, "start": i.start, "end": i.end} for i in intervals]
    marker = CommitMarker(run_id=run_id, step=step.name, output=item.output, rows=item.marker.rows,
                          checksum="" if item.is_view else item.marker.checksum, state=state)
    keep = getattr(config, "versions", None) or project.config.retention.output_versions
    sql = item.view_sql if item.is_view and item.view_sql else f"SELECT * FROM {item.relation}"
    return Incoming(output=item.output, sql=sql, marker=marker, keep_versions=keep, is_view=item.is_view)


def _run_checks(backend: Backend, ledger: Ledger, steps: dict[str, tuple[Plan, PlannedStep]],
                built: list[EnvOutput], promoted: set[str], report: PromoteReport) -> None:
    """Prod's checks on the promoted tables as they will be: each promoted step's own, and every check step
    on one of them. A blocking failure raises ``CheckFailed``; a warning is reported."""
    runs = {b.output: b.marker.data_run_id or b.marker.run_id for b in built}
    checked: list[tuple[Plan, PlannedStep, str]] = [(*steps[output], output) for output in sorted(promoted)]
    plans = {plan.name: plan for plan, _ in steps.values()}
    for plan in plans.values():
        for step in plan.steps.values():
            if isinstance(step.config, CheckStep) and step.config.table.lower() in promoted:
                checked.append((plan, step, step.config.table.lower()))
    failures: list[str] = []
    for plan, step, table in checked:
        run = ledger.get_run(runs.get(table, ""))
        try:
            params = coerce_params(plan.source.config.params, run.params if run is not None else {}, plan.name)
        except FlowdeckError:
            params = coerce_params(plan.source.config.params, {}, plan.name)
        for planned in step.checks:
            for query in check_queries(planned, table, output=table, params=params):
                failing = backend.failing_rows(query.sql, sample=SAMPLE_ROWS)
                if failing.count == 0:
                    continue
                said = f"check {query.name} of step `{step.name}` ({plan.name}) on table {table}: {query.explain(failing)}"
                if query.severity == "error":
                    example = "; ".join(str(row) for row in failing.sample[:3])
                    failures.append(f"{said}; for example: {example}")
                else:
                    report.warnings.append(said)
    if failures:
        more = f" (and {len(failures) - 1} more failing checks)" if len(failures) > 1 else ""
        raise CheckFailed(f"the promote of environment `{report.environment}` was refused: {failures[0]}{more}",
                          hint="prod was not changed; fix the data or the SQL, rebuild the environment "
                          "(`flowdeck run PIPELINE --env NAME`), then promote again")
