"""Submitting a run: validate its pipeline, check its parameters, lint it for Spark, then queue it.

Everything a run will need that can be wrong is found here, before anything is queued: YAML,
SQL and DAG errors (the plan), parameters, a ``--from`` step or a ``--select``/``--exclude``
selection (resolved here to the steps the run covers), SQL that Spark would run
differently. What submit prepared (the plan and the checked parameters) is handed on to the
display and the execution in the same process, so neither builds or checks them again; a
worker in another process prepares the run again with ``prepare``.

A resumed run is submitted the same way, as a child of a failed, abandoned or canceled run.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flowdeck.engine.errors import NotFound, ParamError
from flowdeck.engine.plan.planner import Plan, build_plan, path_templates
from flowdeck.engine.plan.changes import modified_steps, plan_changes
from flowdeck.engine.plan.selection import Modified, select_steps
from flowdeck.engine.project.project import PROD, Project
from flowdeck.engine.run.backend_factory import engine_of, refuse_engine_differences
from flowdeck.engine.run.claim import this_process
from flowdeck.engine.run.liveness import reap_dead_runs
from flowdeck.engine.run.trigger_keys import manual_key, resume_key
from flowdeck.engine.secrets.literals import literal_param_problem
from flowdeck.engine.sql.params import bind_path_inside, coerce_params
from flowdeck.state import Ledger, RunRecord
from flowdeck.state.status import RUN_RESUMABLE, RunStatus


@dataclass(frozen=True)
class PreparedRun:
    """What a run needs before its first step: its plan and its parameters, checked against their types."""

    plan: Plan
    params: dict[str, Any]


@dataclass(frozen=True)
class Submitted:
    """A queued run (or the run a reused trigger key already started) and what submitting prepared for it.

    It unpacks as ``run, created = ...``; ``prepared`` is for executing the run in this process,
    and is None unless the run is queued.
    """

    record: RunRecord
    created: bool
    prepared: PreparedRun | None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.record, self.created))

    def __getitem__(self, index: int) -> Any:
        return (self.record, self.created)[index]


def prepare(project: Project, pipeline: str, params: dict[str, str], *, engine: str) -> PreparedRun:
    """Build the plan, check the parameters and refuse what the engine would run differently (the
    Spark lint); raise the first problem found."""
    plan = build_plan(project, pipeline)
    checked = coerce_params(plan.source.config.params, params, pipeline)
    for template in path_templates(plan):  # a path parameter leading out of its folder, before queuing
        bind_path_inside(template, checked, project.root)
    refuse_engine_differences(project, plan, engine)
    return PreparedRun(plan=plan, params=checked)


def prepared_for(project: Project, run: RunRecord) -> PreparedRun | None:
    """What executing an existing run here needs, from the run as recorded; None unless it is still queued."""
    if run.status != RunStatus.QUEUED:
        return None
    return prepare(project, run.pipeline, run.params, engine=engine_of(project, run.options))


def submit_run(
    project: Project,
    ledger: Ledger,
    pipeline: str,
    params: dict[str, str] | None = None,
    *,
    requested_by: str,
    trigger_kind: str = "manual",
    trigger_key: str | None = None,
    options: dict[str, Any] | None = None,
    request_id: str | None = None,
    from_step: str | None = None,
    reprocess: bool = False,
    select: str | None = None,
    exclude: str | None = None,
    here: bool = False,
) -> Submitted:
    """Validate and queue a run (see ``Workspace.submit``); bad input fails before anything is queued.

    With ``here`` the run is created claimed for this process, which executes it next.
    """
    given = params or {}
    refuse_literal_params(given)
    options = dict(options or {})
    engine = engine_of(project, options)
    refuse_environment_engine(project, engine)
    prepared = prepare(project, pipeline, given, engine=engine)

    def modified() -> set[str]:  # what `state:modified` selects: the steps the fingerprint plan says would run
        return modified_steps(plan_changes(project, ledger, prepared.plan, prepared.params, engine=engine))

    options.update(selection_options(prepared.plan, select=select, exclude=exclude, from_step=from_step,
                                     modified=modified))
    if reprocess:
        options["reprocess"] = True
    if request_id is not None:
        if not request_id.strip():
            raise ParamError("--request-id must not be empty", hint="pass an id unique to this request")
        trigger_key = manual_key(pipeline, request_id.strip(), project.environment)  # one id, one run per environment
    record, created = ledger.create_run(pipeline, trigger_kind=trigger_kind, trigger_key=trigger_key, params=given,
                                        options=options, requested_by=requested_by,
                                        owner=this_process() if here else None, environment=project.environment)
    if request_id is not None and not created and record.environment != project.environment:  # an old key: no env in it
        raise ParamError(f"request id {request_id!r} already started run {record.run_id} of {pipeline} in environment "
                         f"`{record.environment}`, not in `{project.environment}`",
                         hint="use another --request-id for this environment")
    # a run the key started before was maybe asked for with other parameters: prepare it as it was recorded
    return Submitted(record, created, prepared if created else prepared_for(project, record))


def resume_run(project: Project, ledger: Ledger, parent: RunRecord, *, requested_by: str,
               here: bool = False) -> Submitted:
    """Queue a run continuing ``parent`` from its first unfinished step (see ``Workspace.resume``);
    with ``here``, created claimed for this process.

    A run is resumed once: asking again returns the run that resumed it (not new) while it is
    queued or running, and is refused once that run has finished (resume that one instead).
    """
    existing = ledger.run_by_trigger_key(resume_key(parent.run_id))
    if existing is not None:
        if not existing.finished:
            return Submitted(existing, False, prepared_for(project, existing))
        raise ParamError(
            f"run {parent.run_id} was already resumed by run {existing.run_id}, which {existing.status}",
            hint=f"resume that one instead: `flowdeck run --resume {existing.run_id}`"
            if existing.status in RUN_RESUMABLE else f"see it with `flowdeck show {existing.run_id}`",
        )
    if parent.status == RunStatus.RUNNING:  # a run whose process died is resumable at once: notice it now
        reap_dead_runs(ledger)
        parent = ledger.get_run(parent.run_id) or parent
    if parent.status not in RUN_RESUMABLE:
        hint = (f"to run it again from a step: `flowdeck run {parent.pipeline} --from STEP`"
                if parent.status == RunStatus.SUCCEEDED else f"wait for it to finish: `flowdeck logs {parent.run_id} -f`")
        raise ParamError(f"run {parent.run_id} {parent.status}; only a failed, abandoned or canceled run can be "
                         "resumed", hint=hint)
    # a pipeline broken since then fails here, before anything is queued
    prepared = prepare(project, parent.pipeline, parent.params, engine=engine_of(project, parent.options))
    record, created = ledger.create_run(
        parent.pipeline,
        trigger_kind="resume",
        trigger_key=resume_key(parent.run_id),
        params=parent.params,
        options={**parent.options, "resume_of": parent.run_id},
        requested_by=requested_by,
        parent_run_id=parent.run_id,
        owner=this_process() if here else None,
        environment=parent.environment,  # a resumed run goes on where its parent wrote
    )
    return Submitted(record, created, prepared if created else prepared_for(project, record))


def refuse_environment_engine(project: Project, engine: str) -> None:
    """A development environment is a DuckDB warehouse reading prod's file: refuse another engine there."""
    if project.environment != PROD and engine != "duckdb":
        raise ParamError(f"environment `{project.environment}` runs on DuckDB; --engine {engine} runs in prod only",
                         hint=f"drop --engine, or run in prod: `--env {PROD}`")


def selection_options(plan: Plan, *, select: str | None, exclude: str | None, from_step: str | None,
                      modified: Modified | None = None) -> dict[str, Any]:
    """The run options that record a selection: the expressions as given and the steps they resolve to
    (``selected_steps``, what the executor runs); nothing when the run covers every step.

    ``--from STEP`` is ``--select STEP+`` (with its own error for an unknown step); the two do not
    go together. ``modified`` gives the steps `state:modified` selects (asked only if an expression says so).
    """
    if from_step is not None and select is not None:
        raise ParamError("--from STEP is --select STEP+: give one or the other",
                         hint=f"for example --select '{from_step}+ {select}' for both")
    options: dict[str, Any] = {}
    if from_step is not None:
        options["from_step"] = step_of(plan, from_step)
        select = f"{options['from_step']}+"
    elif select is not None:
        options["select"] = select
    if exclude is not None:
        options["exclude"] = exclude
    if select is not None or exclude is not None:
        options["selected_steps"] = select_steps(plan, select, exclude, modified=modified)
    return options


def step_of(plan: Plan, name: str) -> str:
    """``name`` if the plan has such a step; else the error naming the closest one and the steps there are."""
    if name in plan.steps:
        return name
    close = difflib.get_close_matches(name, list(plan.steps), n=1)
    raise NotFound(
        f"pipeline `{plan.name}` has no step `{name}`",
        hint=(f"did you mean `{close[0]}`? " if close else "") + f"its steps: {', '.join(plan.order)}",
    )


def refuse_literal_params(params: dict[str, str]) -> None:
    """Run parameters are stored in the ledger as given: a credential must come as a reference."""
    for name, value in params.items():
        problem = literal_param_problem(name, str(value))
        if problem:
            raise ParamError(f"--param {name}: {problem.replace('in YAML', 'in run parameters')}",
                             hint=f"store it with `flowdeck secrets set NAME` and pass --param '{name}=${{secret:NAME}}'")
