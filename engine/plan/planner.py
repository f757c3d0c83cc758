"""Turn a pipeline's YAML and SQL into a plan: steps, their inputs and outputs, and the DAG.

Dependencies are inferred from the tables each query reads (sqlglot, CTEs excluded) and from
``depends_on``. Cycles, unknown tables, duplicate outputs, SQL errors and ``after:`` triggers that
name no pipeline (or close a cycle of pipelines) are found here, before anything runs, and
reported with the file, line and column they concern.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, cast

from flowdeck.engine.errors import FlowdeckError, Location, PlanError, SqlError, excerpt_of
from flowdeck.engine.project.config.steps import (
    CheckSpec,
    CheckStep,
    DatabaseSource,
    DatabaseTarget,
    ExtractStep,
    LoadStep,
    PublishingStep,
    PythonStep,
    StepBase,
    TransformStep,
)
from flowdeck.engine.plugins import registry
from flowdeck.engine.project.follows import after_problems
from flowdeck.engine.project.functions import function_exists, module_file
from flowdeck.engine.project.project import PipelineSource, Project, config_error_at
from flowdeck.engine.project.watched_folders import shared_folder_problems
from flowdeck.engine.project.textfile import read_text
from flowdeck.engine.sql.analysis import ParsedQuery, parse_query
from flowdeck.engine.sql.cache import AnalysisCache
from flowdeck.engine.sql.params import ParamUse, check_param_uses, path_params

StepConfig = StepBase  # ExtractStep, TransformStep, CheckStep, LoadStep, PythonStep or a plugin's kind


class _Kinded(Protocol):
    """A step model as validated: every one has a ``kind`` (a built-in's or a plugin's ``Literal``)."""

    kind: str


def _kind(config: StepConfig) -> str:
    """The step's ``kind``. StepBase leaves the field to each step model, so a plugin's model is typed
    only as StepBase; the pluggable step union admits no model without a ``kind``."""
    return cast(_Kinded, config).kind


@dataclass(frozen=True)
class PlannedCheck:
    """A check with its custom SQL (if any) parsed."""

    spec: CheckSpec
    name: str
    query: ParsedQuery | None = None
    param_uses: tuple[ParamUse, ...] = ()


@dataclass
class PlannedStep:
    """One step, ready to run: what it reads, what it writes, and what it waits for."""

    name: str
    kind: str
    config: StepConfig
    index: int
    output: str | None
    reads: set[str] = field(default_factory=set)
    upstream: set[str] = field(default_factory=set)
    query: ParsedQuery | None = None
    param_uses: tuple[ParamUse, ...] = ()
    checks: list[PlannedCheck] = field(default_factory=list)
    delta_source: str | None = None
    source_query: str | None = None  # an extract's query in its database's own SQL, run by that database

    @property
    def publishes(self) -> bool:
        """Whether the step writes a table into the warehouse."""
        return self.output is not None

    @property
    def incremental(self) -> bool:
        """Whether the step merges new rows into its table instead of replacing it."""
        return getattr(self.config, "materialized", None) == "incremental"


@dataclass
class Plan:
    """A validated pipeline: its steps in a valid execution order."""

    source: PipelineSource
    steps: dict[str, PlannedStep]
    order: list[str]

    @property
    def name(self) -> str:
        """The pipeline's name."""
        return self.source.name

    def downstream_of(self, step: str, depth: int | None = None) -> set[str]:
        """``step`` and every step that depends on it, directly or not (at most ``depth`` edges away when given)."""
        if depth is None:
            found = {step}
            for name in self.order:
                if self.steps[name].upstream & found:
                    found.add(name)
            return found
        below: dict[str, set[str]] = {name: set() for name in self.steps}
        for name, planned in self.steps.items():
            for upstream in planned.upstream:
                below[upstream].add(name)
        return _within(step, below, depth)

    def upstream_of(self, step: str, depth: int | None = None) -> set[str]:
        """``step`` and every step it depends on, directly or not (at most ``depth`` edges away when given)."""
        return _within(step, {name: planned.upstream for name, planned in self.steps.items()}, depth)

    def outputs(self) -> dict[str, str]:
        """Table name → step that publishes it."""
        return {planned.output: name for name, planned in self.steps.items() if planned.output}

    def published_tables(self) -> list[str]:
        """The tables the pipeline publishes into the warehouse (its extract and transform outputs), in step order."""
        return [output for output in (self.steps[name].output for name in self.order) if output]


def _within(start: str, edges: dict[str, set[str]], depth: int | None) -> set[str]:
    """``start`` and the nodes reached from it along ``edges`` in at most ``depth`` steps (all when None)."""
    found, frontier, level = {start}, {start}, 0
    while frontier and (depth is None or level < depth):
        frontier = {nxt for node in frontier for nxt in edges[node]} - found
        found |= frontier
        level += 1
    return found


def validate_all(project: Project) -> dict[str, Plan | FlowdeckError]:
    """Plan every pipeline: each name with its plan, or with the error that makes it invalid."""
    results: dict[str, Plan | FlowdeckError] = {}
    for name in project.pipeline_names():
        try:
            results[name] = build_plan(project, name)
        except FlowdeckError as error:
            results[name] = error
    return results


def build_plan(project: Project, pipeline: str) -> Plan:
    """Load, parse and check one pipeline; collect every problem into one error."""
    source = project.pipeline(pipeline)
    problems: list[FlowdeckError] = []
    steps: dict[str, PlannedStep] = {}
    cache = project.analysis_cache
    for index, config in enumerate(source.config.steps):
        if config.name in steps:
            problems.append(config_error_at(source, ("steps", index, "name"), f"two steps are named `{config.name}`",
                                            hint="step names must be unique within a pipeline"))
            continue
        try:
            steps[config.name] = _plan_step(project, source, config, index, cache)
        except FlowdeckError as error:
            problems.append(error)
    cache.save()
    if not problems:
        problems.extend(_link(project, source, steps))
    problems.extend(after_problems(project, source))
    problems.extend(shared_folder_problems(project, source))
    if problems:
        first, *rest = problems
        raise type(first)(first.what, location=first.location, hint=first.hint, excerpt=first.excerpt,
                          also=[*first.also, *rest])
    return Plan(source=source, steps=steps, order=_topological_order(source, steps))


def _plan_step(project: Project, source: PipelineSource, config: StepConfig, index: int, cache: AnalysisCache) -> PlannedStep:
    declared = source.config.params
    planned = PlannedStep(name=config.name, kind=_kind(config), config=config, index=index, output=None)
    if isinstance(config, ExtractStep):
        planned.output = (config.output or config.name).lower()
        if isinstance(config.source, DatabaseSource):
            at = ("steps", index, "source")
            _check_connection(project, source, config.source.connection, (*at, "connection"))
            planned.source_query = _source_query(source, config.source, (*at, "query"))
            if config.time_range is not None:
                raise config_error_at(source, ("steps", index, "time_range"),
                                      f"step `{config.name}` reads a database: it reads new rows by `watermark`, "
                                      "not by `time_range`",
                                      hint="use `watermark:` with a column that grows (updated_at, an id)")
        else:
            _check_path_params(source, config.source.path, ("steps", index, "source", "path"))
    elif isinstance(config, TransformStep):
        planned.output = (config.output or config.name).lower()
        sql_file = source.folder / (config.sql or f"{config.name}.sql")
        planned.query = _read_query(source, sql_file, ("steps", index, "sql"), cache)
        planned.param_uses = tuple(check_param_uses(planned.query.text, sql_file, declared, planned.query.param_uses))
        planned.reads = set(planned.query.tables)
        planned.delta_source = _delta_source(source, config, index, planned.reads)
    elif isinstance(config, CheckStep):
        planned.reads = {config.table.lower()}
        if not config.checks:
            raise config_error_at(source, ("steps", index), f"check step `{config.name}` has no checks",
                                  hint="add a `checks:` list")
    elif isinstance(config, LoadStep):
        planned.reads = {config.table.lower()}
        if isinstance(config.to, DatabaseTarget):
            _check_connection(project, source, config.to.connection, ("steps", index, "to", "connection"))
        else:
            _check_path_params(source, config.to.path, ("steps", index, "to", "path"))
    elif isinstance(config, PythonStep):
        planned.output = (config.output or config.name).lower()
        planned.reads = {table.lower() for table in config.inputs}
        for column, sources in config.lineage.items():
            for position, named in enumerate(sources):
                table, _, name = named.lower().partition(".")
                if not name or table not in planned.reads:
                    raise config_error_at(source, ("steps", index, "lineage", column, position),
                                          f"lineage of `{column}`: `{named}` is not a `table.column` of the step's inputs",
                                          hint=f"inputs: {', '.join(config.inputs) or 'none (add `inputs:`)'}")
        if not function_exists(source.folder, config.function):
            module = config.function.partition(":")[0]
            raise config_error_at(source, ("steps", index, "function"),
                                  f"no module `{module}`: neither {module_file(source.folder, module).name} beside "
                                  "pipeline.yaml nor an installed module",
                                  hint="create the file, or install the package holding the module")
    else:  # a plugin's kind (the config model validated it against the plugin's registry entry)
        plugin = registry.step_kinds.get(_kind(config))
        assert plugin is not None, f"step kind {_kind(config)} validated without a plugin declaring it"
        planned.output = (getattr(config, "output", None) or config.name).lower() \
            if isinstance(config, PublishingStep) else None
        planned.reads = {table.lower() for table in plugin.reads(config)} if plugin.reads else set()
    for check_index, spec in enumerate(config.checks):
        planned.checks.append(_plan_check(source, spec, ("steps", index, "checks", check_index), cache))
        planned.reads |= _check_reads(planned.checks[-1], planned.output)
    return planned


def _delta_source(source: PipelineSource, config: TransformStep, index: int, reads: set[str]) -> str | None:
    """The table an incremental transform reads new rows from (by watermark or time range)."""
    if config.watermark is None and config.time_range is None:
        return None
    if config.delta_source is not None:
        table = config.delta_source.lower()
        if table not in reads:
            raise config_error_at(source, ("steps", index, "delta_source"),
                                  f"step `{config.name}` reads no table `{table}`",
                                  hint=f"name one of the tables its query reads: {', '.join(sorted(reads)) or 'none'}")
        return table
    if len(reads) != 1:
        key = "watermark" if config.watermark is not None else "time_range"
        raise config_error_at(source, ("steps", index, key),
                              f"step `{config.name}` reads {len(reads)} tables, so flowdeck cannot tell which one "
                              f"`{key}` applies to",
                              hint=f"add `delta_source:` naming one of {', '.join(sorted(reads))}")
    return next(iter(reads))


def _plan_check(source: PipelineSource, spec: CheckSpec, at: tuple[str | int, ...], cache: AnalysisCache) -> PlannedCheck:
    name = spec.name or _default_check_name(spec)
    if spec.sql is None:
        return PlannedCheck(spec=spec, name=name)
    if spec.sql.strip().lower().endswith(".sql"):
        path = source.folder / spec.sql.strip()
        query = _read_query(source, path, (*at, "sql"), cache)
    else:
        location = source.document.location((*at, "sql"))
        query = parse_query(spec.sql, location.path, cache)
        path = location.path
    uses = tuple(check_param_uses(query.text, path, source.config.params, query.param_uses))
    return PlannedCheck(spec=spec, name=name, query=query, param_uses=uses)


def _default_check_name(spec: CheckSpec) -> str:
    kind = spec.kind
    if spec.not_null:
        return f"not_null({', '.join(spec.not_null)})"
    if spec.unique:
        return f"unique({', '.join(spec.unique)})"
    if spec.accepted_values:
        return f"accepted_values({spec.accepted_values.column})"
    if spec.freshness:
        return f"freshness({spec.freshness.column})"
    if spec.relationships:
        return f"relationships({spec.relationships.column} -> {spec.relationships.to}.{spec.relationships.field})"
    return kind


def _check_reads(check: PlannedCheck, own_output: str | None) -> set[str]:
    reads: set[str] = set()
    if check.spec.relationships:
        reads.add(check.spec.relationships.to.lower())
    if check.query:
        reads |= check.query.tables
    reads.discard(own_output or "")
    return reads


def _read_query(source: PipelineSource, path: Path, at: tuple[str | int, ...], cache: AnalysisCache) -> ParsedQuery:
    try:
        text = read_text(path)
    except FileNotFoundError:
        raise config_error_at(
            source, at, f"SQL file not found: {path.relative_to(source.folder) if path.is_relative_to(source.folder) else path}",
            hint=f"create {path}, or set `sql:` to the file that holds the query",
        ) from None
    return parse_query(text, path, cache)


def _check_connection(project: Project, source: PipelineSource, name: str, at: tuple[str | int, ...]) -> None:
    connections = project.config.connections
    if name not in connections:
        close = difflib.get_close_matches(name, list(connections), n=1)
        known = ", ".join(sorted(connections))
        raise config_error_at(
            source, at, f"no connection named `{name}` in flowdeck.yaml",
            hint=f"did you mean `{close[0]}`?" if close else (f"declared connections: {known}" if known else
                                                               "declare it under `connections:` in flowdeck.yaml"),
        )


def _source_query(source: PipelineSource, database: DatabaseSource, at: tuple[str | int, ...]) -> str | None:
    """The text of a database source's query: inline, or a .sql file beside pipeline.yaml."""
    if database.query is None:
        return None
    text = database.query.strip()
    if text.lower().endswith(".sql") and "\n" not in text:
        path = source.folder / text
        try:
            return read_text(path)
        except FileNotFoundError:
            raise config_error_at(source, at, f"SQL file not found: {text}",
                                  hint=f"create {path}, or write the query inline") from None
    return database.query


def _check_path_params(source: PipelineSource, template: str, at: tuple[str | int, ...]) -> None:
    for name in path_params(template):
        if name not in source.config.params:
            raise config_error_at(source, at, f"`{{{name}}}` in this path is not a parameter of the pipeline",
                                  hint=f"declare `{name}` under `params:`")


def _link(project: Project, source: PipelineSource, steps: dict[str, PlannedStep]) -> Iterable[FlowdeckError]:
    """Resolve reads to upstream steps; yield errors for unknown tables, names and duplicate outputs."""
    producers: dict[str, str] = {}
    for planned in steps.values():
        if planned.output is None:
            continue
        if planned.output in producers:
            yield config_error_at(source, ("steps", planned.index, "name"),
                                  f"steps `{producers[planned.output]}` and `{planned.name}` both write table `{planned.output}`",
                                  hint="give one of them another name or `output:`")
        producers[planned.output] = planned.name
    external = tables_of_other_pipelines(project, source.name)
    for planned in steps.values():
        for table in sorted(planned.reads):
            if table in producers and producers[table] != planned.name:
                planned.upstream.add(producers[table])
            elif table not in producers and table not in external:
                yield _unknown_table(source, planned, table, [*producers, *external])
        for index, name in enumerate(planned.config.depends_on):
            if name not in steps:
                close = difflib.get_close_matches(name, list(steps), n=1)
                yield config_error_at(source, ("steps", planned.index, "depends_on", index),
                                      f"step `{planned.name}` depends on `{name}`, which is not a step of this pipeline",
                                      hint=f"did you mean `{close[0]}`?" if close else f"steps: {', '.join(steps)}")
            elif name != planned.name:
                planned.upstream.add(name)


def tables_of_other_pipelines(project: Project, pipeline: str) -> set[str]:
    """Outputs of the project's other pipelines; a pipeline may read them (no edge is drawn)."""
    tables: set[str] = set()
    for name in project.pipeline_names():
        if name == pipeline:
            continue
        try:
            other = project.pipeline(name)
        except FlowdeckError:
            continue  # that pipeline's own errors are reported when it is validated
        for step in other.config.steps:
            if isinstance(step, PublishingStep):
                tables.add((step.output or step.name).lower())
    return tables


def _unknown_table(source: PipelineSource, planned: PlannedStep, table: str, known: list[str]) -> FlowdeckError:
    close = difflib.get_close_matches(table, known, n=1)
    hint = f"did you mean `{close[0]}`?" if close else "add a step that produces it, or fix the name"
    query = planned.query
    if query is not None:
        from sqlglot import exp

        for node in query.tree.find_all(exp.Table):
            if node.name.lower() == table and "start" in node.this.meta:
                start = node.this.meta["start"]
                line = query.text.count("\n", 0, start) + 1
                column = start - (query.text.rfind("\n", 0, start) + 1) + 1
                location = Location(query.path, line, column)
                return PlanError(f"step `{planned.name}` reads table `{table}`, which no step produces",
                                 location=location, excerpt=excerpt_of(query.text, line, column), hint=hint)
    return PlanError(f"step `{planned.name}` reads table `{table}`, which no step produces",
                     location=source.document.location(("steps", planned.index)), hint=hint)


def _topological_order(source: PipelineSource, steps: dict[str, PlannedStep]) -> list[str]:
    """Steps in dependency order, ties broken by their order in the file; a cycle is an error."""
    remaining = {name: set(planned.upstream) for name, planned in steps.items()}
    order: list[str] = []
    while remaining:
        ready = [name for name, upstream in remaining.items() if not upstream]
        if not ready:
            cycle = _find_cycle(remaining)
            raise PlanError(
                f"the steps depend on each other in a cycle: {' -> '.join(cycle)}",
                location=source.document.location(("steps", steps[cycle[0]].index)),
                hint="a step cannot read, directly or through others, a table it produces; remove one of these edges",
            )
        ready.sort(key=lambda name: steps[name].index)
        for name in ready:
            order.append(name)
            del remaining[name]
        for upstream in remaining.values():
            upstream.difference_update(ready)
    return order


def _find_cycle(edges: dict[str, set[str]]) -> list[str]:
    start = next(iter(edges))
    path = [start]
    seen = {start: 0}
    node = start
    while True:
        node = sorted(edges[node])[0]
        if node in seen:
            return [*path[seen[node]:], node]
        seen[node] = len(path)
        path.append(node)


__all__ = ["Plan", "PlannedCheck", "PlannedStep", "SqlError", "build_plan"]


def path_templates(plan: Plan) -> list[str]:
    """The file paths its steps read and write, with their ``{param}`` placeholders unbound."""
    from flowdeck.engine.project.config.steps import ExtractStep, FileSource, FileTarget, LoadStep

    templates: list[str] = []
    for step in plan.steps.values():
        if isinstance(step.config, ExtractStep) and isinstance(step.config.source, FileSource):
            templates.append(step.config.source.path)
        elif isinstance(step.config, LoadStep) and isinstance(step.config.to, FileTarget):
            templates.append(step.config.to.path)
    return templates
