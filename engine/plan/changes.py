"""What a run of a pipeline would do, step by step, and why: the plan ``flowdeck plan`` shows and the run follows.

Each step's fingerprint (engine/plan/fingerprint.py) is compared with the one recorded with its
current output (the publish whose data its table holds, or, for a check or a load, its last
succeeded run). A step is ``unchanged`` when the two are equal, it is deterministic and nothing
upstream of it runs: the run reuses that output and writes nothing. Otherwise it runs, for the
reasons given in plain words: ``new``, ``changed`` (which component), ``forced`` (``--force``,
``always_run``), ``non-deterministic`` (``now()``...), or ``incremental`` (it reads only what is new,
by its own delta logic).

In a development environment (``project.environment`` is not prod, docs/environments.md) a step's
current output is the environment's own version, else prod's: a step whose fingerprint equals
prod's current version is ``unchanged`` with ``from_prod`` set, and the environment reads prod's
table instead of building one; the tables it reads count with the data of the version the
environment reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from flowdeck.engine.plan.fingerprint import StepParts, engine_label, step_parts, table_tokens, token_of, version_of
from flowdeck.engine.plan.planner import Plan, PlannedStep
from flowdeck.engine.project.checksums import sha256_of
from flowdeck.engine.project.config.steps import FileTarget, LoadStep
from flowdeck.engine.project.project import PROD, Project
from flowdeck.state import Ledger
from flowdeck.state.records import CommitRecord, StepVersion

STATUSES = ("new", "changed", "unchanged", "forced", "non-deterministic", "incremental")


@dataclass(frozen=True)
class StepChange:
    """What a run would do with one step, and why."""

    step: str
    status: str  # "new" | "changed" | "unchanged" | "forced" | "non-deterministic" | "incremental"
    reasons: tuple[str, ...]
    fingerprint: str | None
    previous_sql: str | None = None  # the canonical SQL of the current version (for the breaking-change classifier)
    sql: str | None = None  # the canonical SQL the step has now
    previous_run: str | None = None  # the run whose output is current: what an unchanged step reuses
    rows: int | None = None  # the current output's rows
    upstream_only: bool = False  # runs only because steps upstream run: unchanged if they publish nothing new
    version: StepVersion | None = None  # the fingerprint and what it is made of (with the tables' data as it is now)
    previous_fingerprint: str | None = None
    parts: StepParts | None = field(default=None, repr=False, compare=False)  # to fingerprint it again mid-run
    from_prod: bool = False  # unchanged since prod's version: a development environment reads prod's table

    @property
    def runs(self) -> bool:
        """Whether the run executes the step."""
        return self.status != "unchanged"

    @property
    def reads_prod(self) -> bool:
        """Whether a development environment reads this step's output from prod rather than build it."""
        return self.from_prod and not self.runs

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object of one step of a plan (``flowdeck plan --json``)."""
        return {"step": self.step, "status": self.status, "reasons": list(self.reasons),
                "fingerprint": self.fingerprint, "previous_run": self.previous_run, "from_prod": self.reads_prod}


@dataclass(frozen=True)
class _Previous:
    version: StepVersion | None
    run_id: str
    rows: int | None
    fingerprint: str | None
    from_prod: bool = False


@dataclass(frozen=True)
class EnvironmentVersions:
    """Where a development environment's tables are: its own warehouse's versions, else prod's."""

    environment: str
    warehouse_id: str | None  # the environment's warehouse (None: nothing published there yet)
    prod_warehouse_id: str | None  # prod's (None: prod has published nothing)

    def commit(self, ledger: Ledger, output: str) -> tuple[CommitRecord | None, bool]:
        """The version of ``output`` the environment reads, and whether it is prod's."""
        return ledger.environment_output_commit(output, self.environment, self.warehouse_id, self.prod_warehouse_id)


def environment_versions(project: Project, ledger: Ledger, warehouse_id: str | None = None,
                         prod_warehouse_id: str | None = None) -> EnvironmentVersions | None:
    """How ``project``'s environment finds its tables' versions (None in prod, where a warehouse is enough);
    warehouse ids not given are those the environments last published into."""
    if project.environment == PROD:
        return None
    return EnvironmentVersions(environment=project.environment,
                               warehouse_id=warehouse_id or ledger.warehouse_of(project.environment),
                               prod_warehouse_id=prod_warehouse_id or ledger.warehouse_of(PROD))


def prod_warehouse(ledger: Ledger) -> str | None:
    """The warehouse prod's versions are in, for a plan made without opening it: never a development
    environment's (None: any warehouse, as before environments, when no environment but prod has runs)."""
    found = ledger.warehouse_of(PROD)
    if found is None and any(name != PROD for name, _, _ in ledger.environments()):
        return "none"  # prod has published nothing: what a development environment built is not prod's
    return found


def plan_changes(project: Project, ledger: Ledger, plan: Plan, params: Mapping[str, Any], *, force: bool = False,
                 engine: str | None = None, warehouse_id: str | None = None,
                 forced_steps: Mapping[str, str] | None = None,
                 prod_warehouse_id: str | None = None,
                 parts: Mapping[str, StepParts] | None = None) -> dict[str, StepChange]:
    """Every step of ``plan`` (in plan order) with what a run would do with it and why.

    ``params`` are the run's checked parameters (engine/run/submit.py ``prepare``); ``warehouse_id``
    names the warehouse whose versions count (None: the one each table was last published in; in a
    development environment, the environment's, with prod's, ``prod_warehouse_id``, under it);
    ``forced_steps`` are steps run whatever their fingerprint says, each with why (``--from STEP``);
    ``parts`` are steps' ``step_parts`` taken already with the same parameters (``all_step_parts``).
    """
    engine = engine or project.config.engine
    if warehouse_id is None and project.environment == PROD:
        warehouse_id = prod_warehouse(ledger)
    environment = environment_versions(project, ledger, warehouse_id, prod_warehouse_id)
    changes: dict[str, StepChange] = {}
    producers = plan.outputs()
    for name in plan.order:
        step = plan.steps[name]
        taken = (parts or {}).get(name) or step_parts(project, ledger, plan, step, params, engine)
        # a table this run is about to read from prod counts with prod's data, whatever the env built before
        from_prod = {table for table in taken.reads
                     if producers.get(table) in changes and changes[producers[table]].reads_prod}
        tokens = read_tokens(ledger, taken.reads, warehouse_id, environment, from_prod)
        version = version_of(plan.name, name, taken, tokens)
        changes[name] = judge(project, ledger, plan, step, taken, version, changes, force=force,
                              warehouse_id=warehouse_id, forced_why=(forced_steps or {}).get(name),
                              environment=environment)
    return changes


def read_tokens(ledger: Ledger, tables: tuple[str, ...], warehouse_id: str | None,
                environment: EnvironmentVersions | None, from_prod: set[str] | None = None) -> dict[str, str]:
    """What each table a step reads holds now, as the run reads it: in ``warehouse_id`` (prod), or as a
    development environment reads it (its own version, else prod's)."""
    if environment is None:
        return table_tokens(ledger, tables, warehouse_id)
    return environment_tokens(ledger, tables, environment, from_prod or set())


def environment_tokens(ledger: Ledger, tables: tuple[str, ...], environment: EnvironmentVersions,
                       from_prod: set[str]) -> dict[str, str]:
    """``table_tokens`` in a development environment: each table as the environment reads it (``from_prod``:
    tables read from prod whatever the environment holds now)."""
    tokens: dict[str, str] = {}
    for table in tables:
        if table in from_prod:
            commit = ledger.current_output_commit(table, environment.prod_warehouse_id) \
                if environment.prod_warehouse_id else None
        else:
            commit, _ = environment.commit(ledger, table)
        tokens[table] = token_of(commit)
    return tokens


def judge(project: Project, ledger: Ledger, plan: Plan, step: PlannedStep, parts: StepParts, version: StepVersion,
          decided: Mapping[str, StepChange], *, force: bool, warehouse_id: str | None,
          forced_why: str | None = None, environment: EnvironmentVersions | None = None) -> StepChange:
    """What to do with one step, given what was decided for the steps before it in plan order."""
    previous = previous_version(ledger, plan, step, warehouse_id, environment, version.fingerprint)
    base = StepChange(step=step.name, status="unchanged", reasons=(), fingerprint=version.fingerprint, sql=parts.sql,
                      version=version, parts=parts, previous_fingerprint=previous.fingerprint if previous else None,
                      previous_sql=_sql_of(previous.version) if previous else None,
                      previous_run=previous.run_id if previous else None, rows=previous.rows if previous else None,
                      from_prod=previous.from_prod if previous else False)
    if force:
        return replace(base, status="forced", reasons=("forced",))
    if forced_why is not None:
        return replace(base, status="forced", reasons=(forced_why,))
    if step.config.always_run:
        return replace(base, status="forced", reasons=("always_run: true",))
    if parts.volatile:
        return replace(base, status="non-deterministic",
                       reasons=tuple(f"non-deterministic: {why}" for why in parts.volatile))
    if previous is None:
        return replace(base, status="new", reasons=("new step",))
    reasons: list[str] = []
    if previous.fingerprint != version.fingerprint:
        reasons = explain(previous.version, version, plan.outputs())
        if previous.version is None:
            reasons = ["no fingerprint was recorded with its current output"]
    running = [up for up in sorted(step.upstream, key=lambda n: plan.steps[n].index)
               if up in decided and decided[up].runs]
    stale_reads = [r for r in reasons if r.startswith("upstream ")]
    if running:
        reasons = [r for r in reasons if not any(r.startswith(f"upstream step `{up}`") for up in running)] + \
            [f"upstream step `{up}` {_verb(decided[up])}" for up in running]
    if step.incremental:
        return replace(base, status="incremental",
                       reasons=tuple(reasons) or ("incremental: reads only what is new since it last ran",))
    if reasons:
        own = [r for r in reasons if not r.startswith("upstream step ")]
        return replace(base, status="changed", reasons=tuple(reasons), upstream_only=not own and not stale_reads)
    if isinstance(step.config, LoadStep) and isinstance(step.config.to, FileTarget) and \
            not export_intact(project, ledger, previous.run_id, step.name):
        return replace(base, status="changed", reasons=("its output file is missing or was changed",))
    return base


def _verb(change: StepChange) -> str:
    return {"new": "is new", "forced": "is forced", "non-deterministic": "is non-deterministic",
            "incremental": "is incremental"}.get(change.status, "changed")


def _sql_of(version: StepVersion | None) -> str | None:
    return version.detail.get("sql") if version is not None else None


def previous_version(ledger: Ledger, plan: Plan, step: PlannedStep, warehouse_id: str | None,
                     environment: EnvironmentVersions | None = None, fingerprint: str | None = None) -> _Previous | None:
    """The version a step's output is now: the publish its table holds, or its last succeeded run (a check,
    a load). None when it never ran.

    In a development environment: the environment's own version, unless prod's current one has the
    step's ``fingerprint`` now (then the environment reads prod's rather than keep or build its own).
    """
    if step.output is not None:
        from_prod = False
        if environment is None:
            commit = ledger.current_output_commit(step.output, warehouse_id)
        else:
            commit, from_prod = environment.commit(ledger, step.output)
            if not from_prod and (commit is None or commit.fingerprint != fingerprint) and \
                    environment.prod_warehouse_id:
                prod = ledger.current_output_commit(step.output, environment.prod_warehouse_id)
                if prod is not None and prod.fingerprint is not None and prod.fingerprint == fingerprint:
                    commit, from_prod = prod, True
        if commit is None:
            return None
        version = ledger.step_version(commit.fingerprint) if commit.fingerprint else None
        return _Previous(version=version, run_id=commit.run_id, rows=commit.rows, fingerprint=commit.fingerprint,
                         from_prod=from_prod)
    record = ledger.last_step_run(plan.name, step.name, environment.environment if environment else PROD)
    if record is None or record.fingerprint is None:
        return None
    origin = record.reused_from or record.run_id
    exports = ledger.exports_of(origin, step.name) if record.reused_from else []
    return _Previous(version=ledger.step_version(record.fingerprint), run_id=origin,
                     rows=exports[-1].rows if exports else record.rows_out, fingerprint=record.fingerprint)


def explain(previous: StepVersion | None, current: StepVersion, producers: Mapping[str, str] | None = None) -> list[str]:
    """Which components differ between two versions of a step, in plain words (``producers``: table → the
    step of the pipeline that writes it, to name the step rather than the table)."""
    if previous is None:
        return []
    before, now = previous.detail, current.detail
    if before.get("format") != now.get("format"):
        return ["the fingerprint format changed (a new flowdeck)"]
    old_parts, new_parts = before.get("components", {}), now.get("components", {})
    reasons: list[str] = []
    if old_parts.get("sql") != new_parts.get("sql"):
        reasons.append("SQL changed")
    if old_parts.get("config") != new_parts.get("config"):
        reasons.append("configuration changed")
    if old_parts.get("upstream") != new_parts.get("upstream"):
        old_up, new_up = before.get("upstream", {}), now.get("upstream", {})
        for table in sorted(set(old_up) | set(new_up)):
            if old_up.get(table) != new_up.get(table):
                producer = (producers or {}).get(table)
                reasons.append(f"upstream step `{producer}` changed" if producer else f"upstream table `{table}` changed")
    if old_parts.get("files") != new_parts.get("files"):
        old_files, new_files = before.get("files", {}), now.get("files", {})
        for path in sorted(set(old_files) | set(new_files)):
            if path not in old_files:
                reasons.append(f"new input file {path}")
            elif path not in new_files:
                reasons.append(f"input file {path} is no longer read")
            elif old_files[path] != new_files[path]:
                reasons.append(f"input file {path} changed")
    if old_parts.get("params") != new_parts.get("params"):
        old_params, new_params = before.get("params", {}), now.get("params", {})
        for name in sorted(set(old_params) | set(new_params)):
            if old_params.get(name) != new_params.get(name):
                reasons.append(f"parameter `{name}` changed")
    if old_parts.get("engine") != new_parts.get("engine"):
        reasons.append(f"engine changed (was {before.get('engine')}, now {now.get('engine')})")
    return reasons


def export_intact(project: Project, ledger: Ledger, run_id: str, step: str) -> bool:
    """Whether the file a load step wrote in run ``run_id`` is still there, byte for byte."""
    exports = ledger.exports_of(run_id, step)
    if not exports:
        return False
    path = project.resolve_path(exports[-1].path)
    try:
        return path.is_file() and sha256_of(path) == exports[-1].sha256
    except OSError:
        return False


def plan_lines(changes: Mapping[str, StepChange], names: list[str]) -> list[str]:
    """The compact plan ``flowdeck run`` prints first: a line per step that runs and why, then how many
    are unchanged."""
    new = [name for name in names if changes[name].status == "new"]  # a first run: one line, not one a step
    lines = [f"{len(new)} new step{'s' if len(new) != 1 else ''}: {', '.join(new)}"] if new else []
    lines += [f"{name}: {changes[name].status} ({'; '.join(changes[name].reasons)})" if changes[name].reasons
              else f"{name}: {changes[name].status}" for name in names if changes[name].runs and name not in new]
    unchanged = sum(1 for name in names if not changes[name].runs)
    from_prod = sum(1 for name in names if changes[name].reads_prod)
    if unchanged:
        lines.append(f"{unchanged} step{'s' if unchanged != 1 else ''} unchanged (reused, not run"
                     + (f"; {from_prod} read from prod)" if from_prod else ")"))
    return lines


def modified_steps(changes: Mapping[str, StepChange]) -> set[str]:
    """The steps a run would execute: every step that is not unchanged."""
    return {name for name, change in changes.items() if change.runs}


__all__ = ["STATUSES", "EnvironmentVersions", "StepChange", "engine_label", "environment_versions", "explain",
           "modified_steps", "plan_changes", "plan_lines", "read_tokens"]
