"""Column types of a pipeline's tables, found without running it: DuckDB binds each step's query.

The lint needs types (is ``x[1]`` a list or text? is ``avg(p)`` over a DECIMAL?) before
anything runs. An in-memory DuckDB creates an empty table per step (extract steps over their
files, transforms over their SQL with parameters as typed NULLs: ``WITH NO DATA``) and
describes it; binding reads file headers and a sample, and computes no query. A step whose
files are missing, or that reads a database (which the lint does not connect to), simply has
no known types.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import duckdb

from flowdeck.engine.backends.files import file_read, reader_sql
from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.project.config.steps import ExtractStep, FileSource, TransformStep
from flowdeck.engine.sql.params import typed_nulls
from flowdeck.engine.sql.render import identifier

if TYPE_CHECKING:
    from flowdeck.engine.plan.planner import Plan
    from flowdeck.engine.project.config.pipeline import ParamSpec
    from flowdeck.engine.project.project import Project

_PARAM_TYPES = {"string": "VARCHAR", "integer": "BIGINT", "number": "DOUBLE", "boolean": "BOOLEAN",
                "date": "DATE", "timestamp": "TIMESTAMP"}


def param_types(specs: Mapping[str, ParamSpec]) -> dict[str, str]:
    """A pipeline's parameters' DuckDB types, by name."""
    return {name: _PARAM_TYPES[spec.type] for name, spec in specs.items()}


def plan_schemas(project: Project, plan: Plan) -> dict[str, dict[str, str]]:
    """Table → column → DuckDB type, for every step output of ``plan`` whose types can be found."""
    specs = plan.source.config.params
    defaults = {name: spec.default for name, spec in specs.items()}
    schemas: dict[str, dict[str, str]] = {}
    # relative file names in SQL (`read_csv('data/x.csv')`) are found in the project, as a run finds them
    connection = duckdb.connect(config={"file_search_path": str(project.root)})
    try:
        for name in plan.order:
            step = plan.steps[name]
            config = step.config
            try:
                if isinstance(config, ExtractStep) and isinstance(config.source, FileSource):
                    sql = reader_sql(file_read(project, name, config.source, defaults))
                elif isinstance(config, TransformStep) and step.query is not None:
                    sql = typed_nulls(step.query.text, param_types(specs))
                else:
                    continue
                assert step.output is not None
                # an empty table, not a view: a view binds again, reading its files' headers again, each
                # time a later step's query reads it (daily_sales sniffed orders.csv three times)
                connection.execute(f"CREATE OR REPLACE TABLE {identifier(step.output)} AS {_strip(sql)}\nWITH NO DATA")
                rows = connection.execute(f"DESCRIBE {identifier(step.output)}").fetchall()
                schemas[step.output] = {str(row[0]): str(row[1]) for row in rows}
            except (duckdb.Error, FlowdeckError):
                continue  # unknown types: the lint refuses what depends on them
    finally:
        connection.close()
    return schemas


def _strip(sql: str) -> str:
    stripped = sql.rstrip()
    while stripped.endswith(";"):
        stripped = stripped[:-1].rstrip()
    return stripped
