"""What an extract step's table will hold, without running it: the columns of its source.

Files: DuckDB describes the reader's query of the files there now (header and metadata, see
``backends.files.file_columns``), remembered in the analysis cache by the files' sizes and
modification times, so an unchanged file is not opened again. Databases: a ``WHERE 1 = 0`` query
through the connection, given a few seconds at most; a database that does not answer in time, a
file not there yet or a path depending on a parameter without a default leaves the columns
unknown, with the reason. Then ``pipeline_columns`` checks a pipeline's column references with them,
for `flowdeck validate` and for the console's editor as the operator types.
"""

from __future__ import annotations

import glob
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from flowdeck.engine.backends.files import file_columns, file_read
from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.plan.columns import PipelineColumns, pipeline_columns
from flowdeck.engine.plan.planner import Plan, PlannedStep, build_plan
from flowdeck.engine.project.checksums import files_matching
from flowdeck.engine.project.config.steps import DatabaseSource, ExtractStep, FileSource
from flowdeck.engine.project.editing import check_source
from flowdeck.engine.project.project import Project
from flowdeck.engine.sql.analysis import parse_query, statement_text
from flowdeck.engine.sql.cache import AnalysisCache
from flowdeck.engine.sql.columns import TableColumns
from flowdeck.engine.sql.params import path_params
from flowdeck.engine.steps.incremental import LOAD_ID_COLUMN

DATABASE_TIMEOUT_SECONDS = 3.0  # validation never waits longer than this for a database to describe a source


def check_columns(project: Project, plan: Plan) -> PipelineColumns:
    """The columns of every table of ``plan``, and the references to columns that do not exist."""
    cache = project.analysis_cache
    defaults = {name: spec.default for name, spec in plan.source.config.params.items()}

    def columns_of(step: PlannedStep) -> TableColumns | str:
        config = step.config
        assert isinstance(config, ExtractStep)
        if isinstance(config.source, DatabaseSource):
            found = database_columns(project, config.source, step.source_query)
        else:
            found = files_columns(project, step.name, config.source, defaults, cache)
        if isinstance(found, str):
            return found
        if step.incremental:
            found = [*found, (LOAD_ID_COLUMN, "BIGINT")]  # stamped on every row an incremental extract loads
        return TableColumns({name.lower(): kind for name, kind in found})

    return pipeline_columns(plan, cache, columns_of)


def check_edited_file(project: Project, path: Path, text: str) -> list[FlowdeckError]:
    """Every problem of ``text`` as the new content of ``path`` (the console's editor): what
    ``check_source`` finds, then, for a pipeline's SQL file that parses, its column references
    checked against the pipeline's other files as they are on disk."""
    problems = check_source(path, text)
    resolved = Path(path).resolve()
    if problems or resolved.suffix.lower() != ".sql" or resolved.parent.parent != project.pipelines_dir.resolve():
        return problems
    try:
        plan = build_plan(project, resolved.parent.name)
        query = parse_query(text, path, project.analysis_cache)
    except FlowdeckError:
        return []  # a problem of another file (shown when it is open), or of this one that check_source saw
    for step in plan.steps.values():
        if step.query is not None and step.query.path.resolve() == resolved:
            step.query = query
        step.checks = [replace(check, query=query) if check.query is not None and check.query.path.resolve() == resolved
                       else check for check in step.checks]
    found = check_columns(project, plan)
    return [problem for problem in found.problems
            if problem.location is not None and Path(problem.location.path).resolve() == resolved]


def files_columns(project: Project, step: str, source: FileSource, params: dict[str, Any],
                  cache: AnalysisCache) -> list[tuple[str, str]] | str:
    """The columns reading ``source`` gives now, or why they cannot be known."""
    if any(params.get(name) is None for name in path_params(source.path)):
        return f"its path {source.path} depends on a parameter with no default"
    try:
        read = file_read(project, step, source, params)
    except FlowdeckError as error:
        return error.what
    if "://" in read.paths[0]:
        return f"{read.paths[0]} is read by the engine's cluster, not from here"
    pattern = read.paths[0]
    files = [path for path in files_matching(Path(pattern)) if path.is_file()]
    if not files:
        return f"{source.path} is not there yet" if not glob.has_magic(pattern) else f"no file matches {source.path} yet"
    if not read.options.get("union_by_name"):
        files = files[:1]  # the first file names the columns (DuckDB reads the others into them)
    read = replace(read, paths=[str(path) for path in files])
    try:
        stamp = [[str(path), path.stat().st_size, path.stat().st_mtime_ns] for path in files]
    except OSError:
        return f"{source.path} could not be read"
    key = f"file-columns\0{read!r}\0{stamp!r}"
    known = cache.get(key)
    if known is not None:
        return [(name, kind) for name, kind in known["columns"]]
    try:
        columns = file_columns(read)
    except Exception as error:  # noqa: BLE001 - DuckDB's own words on a file it cannot read: the run will say
        return f"DuckDB could not describe {source.path}: {str(error).splitlines()[0]}"
    cache.put(key, {"columns": [list(column) for column in columns]})
    return columns


def database_columns(project: Project, source: DatabaseSource, query_text: str | None) -> list[tuple[str, str]] | str:
    """The columns of a database source (types not known here), or why not: unreachable, or slower than
    ``DATABASE_TIMEOUT_SECONDS`` (the probe then finishes, or fails, on its own in the background)."""
    # the connectors load pyarrow and a driver: only a pipeline reading a database pays for them
    from flowdeck.engine.connectors.connection import open_connection
    from flowdeck.engine.steps.extract import source_query

    answer: list[list[tuple[str, str]] | str] = []

    def probe() -> None:
        try:
            connection = open_connection(project, source.connection)
        except FlowdeckError as error:
            answer.append(f"connection `{source.connection}` is not reachable: {error.what}")
            return
        try:
            sql = f"SELECT * FROM (\n{statement_text(source_query(connection.dialect, source, query_text))}\n) AS flowdeck_probe WHERE 1 = 0"
            with connection.read(sql, f"describing {source.label}") as stream:
                answer.append([(name, "") for name in stream.schema.names])
        except FlowdeckError as error:
            answer.append(f"connection `{source.connection}` could not describe it: {error.what}")
        except Exception as error:  # noqa: BLE001 - a driver's own failure: the columns are unknown, no more
            answer.append(f"connection `{source.connection}` could not describe it: {type(error).__name__}")
        finally:
            connection.close()

    worker = threading.Thread(target=probe, name=f"columns-{source.connection}", daemon=True)
    worker.start()
    worker.join(DATABASE_TIMEOUT_SECONDS)
    if not answer:
        return f"connection `{source.connection}` did not answer within {DATABASE_TIMEOUT_SECONDS:g} s"
    return answer[0]
