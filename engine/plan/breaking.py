"""Is a change of a step's SQL breaking? Which columns it removes, adds or retypes, and who reads them.

Like SQLMesh's categoriser, but by columns rather than by the shape of the edit: the previous SQL
and the current one are both qualified against the same upstream columns; a column the previous
output had and the current one lacks (removed, or renamed: removed and added), or whose type
changed, is looked up in what every downstream step and check reads (``PipelineColumns.readers``),
and followed through the steps that pass it on (sqlglot's column lineage: ``orders.amount`` read
into ``sales.amount``, read in turn by ``daily_sales``). A change is ``breaking`` when someone reads
such a column; otherwise (columns added, a filter changed, a column removed that nobody reads) it
is ``non-breaking``. When the columns of either version cannot be known (an upstream whose schema
is unknown, a ``SELECT *`` over one, SQL that no longer parses), nothing proves the change safe:
it is ``breaking``, with no column named.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.plan.columns import PipelineColumns, reads_with
from flowdeck.engine.plan.planner import Plan
from flowdeck.engine.sql.analysis import parse_query
from flowdeck.engine.sql.cache import AnalysisCache
from flowdeck.engine.sql.columns import query_columns


@dataclass(frozen=True)
class SqlChange:
    """What a change of a step's SQL does to its output, and who it breaks.

    ``readers`` pairs each reader with the column of the changed step's output (or of a table that
    passes it on) it reads: a step by its name, a check as ``step.check``.
    """

    kind: Literal["breaking", "non-breaking"]
    removed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    retyped: tuple[str, ...] = ()
    readers: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        """One line for a plan: the kind, then what changed and who reads it."""
        parts = []
        for label, names in (("removed", self.removed), ("added", self.added), ("retyped", self.retyped)):
            if names:
                parts.append(f"{label} {', '.join(names)}")
        if self.readers:
            parts.append("read by " + ", ".join(f"{reader} ({column})" for reader, column in self.readers))
        return self.kind + (f": {'; '.join(parts)}" if parts else "")


def classify_change(plan: Plan, step: str, previous_sql: str, columns: PipelineColumns,
                    cache: AnalysisCache | None = None) -> SqlChange:
    """Classify the change of transform ``step`` from ``previous_sql`` to its SQL in ``plan``.

    ``columns`` is ``pipeline_columns`` of ``plan`` (the current version): it gives the upstream
    columns both versions are qualified against. What the downstream steps and checks read is
    taken as they read it from the previous output (a column removed now is a missing one there);
    ``cache`` (the project's analysis cache) spares qualifying again what did not change.
    """
    planned = plan.steps[step]
    if planned.query is None or planned.output is None:
        raise ValueError(f"step `{step}` has no SQL: only a transform's change is classified")
    current = columns.tables.get(planned.output)
    try:
        before = parse_query(previous_sql, planned.query.path)
    except FlowdeckError:
        return SqlChange(kind="breaking")  # the previous text no longer parses: nothing to compare
    schema = {table: columns.tables[table] for table in sorted(before.tables) if table in columns.tables}
    previous = query_columns(before.tree, before.text, schema).output
    if current is None or previous is None or not current.complete or not previous.complete:
        return SqlChange(kind="breaking")
    removed = tuple(name for name in previous.columns if name not in current.columns)
    added = tuple(name for name in current.columns if name not in previous.columns)
    retyped = tuple(name for name in previous.columns if name in current.columns
                    and previous.columns[name] and current.columns[name]
                    and previous.columns[name] != current.columns[name])
    # without the project's cache, one that starts empty and is never saved (/dev/null reads as nothing)
    as_before = reads_with(plan, step, previous, columns, cache or AnalysisCache(Path(os.devnull)))
    readers = _readers(plan, planned.output, set(removed) | set(retyped), as_before)
    return SqlChange(kind="breaking" if readers else "non-breaking", removed=removed, added=added,
                     retyped=retyped, readers=readers)


def _readers(plan: Plan, table: str, changed: set[str],
             columns: PipelineColumns) -> tuple[tuple[str, str], ...]:
    """Every (reader, column) reading a changed column of ``table``, directly or through steps passing it on."""
    found: list[tuple[str, str]] = []
    todo = [(table, column, column) for column in sorted(changed)]  # (table, its column, the changed column)
    seen: set[tuple[str, str]] = set()
    producers = plan.outputs()
    while todo:
        current_table, column, origin = todo.pop(0)
        if (current_table, column) in seen:
            continue
        seen.add((current_table, column))
        for reader, reads in columns.readers.items():
            if (current_table, column) not in reads or reader == producers.get(current_table):
                continue
            if (reader, origin) not in found:
                found.append((reader, origin))
            for passed_on in _derived(plan, reader, current_table, column, columns):
                todo.append((passed_on[0], passed_on[1], origin))
    return tuple(found)


def _derived(plan: Plan, reader: str, table: str, column: str, columns: PipelineColumns) -> list[tuple[str, str]]:
    """The output columns of step ``reader`` that derive from ``table.column`` (column lineage), as (table, column)."""
    planned = plan.steps.get(reader)
    if planned is None or planned.query is None or planned.output is None:
        return []  # a check, or a step with no SQL: nothing passed on
    from flowdeck.engine.sql.lineage import column_sources

    schema = {name: columns.tables[name].names() for name in planned.query.tables if name in columns.tables}
    sources = column_sources(planned.query.tree, schema)
    if sources is None:
        return []
    return [(planned.output, output) for output, pairs in sources.items() if (table, column) in pairs]
