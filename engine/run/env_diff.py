"""`flowdeck env diff`: each table an environment built, compared with prod's current version of it.

Per table: columns added, removed or retyped; rows on each side; and a sample of the rows that differ.
When the step declares a key (its `unique_key`, else the columns of its `unique` check) rows are matched
by it: rows whose key only one side has, and rows of one key whose values differ (with the columns that
do); otherwise the two tables are compared as multisets of rows on the columns both have. Both
warehouses are only read: prod is opened read-only for as long as the comparison takes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowdeck.engine.backends.base import Backend
from flowdeck.engine.plan.planner import PlannedStep
from flowdeck.engine.project.config.steps import IncrementalStep
from flowdeck.engine.project.project import Project
from flowdeck.engine.run.env_warehouses import (
    EnvOutput,
    OnWait,
    built_outputs,
    environment,
    open_beside_prod,
    steps_by_output,
)
from flowdeck.engine.sql.render import identifier

_TOTAL = "__fd_total"


@dataclass(frozen=True)
class ColumnChange:
    """A column one side has and the other has not, or has with another type."""

    column: str
    change: str  # added (only in the environment) | removed (only in prod) | retyped
    env_type: str | None
    prod_type: str | None

    def to_json(self) -> dict[str, Any]:
        """As `env diff --json` shows it."""
        return {"column": self.column, "change": self.change, "env_type": self.env_type, "prod_type": self.prod_type}


@dataclass
class TableDiff:
    """One table of the environment against prod's: its schema, rows and the rows that differ (a sample)."""

    output: str
    pipeline: str | None
    step: str | None
    env_rows: int
    prod_rows: int | None  # None: prod has no such table
    columns: list[ColumnChange] = field(default_factory=list)
    key: list[str] = field(default_factory=list)  # empty: compared as multisets of rows
    compared_on: list[str] = field(default_factory=list)
    only_in_env: int = 0
    only_in_prod: int = 0
    changed: int = 0  # rows of one key whose values differ (keyed only)
    sample_only_in_env: list[dict[str, Any]] = field(default_factory=list)
    sample_only_in_prod: list[dict[str, Any]] = field(default_factory=list)
    sample_changed: list[dict[str, Any]] = field(default_factory=list)  # {"key": {...}, "changes": {col: {prod, env}}}

    @property
    def identical(self) -> bool:
        """Whether prod's table holds exactly these rows and columns."""
        return self.prod_rows is not None and not self.columns and not (self.only_in_env or self.only_in_prod
                                                                          or self.changed)

    def to_json(self) -> dict[str, Any]:
        """As `env diff --json` shows it."""
        return {
            "table": self.output, "pipeline": self.pipeline, "step": self.step, "in_prod": self.prod_rows is not None,
            "identical": self.identical, "env_rows": self.env_rows, "prod_rows": self.prod_rows,
            "columns": [change.to_json() for change in self.columns],
            "matched_by": self.key or None, "compared_on": self.compared_on,
            "only_in_env": self.only_in_env, "only_in_prod": self.only_in_prod, "changed": self.changed,
            "sample": {"only_in_env": self.sample_only_in_env, "only_in_prod": self.sample_only_in_prod,
                       "changed": self.sample_changed},
        }


@dataclass
class EnvDiff:
    """Every table an environment built, against prod."""

    environment: str
    tables: list[TableDiff]

    def to_json(self) -> dict[str, Any]:
        """As `env diff --json` shows it."""
        return {"environment": self.environment, "tables": [table.to_json() for table in self.tables]}


def diff_environment(project: Project, name: str, *, sample: int = 5, wait: float | None = None,
                     on_wait: OnWait | None = None) -> EnvDiff:
    """Compare every table environment ``name`` built with prod's current version of it (``sample`` differing
    rows of each kind at most)."""
    env = environment(project, name)
    steps = steps_by_output(project)
    backend = open_beside_prod(project, env, read_only=True, wait=wait, on_wait=on_wait)
    try:
        tables: list[TableDiff] = []
        for built in built_outputs(backend):
            plan, step = steps.get(built.output) or (None, None)  # (a pipeline since made invalid: no key known)
            tables.append(diff_table(backend, built, step, plan.name if plan else None, sample=sample))
        return EnvDiff(environment=name, tables=tables)
    finally:
        backend.close()


def unique_key(step: PlannedStep | None) -> list[str]:
    """The columns that identify a row of a step's output: its `unique_key`, else its `unique` check's columns."""
    if step is None:
        return []
    if isinstance(step.config, IncrementalStep) and step.config.unique_key:
        return list(step.config.unique_key)
    for check in step.checks:
        if check.spec.unique:
            return list(check.spec.unique)
    return []


def diff_table(backend: Backend, built: EnvOutput, step: PlannedStep | None, pipeline: str | None, *,
               sample: int) -> TableDiff:
    """One table of the environment against prod's table of the same name."""
    env_columns = dict(backend.columns(built.relation))
    env_rows = _count(backend, built.relation)
    found = TableDiff(output=built.output, pipeline=pipeline, step=step.name if step else built.marker.step,
                      env_rows=env_rows, prod_rows=None)
    if not backend.table_exists(built.output):
        found.only_in_env = env_rows
        found.compared_on = list(env_columns)
        found.sample_only_in_env = _rows(backend, f"SELECT * FROM {built.relation}", sample)[1]
        return found
    prod = identifier(built.output)
    prod_columns = dict(backend.columns(prod))
    found.prod_rows = _count(backend, prod)
    found.columns = [ColumnChange(c, "added", env_columns[c], None) for c in env_columns if c not in prod_columns]
    found.columns += [ColumnChange(c, "removed", None, prod_columns[c]) for c in prod_columns if c not in env_columns]
    found.columns += [ColumnChange(c, "retyped", env_columns[c], prod_columns[c]) for c in env_columns
                      if c in prod_columns and env_columns[c] != prod_columns[c]]
    common = [c for c in env_columns if c in prod_columns]
    found.compared_on = common
    key = [c for c in unique_key(step) if c in common]
    if key and len(key) == len(unique_key(step)):
        _diff_by_key(backend, found, built.relation, prod, key, common, env_columns, prod_columns, sample)
    else:
        _diff_as_multisets(backend, found, built.relation, prod, common, sample)
    return found


def _diff_by_key(backend: Backend, found: TableDiff, env: str, prod: str, key: list[str], common: list[str],
                 env_types: dict[str, str], prod_types: dict[str, str], sample: int) -> None:
    found.key = key
    same_key = " AND ".join(f"p.{identifier(k)} IS NOT DISTINCT FROM e.{identifier(k)}" for k in key)
    found.only_in_env, found.sample_only_in_env = _rows(
        backend, f"SELECT e.* FROM {env} AS e WHERE NOT EXISTS (SELECT 1 FROM {prod} AS p WHERE {same_key})", sample)
    found.only_in_prod, found.sample_only_in_prod = _rows(
        backend, f"SELECT p.* FROM {prod} AS p WHERE NOT EXISTS (SELECT 1 FROM {env} AS e WHERE {same_key})", sample)
    values = [c for c in common if c not in key]
    if not values:
        return

    def side(alias: str, column: str) -> str:  # a retyped column is compared as text
        expression = f"{alias}.{identifier(column)}"
        return f"CAST({expression} AS VARCHAR)" if env_types[column] != prod_types[column] else expression

    differs = " OR ".join(f"{side('e', c)} IS DISTINCT FROM {side('p', c)}" for c in values)
    selected = ", ".join([f"e.{identifier(k)} AS {identifier('k:' + k)}" for k in key] +
                         [f"p.{identifier(c)} AS {identifier('p:' + c)}, e.{identifier(c)} AS {identifier('e:' + c)}"
                          for c in values])
    found.changed, rows = _rows(backend, f"SELECT {selected} FROM {env} AS e JOIN {prod} AS p ON {same_key} "
                                         f"WHERE {differs}", sample)
    for row in rows:
        changes = {c: {"prod": row[f"p:{c}"], "env": row[f"e:{c}"]} for c in values
                   if str(row[f"p:{c}"]) != str(row[f"e:{c}"]) or (row[f"p:{c}"] is None) != (row[f"e:{c}"] is None)}
        found.sample_changed.append({"key": {k: row[f"k:{k}"] for k in key}, "changes": changes})


def _diff_as_multisets(backend: Backend, found: TableDiff, env: str, prod: str, common: list[str],
                       sample: int) -> None:
    if not common:
        found.only_in_env, found.only_in_prod = found.env_rows, found.prod_rows or 0
        return
    columns = ", ".join(identifier(c) for c in common)
    found.only_in_env, found.sample_only_in_env = _rows(
        backend, f"SELECT {columns} FROM {env} EXCEPT ALL SELECT {columns} FROM {prod}", sample)
    found.only_in_prod, found.sample_only_in_prod = _rows(
        backend, f"SELECT {columns} FROM {prod} EXCEPT ALL SELECT {columns} FROM {env}", sample)


def _count(backend: Backend, relation: str) -> int:
    result = backend.query(f"SELECT count(*) FROM {relation}", limit=1)
    return int(result.rows[0][0])


def _rows(backend: Backend, sql: str, sample: int) -> tuple[int, list[dict[str, Any]]]:
    """How many rows ``sql`` gives, and the first ``sample`` of them in a stable order."""
    result = backend.query(f"SELECT *, count(*) OVER () AS {_TOTAL} FROM ({sql}) AS found ORDER BY ALL "
                           f"LIMIT {max(int(sample), 1)}", limit=max(sample, 1))
    if not result.rows:
        return 0, []
    total = int(result.rows[0][-1])
    return total, [dict(zip(result.columns[:-1], row[:-1])) for row in result.rows[:sample]]
