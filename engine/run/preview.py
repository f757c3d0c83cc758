"""What a run of a pipeline would do, without queuing it: ``flowdeck plan`` and the console before a launch.

The pipeline and its parameters are checked exactly as submitting a run checks them (so a plan
is refused for what a run would be refused for), then every step is judged by its fingerprint.
A transform whose query changed is classified breaking or non-breaking (engine/plan/breaking.py),
against the columns `flowdeck validate` knows (engine/steps/source_columns.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowdeck.engine.plan.breaking import SqlChange, classify_change
from flowdeck.engine.plan.changes import StepChange, modified_steps, plan_changes
from flowdeck.engine.plan.planner import Plan
from flowdeck.engine.plan.selection import named_steps, select_steps
from flowdeck.engine.project.project import Project
from flowdeck.engine.run.backend_factory import engine_of
from flowdeck.engine.run.submit import prepare, refuse_environment_engine, refuse_literal_params
from flowdeck.state import Ledger

QUERY_SEPARATOR = "\n;\n"  # between a step's canonical query and its checks' (engine/plan/fingerprint.py)


@dataclass(frozen=True)
class RunPreview:
    """A pipeline's plan, the parameters a run would get, and what it would do with each step."""

    plan: Plan
    params: dict[str, Any]
    engine: str
    force: bool
    changes: dict[str, StepChange]
    sql_changes: dict[str, SqlChange] = field(default_factory=dict)  # transforms whose query changed
    selected: list[str] = field(default_factory=list)  # the steps a run would cover (--select/--exclude), plan order
    select: str | None = None
    exclude: str | None = None

    @property
    def steps(self) -> list[str]:
        """The steps the run would cover, in plan order: the selected ones, else every step."""
        return self.selected or self.plan.order

    def reasons(self, step: str) -> tuple[str, ...]:
        """Why a run would run ``step``, in words (`flowdeck plan`, the console's launch dialog): a changed
        query also says whether it breaks the steps and checks that read it."""
        change = self.changes[step]
        sql_change = self.sql_changes.get(step)
        if sql_change is None:
            return change.reasons
        return tuple(f"{reason} ({sql_change.describe()})" if reason == "SQL changed" else reason
                     for reason in change.reasons)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON of ``flowdeck plan --json``."""
        steps = [{"kind": self.plan.steps[name].kind, **self.changes[name].to_json(), "runs": self.changes[name].runs,
                  "sql_change": _sql_change_json(self.sql_changes.get(name))}
                 for name in self.steps]
        running = sum(1 for step in steps if step["runs"])
        return {"pipeline": self.plan.name, "params": self.params, "engine": self.engine, "force": self.force,
                "select": self.select, "exclude": self.exclude,
                "steps": steps, "summary": {"run": running, "unchanged": len(steps) - running}}


def preview_run(project: Project, ledger: Ledger, pipeline: str, params: dict[str, str] | None = None, *,
                force: bool = False, engine: str | None = None, select: str | None = None,
                exclude: str | None = None) -> RunPreview:
    """What ``flowdeck run PIPELINE`` with these parameters and options would do now, step by step
    (only the steps ``select``/``exclude`` pick, when given: engine/plan/selection.py)."""
    given = params or {}
    refuse_literal_params(given)
    chosen = engine_of(project, {"engine": engine} if engine else None)
    refuse_environment_engine(project, chosen)
    prepared = prepare(project, pipeline, given, engine=chosen)
    changes = plan_changes(project, ledger, prepared.plan, prepared.params, engine=chosen)
    selected: list[str] = []
    if select is not None or exclude is not None:
        selected = select_steps(prepared.plan, select, exclude, modified=lambda: modified_steps(changes))
    named = named_steps(select, selected)
    if force or named:  # judged again as the run would: forced, or its steps named by --select rebuilt
        changes = plan_changes(project, ledger, prepared.plan, prepared.params, force=force, engine=chosen,
                               forced_steps={name: "selected by name (--select)" for name in named} or None)
    return RunPreview(plan=prepared.plan, params=prepared.params, engine=chosen, force=force, changes=changes,
                      sql_changes=sql_changes(project, prepared.plan, changes), selected=selected, select=select,
                      exclude=exclude)


def sql_changes(project: Project, plan: Plan, changes: dict[str, StepChange]) -> dict[str, SqlChange]:
    """Each transform whose query is not the one its current output was built by, classified."""
    changed = {}
    for name, change in changes.items():
        if plan.steps[name].query is None or plan.steps[name].kind != "transform" or not change.previous_sql or not change.sql:
            continue
        previous = change.previous_sql.split(QUERY_SEPARATOR)[0]  # the step's query; its checks' follow
        if previous != change.sql.split(QUERY_SEPARATOR)[0]:
            changed[name] = previous
    if not changed:
        return {}
    from flowdeck.engine.steps.source_columns import check_columns

    columns = check_columns(project, plan)
    return {name: classify_change(plan, name, previous, columns, project.analysis_cache)
            for name, previous in changed.items()}


def _sql_change_json(change: SqlChange | None) -> dict[str, Any] | None:
    if change is None:
        return None
    return {"kind": change.kind, "removed": list(change.removed), "added": list(change.added),
            "retyped": list(change.retyped),
            "readers": [{"reader": reader, "column": column} for reader, column in change.readers]}
