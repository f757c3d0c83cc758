"""Extract steps: files (CSV, Parquet, JSON; globs) through the backend's readers, and database
tables or queries streamed in as Arrow batches through a connector.

Files: every file read is fingerprinted (path, size, sha256) and the list is committed with the
data; an incremental extract reads only new or changed files. Databases: the table or query runs
in the source; an incremental extract there filters by its watermark in the source, bounded
above by the newest value there when the step starts, so rows arriving meanwhile wait for the
next run instead of being half-read. Either way the rows land in a staging table and are
published by ``engine.steps.publish``.
"""

from __future__ import annotations

import datetime
import decimal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowdeck.engine.backends.base import ARROW_RELATION, FileRead, MergeSpec, Staged
from flowdeck.engine.backends.files import file_read
from flowdeck.engine.errors import StepFailed
from flowdeck.engine.plan.planner import PlannedStep
from flowdeck.engine.project.config.steps import DatabaseSource, ExtractStep, FileSource
from flowdeck.engine.sql.analysis import statement_text
from flowdeck.engine.sql.render import identifier
from flowdeck.engine.steps import incremental
from flowdeck.engine.steps.column_policies import apply_masking
from flowdeck.engine.steps.context import StepContext, StepResult
from flowdeck.engine.steps.input_files import fingerprint, matching_files
from flowdeck.engine.steps.publish import publish_checked, publish_increment, stage_increment
from flowdeck.state.records import InputFile, Watermark

if TYPE_CHECKING:
    from flowdeck.engine.connectors.connection import BatchStream, Connection
    from flowdeck.engine.connectors.dialects import Dialect
    from flowdeck.engine.connectors.progress import Counted

SOURCE_ALIAS = "flowdeck_source"


def extract(context: StepContext, step: PlannedStep, config: ExtractStep) -> StepResult:
    """Read the step's source into its output: replaced whole, or merged (incremental)."""
    if isinstance(config.source, DatabaseSource):
        return _extract_database(context, step, config, config.source)
    return _extract_files(context, step, config, config.source)


# -- files -------------------------------------------------------------------------------------------


def _extract_files(context: StepContext, step: PlannedStep, config: ExtractStep, source: FileSource) -> StepResult:
    assert step.output is not None
    read = file_read(context.project, step.name, source, context.params)
    if "://" in read.paths[0]:
        return _extract_remote(context, step, read)
    path = Path(read.paths[0])
    paths = matching_files(path, step.name)

    def reader(chosen: list[Path]) -> FileRead:
        return replace(read, paths=[str(found) for found in chosen])

    if not step.incremental:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"hash-{step.name}") as hasher:
            # hashing new files overlaps DuckDB reading them, so recording them costs no extra pass
            hashing = hasher.submit(
                lambda: [fingerprint(found, context.project.root, context.ledger, step.name) for found in paths])
            staged = context.backend.stage_query(context.run_id, step.output, _file_query(context, step, reader(paths)))
            try:
                files = hashing.result()
            except StepFailed:
                context.backend.discard(staged)
                raise
        result = publish_checked(context, step, staged, state={"files": [f.to_json() for f in files]})
        _record_file_lineage(context, step, result, paths, files)
        return result
    files = [fingerprint(found, context.project.root, context.ledger, step.name) for found in paths]
    seen = {} if context.reprocess else context.ledger.processed_files(context.warehouse_id, step.output)
    new = [(found, f) for found, f in zip(paths, files) if seen.get(f.path) != f.sha256]
    skipped = len(files) - len(new)
    if not new:
        return StepResult(rows=0, note=f"no new or changed files ({skipped} already processed)",
                          payload={"files_read": 0, "files_skipped": skipped})
    query = _file_query(context, step, reader([found for found, _ in new]))
    note = f"{len(new)} new or changed file(s), {skipped} skipped"
    load_id = context.ledger.publish_count(context.warehouse_id, step.output) + 1
    result = stage_increment(context, step, config, query, f"(\n{query}\n)", "the new files",
                             files=[f for _, f in new], load_id=load_id)
    result.note = note + (f"; {result.note}" if result.note else "")
    result.payload.update(files_read=len(new), files_skipped=skipped)
    if result.commit is not None:
        _record_file_lineage(context, step, result, [found for found, _ in new], [f for _, f in new])
    return result


def _extract_remote(context: StepContext, step: PlannedStep, read: FileRead) -> StepResult:
    """Read files only the engine's cluster sees: unchecked and untracked (their content is not on this machine)."""
    assert step.output is not None
    if step.incremental:
        raise StepFailed(
            f"step `{step.name}`: an incremental extract reads only new or changed files, which flowdeck tells "
            f"by their content, and {read.paths[0]} is not on this machine",
            hint="make the step `materialized: table`, or land the files where flowdeck can read them",
        )
    staged = context.backend.stage_query(context.run_id, step.output, _file_query(context, step, read))
    result = publish_checked(context, step, staged)
    checksum = result.commit.checksum if result.commit is not None else None
    context.record_lineage(step.name, output=step.output, output_kind="table", output_checksum=checksum,
                           inputs=[(read.paths[0], "file", None)])
    return result


def _file_query(context: StepContext, step: PlannedStep, read: FileRead) -> str:
    """The query reading an extract's files, masked when the step has a masking policy."""
    sql = context.backend.file_query(read)
    mask = getattr(step.config, "mask", None)
    return apply_masking(context, step, sql, mask) if mask else sql


def _record_file_lineage(context: StepContext, step: PlannedStep, result: StepResult, paths: list[Path],
                         files: list[InputFile]) -> None:
    assert step.output is not None
    checksum = result.commit.checksum if result.commit is not None else None
    context.record_lineage(step.name, output=step.output, output_kind="table", output_checksum=checksum,
                           inputs=[(str(found), "file", f.sha256) for found, f in zip(paths, files)])


# -- databases ---------------------------------------------------------------------------------------


def source_query(dialect: Dialect, source: DatabaseSource, query_text: str | None) -> str:
    """The SELECT the source runs for every row: the table, or the query as a subquery."""
    if source.table is not None:
        return f"SELECT * FROM {dialect.quoted_table(source.table)}"
    assert query_text is not None
    return f"SELECT * FROM (\n{statement_text(query_text)}\n) AS {SOURCE_ALIAS}"


def _extract_database(context: StepContext, step: PlannedStep, config: ExtractStep, source: DatabaseSource) -> StepResult:
    """Read the step's table or query from its connection into its output."""
    # imported here: the connectors load pyarrow and the ADBC drivers, which only database steps need
    from flowdeck.engine.connectors.connection import connected

    assert step.output is not None
    label = source.table or "the query"
    with connected(context.project, source.connection) as connection:
        base = source_query(connection.dialect, source, step.source_query)
        if not step.incremental:
            staged, counted = _stage(context, step, config, connection, base, label)
            result = publish_checked(context, step, staged)
        else:
            spec = incremental.merge_spec(config)
            sql: str | None  # None: the pushed-down query found nothing new
            sql, previous, note = base, None, f"every row of {label}"
            if config.watermark is not None:
                sql, previous, note = _pushed_down(context, step, config.watermark, connection, base, label)
                if sql is None:
                    return StepResult(rows=0, note=note, payload={"rows_read": 0})
            load_id = context.ledger.publish_count(context.warehouse_id, step.output) + 1
            staged, counted = _stage(context, step, config, connection, sql, label, spec=spec, load_id=load_id)
            mark = _watermark_read(context, staged, config.watermark, previous) if config.watermark else None
            delta = incremental.Delta(predicate=None, watermark=mark, note=note)
            result = publish_increment(context, step, staged, spec, delta, load_id=load_id)
    result.payload.update(rows_read=counted.rows, batches=counted.batches)
    if result.commit is not None:
        context.record_lineage(step.name, output=step.output, output_kind="table",
                               output_checksum=result.commit.checksum, inputs=[(source.label, "database", None)])
    return result


def _stage(context: StepContext, step: PlannedStep, config: ExtractStep, connection: Connection, sql: str,
           label: str, *, spec: MergeSpec | None = None, load_id: int | None = None) -> tuple[Staged, Counted]:
    """Stream ``sql``'s rows from the source into the step's staging table (masked, then shaped
    as an incremental batch when ``spec`` is given)."""
    from flowdeck.engine.connectors.progress import Counted  # imported here: it loads pyarrow

    assert step.output is not None
    table = config.source.table if isinstance(config.source, DatabaseSource) else None
    backend = context.backend
    with connection.read(sql, f"step `{step.name}` reading {label} from connection `{connection.name}`",
                         table=table) as stream:
        counted = Counted(stream, stream.schema, context.progress(step.name, "read"))
        select = _select(context, step, config, stream)
        if spec is None:
            staged = backend.stage_arrow(context.run_id, step.output, counted.reader(), sql=select)
        elif backend.breaks_ties_by_duckdb_hash:
            shaped = incremental.shape_batch(select or f"SELECT * FROM {ARROW_RELATION}", spec, load_id=load_id)
            staged = backend.stage_arrow(context.run_id, step.output, counted.reader(), sql=shaped)
        else:
            staged = _stage_refusing_ties(context, step, counted.reader(), select, spec, load_id)
    context.log(step.name, f"read {counted.rows:,} rows from {label} ({counted.batches} batches)", kind="step.progress",
                payload={"rows": counted.rows, "batches": counted.batches, "done": True})
    return staged, counted


def _stage_refusing_ties(context: StepContext, step: PlannedStep, rows: Any, select: str | None, spec: MergeSpec,
                         load_id: int | None) -> Staged:
    """A batch for a backend without DuckDB's row hash (Spark): the rows land as read, ties between
    different rows of one key are refused (docs/spark.md), and the batch is shaped from them."""
    assert step.output is not None
    backend = context.backend
    landed = backend.stage_arrow(context.run_id, f"{step.output}__batch", rows, sql=select)
    try:
        batch = f"SELECT * FROM {identifier(landed.name)}"
        incremental.refuse_ambiguous_ties(backend, batch, spec, step.name)
        return backend.stage_query(context.run_id, step.output,
                                   incremental.shape_batch(batch, spec, load_id=load_id, hash_ties=False))
    finally:
        backend.discard(landed)


def _select(context: StepContext, step: PlannedStep, config: ExtractStep, stream: BatchStream) -> str | None:
    """The masked SELECT over the incoming rows, when the step has a masking policy."""
    if not config.mask:
        return None
    return apply_masking(context, step, f"SELECT * FROM {ARROW_RELATION}", config.mask,
                         columns=list(stream.schema.names))


def _pushed_down(context: StepContext, step: PlannedStep, column: str, connection: Connection, base: str,
                 label: str) -> tuple[str | None, Watermark | None, str]:
    """The query reading only the new rows, the watermark read before, and what it reads, in words.

    The query is None when the source has nothing above the last watermark.
    """
    assert step.output is not None
    dialect = connection.dialect
    previous = None if context.reprocess else context.ledger.watermark(context.warehouse_id, step.output, column)
    name = dialect.quote(column)
    above = f"{name} > {dialect.stored_literal(previous.value, previous.value_type)}" if previous else None
    newest = connection.execute(
        f"SELECT max({name}) FROM (\n{base}\n) AS {SOURCE_ALIAS}" + (f" WHERE {above}" if above else ""),
        f"step `{step.name}` reading the newest {column} of {label}", table=None)
    high = newest[0][0] if newest else None
    since = f" above {previous.value}" if previous else ""
    if high is None:
        return None, previous, f"no rows of {label} with {column}{since}"
    bounded = (f"{above} AND " if above else "") + f"{name} <= {dialect.literal(high)}"
    sql = f"SELECT * FROM (\n{base}\n) AS {SOURCE_ALIAS} WHERE {bounded}"
    return sql, previous, f"rows of {label} with {column}{since} up to {watermark_text(high)}"


def _watermark_read(context: StepContext, staged: Staged, column: str, previous: Watermark | None) -> Watermark | None:
    """The watermark the staged rows carry: their newest value, typed as the warehouse stores it."""
    types = dict(context.backend.columns(identifier(staged.name)))
    if column not in types:
        context.backend.discard(staged)
        raise StepFailed(f"the watermark column `{column}` is not among the columns read ({', '.join(types)})",
                         hint="fix `watermark:` in pipeline.yaml")
    newest = context.backend.query(f"SELECT max({identifier(column)}) FROM {identifier(staged.name)}", limit=1).rows
    value = newest[0][0] if newest else None
    if value is None:
        return previous
    return Watermark(column, watermark_text(value), types[column])


def watermark_text(value: Any) -> str:
    """A watermark value as the ledger keeps it (and as it is written back into a source's SQL)."""
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (float, decimal.Decimal)):
        return repr(value) if isinstance(value, float) else str(value)
    return str(value)
