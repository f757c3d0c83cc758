"""What a run of a pipeline would do, without queuing it: ``flowdeck plan`` and the console before a launch.

The pipeline and its parameters are checked exactly as submitting a run checks them (so a plan
is refused for what a run would be refused for), then every step is judged by its fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flowdeck.engine.plan.changes import StepChange, plan_changes
from flowdeck.engine.plan.planner import Plan
from flowdeck.engine.project.project import Project
from flowdeck.engine.run.backend_factory import engine_of
from flowdeck.engine.run.submit import prepare, refuse_literal_params
from flowdeck.state import Ledger


@dataclass(frozen=True)
class RunPreview:
    """A pipeline's plan, the parameters a run would get, and what it would do with each step."""

    plan: Plan
    params: dict[str, Any]
    engine: str
    force: bool
    changes: dict[str, StepChange]

    def to_json(self) -> dict[str, Any]:
        """The documented JSON of ``flowdeck plan --json``."""
        steps = [{"kind": self.plan.steps[name].kind, **self.changes[name].to_json(), "runs": self.changes[name].runs}
                 for name in self.plan.order]
        running = sum(1 for step in steps if step["runs"])
        return {"pipeline": self.plan.name, "params": self.params, "engine": self.engine, "force": self.force,
                "steps": steps, "summary": {"run": running, "unchanged": len(steps) - running}}


def preview_run(project: Project, ledger: Ledger, pipeline: str, params: dict[str, str] | None = None, *,
                force: bool = False, engine: str | None = None) -> RunPreview:
    """What ``flowdeck run PIPELINE`` with these parameters and options would do now, step by step."""
    given = params or {}
    refuse_literal_params(given)
    chosen = engine_of(project, {"engine": engine} if engine else None)
    prepared = prepare(project, pipeline, given, engine=chosen)
    changes = plan_changes(project, ledger, prepared.plan, prepared.params, force=force, engine=chosen)
    return RunPreview(plan=prepared.plan, params=prepared.params, engine=chosen, force=force, changes=changes)
