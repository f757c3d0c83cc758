"""Describing pipelines for people and tools: the listing's JSON and drawings of the DAG."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.plan.follow import current_follow_status
from flowdeck.engine.plan.slots import next_scheduled_at
from flowdeck.engine.project.config.pipeline import AfterTrigger, PipelineConfig
from flowdeck.engine.project.config.steps import CheckStep, ExtractStep, LoadStep, TransformStep
from flowdeck.engine.project.project import PipelineSource, Project
from flowdeck.engine.units import counted
from flowdeck.state import Ledger, RunRecord

if TYPE_CHECKING:  # listing pipelines must not load sqlglot; drawing a plan gets one already built
    from flowdeck.engine.plan.planner import Plan


@dataclass(frozen=True)
class PipelineSummary:
    """One line of the console's pipeline list: how it is triggered, when next, how it last went."""

    name: str
    valid: bool
    error: str | None
    description: str | None
    trigger: str
    next_run_at: float | None
    last_run: RunRecord | None
    params: dict[str, str | None]  # name -> default (None when required or without default)
    schedule_timezone: str | None = None  # the IANA zone its cron is read in (a schedule's next time is in it)
    needs_daemon: bool = False  # scheduled or triggered: nothing starts it while no daemon runs


def pipeline_summaries(project: Project, ledger: Ledger, now: float) -> list[PipelineSummary]:
    """Every pipeline with its trigger, next scheduled time and last run; invalid ones included."""
    summaries: list[PipelineSummary] = []
    for name in project.pipeline_names():
        last_run = ledger.last_run_of(name)
        try:
            source = project.pipeline(name)
        except FlowdeckError as error:
            summaries.append(summarize_pipeline(name, None, error.what, last_run, now))
            continue
        summaries.append(summarize_pipeline(name, source, None, last_run, now))
    return summaries


def summarize_pipeline(name: str, source: PipelineSource | None, error: str | None,
                       last_run: RunRecord | None, now: float) -> PipelineSummary:
    """The summary of one pipeline; an invalid one (``source`` None) keeps its first error line."""
    if source is None:
        return PipelineSummary(name=name, valid=False, error=error, description=None, trigger="?",
                               next_run_at=None, last_run=last_run, params={})
    config = source.config
    return PipelineSummary(
        name=name,
        valid=True,
        error=None,
        description=(config.description or "").strip() or None,
        trigger=trigger_text(config),
        next_run_at=next_scheduled_at(config.schedule, now) if config.schedule else None,
        last_run=last_run,
        params={param: None if spec.default is None else str(spec.default) for param, spec in config.params.items()},
        schedule_timezone=config.schedule.timezone if config.schedule else None,
        needs_daemon=config.schedule is not None or bool(config.triggers),  # files and `after:` both need it
    )


def trigger_text(config: PipelineConfig) -> str:
    """How a pipeline starts, in a few words: ``cron 0 6 * * *``, ``every 15m``, ``files landing/*.csv``,
    ``after orders, customers``."""
    parts: list[str] = []
    if config.schedule is not None:
        if config.schedule.cron:
            parts.append(f"cron {config.schedule.cron}")
        elif config.schedule.interval:
            parts.append(f"every {_short_duration(config.schedule.interval.total_seconds())}")
    for trigger in config.triggers:
        if isinstance(trigger, AfterTrigger):
            parts.append("after " + ", ".join(trigger.after))
        else:
            parts.append(f"files {trigger.folder.rstrip('/')}/{','.join(trigger.patterns)}")
    return "; ".join(parts) or "manual"


def _short_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def describe_pipeline(source: PipelineSource, ledger: Ledger | None = None) -> dict[str, Any]:
    """The documented JSON object of ``flowdeck pipelines --json`` (from the YAML; no SQL parsed); with the
    ``ledger``, what each ``after:`` trigger still waits for."""
    config = source.config
    steps = []
    for step in config.steps:
        output = None
        if isinstance(step, (ExtractStep, TransformStep)):
            output = (step.output or step.name).lower()
        steps.append({
            "name": step.name,
            "kind": step.kind,
            "output": output,
            "materialized": step.materialized if isinstance(step, (ExtractStep, TransformStep)) else None,
            "reads": step.table if isinstance(step, (CheckStep, LoadStep)) else None,
            "mask": dict(step.mask) if isinstance(step, (ExtractStep, TransformStep)) else {},
            "tags": list(step.tags),
        })
    schedule = None
    if config.schedule is not None:
        schedule = {
            "cron": config.schedule.cron,
            "interval_seconds": config.schedule.interval.total_seconds() if config.schedule.interval else None,
            "timezone": config.schedule.timezone,
        }
    return {
        "name": source.name,
        "valid": True,
        "description": (config.description or "").strip() or None,
        "params": {name: {"type": spec.type, "default": spec.default, "required": spec.required}
                   for name, spec in config.params.items()},
        "steps": steps,
        "schedule": schedule,
        "triggers": [{"folder": t.folder, "patterns": list(t.patterns), "settle_seconds": t.settle.total_seconds()}
                     for t in config.file_triggers],
        "after": [_after_json(source.name, trigger, ledger) for trigger in config.after_triggers],
    }


def _after_json(pipeline: str, trigger: AfterTrigger, ledger: Ledger | None) -> dict[str, Any]:
    """An ``after:`` trigger and the upstreams it waits for (None: no daemon has taken it in yet)."""
    status = current_follow_status(ledger, pipeline, trigger) if ledger is not None else None
    return {"pipelines": list(trigger.after), "waiting_for": status.waiting_for if status is not None else None}


def levels(plan: Plan) -> list[list[str]]:
    """Steps grouped by depth: level 0 reads nothing upstream, level n waits for level n-1."""
    depth: dict[str, int] = {}
    for name in plan.order:
        upstream = plan.steps[name].upstream
        depth[name] = 1 + max((depth[up] for up in upstream), default=-1)
    grouped: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for name in plan.order:
        grouped[depth[name]].append(name)
    return grouped


def _label(plan: Plan, name: str) -> str:
    step = plan.steps[name]
    kind = step.kind
    if isinstance(step.config, TransformStep) and step.config.materialized == "view":
        kind = "view"
    mask = getattr(step.config, "mask", None)  # the step kinds that publish a table have one
    return f"{name} ({kind})" + (f" {mask_label(mask)}" if mask else "")


def mask_label(policy: Mapping[str, str]) -> str:
    """``[masks email:hash, ssn:redact]``: where an auditor sees PII stop being readable."""
    return "[masks " + ", ".join(f"{column}:{method}" for column, method in policy.items()) + "]"


def follow_lines(plan: Plan, followed_by: list[str]) -> list[str]:
    """How the pipeline sits among others: ``runs after a, b (once each has published)``, ``followed by c``."""
    lines = [f"runs after {', '.join(trigger.after)} (once each has published)"
             for trigger in plan.source.config.after_triggers]
    if followed_by:
        lines.append(f"followed by {', '.join(followed_by)} (they run after it publishes)")
    return lines


def graph_text(plan: Plan, marks: dict[str, str] | None = None, followed_by: list[str] | None = None) -> str:
    """The DAG drawn level by level for a terminal (rich markup); ``marks`` prefix steps (e.g. last status);
    ``followed_by`` names the pipelines whose ``after:`` lists this one."""
    lines = [f"[bold]{plan.name}[/] — {counted(len(plan.steps), 'step')}"]
    lines.extend(f"[dim]{line}[/]" for line in follow_lines(plan, followed_by or []))
    for depth, names in enumerate(levels(plan)):
        if depth:
            lines.append("   │")
            lines.append("   ▼")
        for name in names:
            upstream = sorted(plan.steps[name].upstream, key=lambda n: plan.steps[n].index)
            feeds = f"  [dim]◂ {', '.join(upstream)}[/]" if upstream else ""
            label, _, masks = _label(plan, name).partition(" [masks")
            masks = f" [yellow]\\[masks{masks}[/]" if masks else ""  # rich markup: a literal [ is escaped
            mark = f"{marks[name]} " if marks and name in marks else ""
            lines.append(f" {depth + 1:>2} {mark}[bold]{label}[/]{masks}{feeds}")
    return "\n".join(lines)


def graph_json(plan: Plan, followed_by: list[str] | None = None) -> dict[str, Any]:
    """The DAG as data (`flowdeck graph --json`): each step in run order with its level (1 first, as
    `graph` draws them), kind, output table and the steps it waits for; the pipelines it runs after
    (one list per ``after:`` trigger) and those that run after it."""
    level_of = {name: depth + 1 for depth, names in enumerate(levels(plan)) for name in names}
    return {
        "pipeline": plan.name,
        "after": [list(trigger.after) for trigger in plan.source.config.after_triggers],
        "followed_by": list(followed_by or []),
        "steps": [{"name": name, "kind": plan.steps[name].kind, "level": level_of[name],
                   "output": plan.steps[name].output,
                   "upstream": sorted(plan.steps[name].upstream, key=lambda n: plan.steps[n].index)}
                  for name in plan.order],
    }


def graph_mermaid(plan: Plan, followed_by: list[str] | None = None) -> str:
    """The DAG as a Mermaid flowchart (how it follows other pipelines as comments)."""
    lines = ["flowchart LR", *(f"    %% {line}" for line in follow_lines(plan, followed_by or []))]
    for name in plan.order:
        lines.append(f'    {name}["{_label(plan, name)}"]')
    for name in plan.order:
        for upstream in sorted(plan.steps[name].upstream):
            lines.append(f"    {upstream} --> {name}")
    return "\n".join(lines)


def graph_dot(plan: Plan, followed_by: list[str] | None = None) -> str:
    """The DAG in Graphviz dot (how it follows other pipelines as comments)."""
    lines = [f'digraph "{plan.name}" {{', *(f"    // {line}" for line in follow_lines(plan, followed_by or [])),
             "    rankdir=LR;", "    node [shape=box];"]
    for name in plan.order:
        lines.append(f'    "{name}" [label="{_label(plan, name)}"];')
    for name in plan.order:
        for upstream in sorted(plan.steps[name].upstream):
            lines.append(f'    "{upstream}" -> "{name}";')
    lines.append("}")
    return "\n".join(lines)
