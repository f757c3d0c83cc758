"""Extract sources on Spark: DuckDB reader options translated to ``spark.read`` options.

Only options with a faithful Spark equivalent are accepted; the lint refuses the others
(naming the option in pipeline.yaml), so a source never reads differently on Spark.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from flowdeck.engine.backends.base import FileRead
from flowdeck.engine.backends.files import format_of
from flowdeck.engine.backends.spark.rules import RULES
from flowdeck.engine.project.config.steps import FileSource
from flowdeck.engine.sql.render import identifier

SOURCE_RULE = RULES["source_option"]
# DuckDB option → Spark reader option, for options that mean the same on both
_CSV = {"header": "header", "delim": "sep", "sep": "sep", "quote": "quote", "escape": "escape", "nullstr": "nullValue"}


@dataclass(frozen=True)
class SourceProblem:
    """An option (or a missing one) the Spark reader cannot honour."""

    option: str
    message: str


def check_source_options(source: FileSource) -> list[SourceProblem]:
    """What in ``source`` the Spark reader would read differently (nothing for a faithful source)."""
    return check_read_options(source.format or format_of(source.path), source.options)


def check_read_options(file_format: str | None, options: dict[str, Any]) -> list[SourceProblem]:
    """What in reader ``options`` of ``file_format`` (an extract's source, a file function's arguments)
    the Spark reader would read differently."""
    problems: list[SourceProblem] = []
    allowed = {"csv": {*_CSV, "all_varchar", "columns"}, "json": {"columns", "format"}, "parquet": set()}
    for option in options:
        if option not in allowed.get(file_format or "", set()):
            problems.append(SourceProblem(option, f"option `{option}` of a {file_format} source"))
    if file_format == "json" and "columns" not in options:
        problems.append(SourceProblem("columns", "a json source without `columns` (Spark infers no dates from JSON)"))
    json_format = str(options.get("format", "newline_delimited"))
    if file_format == "json" and json_format not in ("newline_delimited", "array"):
        problems.append(SourceProblem("format", f"json format `{json_format}`"))
    return problems


def reader_options(read: FileRead) -> tuple[dict[str, str], str | None]:
    """Spark reader options and DDL schema (or None) for ``read``; assumes the lint accepted it."""
    options: dict[str, str] = {}
    schema: str | None = None
    raw: dict[str, Any] = dict(read.options)
    columns = raw.pop("columns", None)
    if isinstance(columns, dict):
        schema = ", ".join(f"{identifier(name, 'spark')} {exp.DataType.build(str(kind), dialect='duckdb').sql('spark')}"
                           for name, kind in columns.items())
    if read.format == "csv":
        all_varchar = bool(raw.pop("all_varchar", False))
        options["header"] = "true"  # DuckDB's sniffer finds the header row; say so when it is not given
        options["inferSchema"] = "false" if all_varchar or schema else "true"
        options["mode"] = "PERMISSIVE"
        for key, value in raw.items():
            options[_CSV[key]] = str(value).lower() if isinstance(value, bool) else str(value)
    elif read.format == "json":
        options["multiLine"] = "true" if raw.get("format") == "array" else "false"
    if read.hive_partitioning:
        options["basePath"] = _base_path(read.paths[0])
    return options, schema


def _base_path(pattern: str) -> str:
    """The folder above the first glob character: where hive partition folders start."""
    parts = pattern.split("/")
    fixed: list[str] = []
    for part in parts:
        if any(ch in part for ch in "*?["):
            break
        fixed.append(part)
    return "/".join(fixed) or "/"
