"""The columns known through a pipeline's DAG, and the column references that do not exist.

Walking the steps in order: an extract's columns come from its source (a function handed in,
which reads the file's header or asks the database), a transform's from sqlglot's qualification
of its SQL against the columns of the tables it reads (``engine.sql.columns``), a Python step's
or a plugin's are unknown. A table whose columns are unknown says so once, in a note, and
nothing that reads it is checked: an unknown upstream is never guessed at. Checks are checked
against the table they check: the columns their built-ins name (``not_null: [col]``), and their
SQL. A transform whose SQL and upstream columns did not change is not qualified again: its result
is kept in the project's analysis cache.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from flowdeck.engine.errors import FlowdeckError, Location, SqlError, excerpt_of
from flowdeck.engine.plan.planner import Plan, PlannedCheck, PlannedStep
from flowdeck.engine.project.config.steps import CheckSpec, CheckStep, ExtractStep, TransformStep
from flowdeck.engine.project.project import config_error_at
from flowdeck.engine.sql.analysis import ParsedQuery
from flowdeck.engine.sql.cache import AnalysisCache
from flowdeck.engine.sql.columns import MissingColumn, QueryColumns, TableColumns, query_columns

# an extract source's columns, or why they cannot be known (a sentence: "data/x.csv is not there yet")
SourceColumns = Callable[[PlannedStep], TableColumns | str]
Read = tuple[str, str]  # (table, column), lower-case


@dataclass
class PipelineColumns:
    """What is known of a pipeline's columns: each table's, who reads which, and what is wrong.

    ``readers`` maps each step, and each check as ``step.check``, to the (table, column) pairs it
    reads; ``notes`` says, once a table, whose columns are unknown and why.
    """

    tables: dict[str, TableColumns] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)
    readers: dict[str, frozenset[Read]] = field(default_factory=dict)
    problems: list[FlowdeckError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def error(self) -> FlowdeckError | None:
        """The problems as one error (the first, carrying the others), or None."""
        if not self.problems:
            return None
        first, *rest = self.problems
        return type(first)(first.what, location=first.location, hint=first.hint, excerpt=first.excerpt,
                           also=[*first.also, *rest])


def pipeline_columns(plan: Plan, cache: AnalysisCache, source_columns: SourceColumns) -> PipelineColumns:
    """The columns of every table of ``plan`` and the references to columns that do not exist.

    Tables the pipeline reads from outside it (another pipeline's) are unknown, said in a note.
    """
    found = PipelineColumns()
    _walk(plan, plan.order, cache, source_columns, found)
    cache.save()
    return found


def reads_with(plan: Plan, step: str, output: TableColumns, columns: PipelineColumns,
               cache: AnalysisCache) -> PipelineColumns:
    """What the checks of ``step`` and everything downstream of it read when ``step`` outputs ``output``
    (its previous columns, say), the other tables as in ``columns``."""
    table = plan.steps[step].output
    assert table is not None
    found = PipelineColumns(tables={**columns.tables, table: output}, unknown=dict(columns.unknown))
    found.unknown.pop(table, None)
    _checks(plan, plan.steps[step], cache, found)
    later = plan.downstream_of(step) - {step}
    _walk(plan, [name for name in plan.order if name in later], cache, lambda _: "not described again", found)
    return found


def _walk(plan: Plan, names: list[str], cache: AnalysisCache, source_columns: SourceColumns,
          found: PipelineColumns) -> None:
    """Analyse the steps ``names`` (in DAG order) and their checks into ``found``."""
    outputs = plan.outputs()
    for name in names:
        step = plan.steps[name]
        for table in sorted(step.reads):
            if table not in found.tables and table not in found.unknown and table not in outputs:
                found.unknown[table] = "it is not a table of this pipeline"
                found.notes.append(f"`{table}` is read from outside the pipeline: the columns read from it are not checked")
        if isinstance(step.config, ExtractStep):
            _extract(step, source_columns, found)
        elif isinstance(step.config, TransformStep) and step.query is not None:
            _transform(step, cache, found)
        elif step.output is not None:
            found.unknown[step.output] = f"step `{name}` is a {step.kind} step"
            found.notes.append(f"step `{name}` ({step.kind}): its output columns are unknown, so the columns read "
                               f"from `{step.output}` are not checked")
        _checks(plan, step, cache, found)


def _checks(plan: Plan, step: PlannedStep, cache: AnalysisCache, found: PipelineColumns) -> None:
    checked = step.output if step.output is not None else (
        step.config.table.lower() if isinstance(step.config, CheckStep) else None)
    for index, check in enumerate(step.checks):
        _check(plan, step, index, check, checked, cache, found)


def _extract(step: PlannedStep, source_columns: SourceColumns, found: PipelineColumns) -> None:
    assert step.output is not None
    columns = source_columns(step)
    if isinstance(columns, str):
        found.unknown[step.output] = columns
        found.notes.append(f"step `{step.name}`: the columns of its source are unknown ({columns}), so the columns "
                           f"read from `{step.output}` are not checked")
    else:
        found.tables[step.output] = columns


def _schema_of(tables: Iterable[str], found: PipelineColumns) -> dict[str, TableColumns]:
    return {table: found.tables[table] for table in sorted(tables) if table in found.tables}


def _analysed(query: ParsedQuery, schema: dict[str, TableColumns], cache: AnalysisCache) -> QueryColumns:
    """``query_columns`` of ``query`` against ``schema``, from the cache when this text met these columns before."""
    key = "columns\0" + query.text + "\0" + json.dumps(
        {table: [list(columns.columns.items()), columns.complete] for table, columns in schema.items()})
    known = cache.get(key)
    if known is not None:
        output = None if known["output"] is None else TableColumns(dict(known["output"]), complete=known["complete"])
        return QueryColumns(output=output, reads=frozenset((table, name) for table, name in known["reads"]), missing=())
    result = query_columns(query.tree, query.text, schema)
    if not result.missing:  # like the other analyses, only what is right is kept: errors are found afresh
        cache.put(key, {"output": None if result.output is None else list(result.output.columns.items()),
                        "complete": result.output is not None and result.output.complete,
                        "reads": sorted(result.reads)})
    return result


def _transform(step: PlannedStep, cache: AnalysisCache, found: PipelineColumns) -> None:
    assert step.query is not None and step.output is not None
    result = _analysed(step.query, _schema_of(step.query.tables, found), cache)
    found.readers[step.name] = result.reads
    for missing in result.missing:
        found.problems.append(_missing_error(f"step `{step.name}`", step.query, missing))
    if result.output is None:
        found.unknown[step.output] = f"the output of step `{step.name}` depends on columns not known"
    else:
        found.tables[step.output] = result.output


def _missing_error(who: str, query: ParsedQuery, missing: MissingColumn, location: Location | None = None,
                   yaml_excerpt: str | None = None) -> FlowdeckError:
    """The error for a column reference that nothing has: where it is, and the name it probably meant."""
    suggestion = missing.suggestion()
    if suggestion is not None:
        hint = f"did you mean `{suggestion}`?"
    else:
        shown = ", ".join(missing.candidates[:12]) + (", ..." if len(missing.candidates) > 12 else "")
        hint = f"the columns it can read: {shown}" if shown else "check the column's name"
    what = f"{who} reads column `{missing.name}`, which " + (
        f"`{missing.table}` does not have" if missing.table else "no table it reads has")
    if location is None:
        location = Location(query.path, missing.line, missing.column)
        excerpt = excerpt_of(query.text, missing.line, missing.column) if missing.line else None
    else:
        excerpt = yaml_excerpt
    return SqlError(what, location=location, excerpt=excerpt, hint=hint)


def _inline_location(plan: Plan, at: tuple[str | int, ...], sql: str, missing: MissingColumn) -> Location:
    """Where a column of an inline check's SQL is in pipeline.yaml: on the value's line when the SQL is
    written on it whole (``sql: "SELECT ..."``), else the value itself (a block's lines are not the file's)."""
    value = plan.source.document.location(at)
    lines = plan.source.document.text.splitlines()
    if missing.line == 1 and "\n" not in sql.strip() and 1 <= value.line <= len(lines):
        start = lines[value.line - 1].find(sql.strip())
        if start >= 0:
            return Location(value.path, value.line, start + missing.column, value.key)
    return value


def _spec_columns(spec: CheckSpec) -> list[tuple[str, tuple[str | int, ...]]]:
    """The columns of the checked table a built-in check names, each with its key path under the check."""
    named: list[tuple[str, tuple[str | int, ...]]] = []
    for key in ("not_null", "unique"):
        for position, column in enumerate(getattr(spec, key) or []):
            named.append((column, (key, position)))
    if spec.accepted_values is not None:
        named.append((spec.accepted_values.column, ("accepted_values", "column")))
    if spec.freshness is not None:
        named.append((spec.freshness.column, ("freshness", "column")))
    if spec.relationships is not None:
        named.append((spec.relationships.column, ("relationships", "column")))
    return named


def _check(plan: Plan, step: PlannedStep, index: int, check: PlannedCheck, checked: str | None,
           cache: AnalysisCache, found: PipelineColumns) -> None:
    """Check one check's columns: those its built-in names on ``checked``, or its SQL."""
    at = ("steps", step.index, "checks", index)
    reader = f"{step.name}.{check.name}"
    reads: set[Read] = set()
    named = [(column, path, checked) for column, path in _spec_columns(check.spec)]
    relation = check.spec.relationships
    if relation is not None:
        named.append((relation.field, ("relationships", "field"), relation.to.lower()))
    for column, path, table in named:
        if table is None:
            continue
        reads.add((table, column.lower()))
        columns = found.tables.get(table)
        if columns is None or not columns.complete or column.lower() in columns.columns:
            continue
        close = difflib.get_close_matches(column.lower(), columns.names(), n=1)
        hint = f"did you mean `{close[0]}`?" if close else f"the columns of `{table}`: {', '.join(columns.names())}"
        found.problems.append(config_error_at(plan.source, (*at, *path),
                                              f"check `{check.name}` of step `{step.name}` names column `{column}`, "
                                              f"which `{table}` does not have", hint=hint))
    if check.query is not None:
        tables = set(check.query.tables) | ({checked} if checked else set())
        result = _analysed(check.query, _schema_of(tables, found), cache)
        reads |= result.reads
        inline = not (check.spec.sql or "").strip().lower().endswith(".sql")
        for missing in result.missing:
            location = _inline_location(plan, (*at, "sql"), check.query.text, missing) if inline else None
            excerpt = plan.source.document.excerpt(location) if location is not None else None
            found.problems.append(_missing_error(f"check `{check.name}` of step `{step.name}`", check.query,
                                                 missing, location, excerpt))
    found.readers[reader] = frozenset(reads)
