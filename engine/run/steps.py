"""What each step kind does, write-audit-publish: stage, check the staged data, publish.

A failed blocking check discards the staged output, so the published table stays exactly as
it was. Incremental steps stage only their new rows (new or changed files, rows above the
watermark, unprocessed intervals) and publish by merging them, carrying in the commit marker
the state that says what they read. Load steps write beside the real file and rename it into
place. Each function returns a ``StepResult`` for the executor to record.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from flowdeck.engine.backends.base import Backend, CommitMarker, Failing, FileRead, MergeSpec, Staged
from flowdeck.engine.debug_hooks import crash_point, fault_point
from flowdeck.engine.errors import CheckFailed, StepFailed
from flowdeck.engine.masking import MASKER
from flowdeck.engine.plan.planner import PlannedStep
from flowdeck.engine.project.config.steps import (
    CheckStep,
    DatabaseSource,
    DatabaseTarget,
    ExtractStep,
    FileSource,
    LoadStep,
    PublishingStep,
    TransformStep,
)
from flowdeck.engine.project.project import Project
from flowdeck.engine.run import incremental
from flowdeck.engine.run.checks import CheckQuery, check_queries
from flowdeck.engine.run.column_policies import apply_masking
from flowdeck.engine.run.files import fingerprint, matching_files, sha256_of
from flowdeck.engine.sql.analysis import statement_text
from flowdeck.engine.sql.delta import restrict_table
from flowdeck.engine.sql.params import bind_path, bind_sql
from flowdeck.engine.sql.render import identifier
from flowdeck.state import Ledger
from flowdeck.state.records import ExportRecord, InputFile

SAMPLE_ROWS = 5
PARTIAL_MARK = ".fdpartial-"


class CheckRecorder(Protocol):
    """Where check outcomes go (the ledger, through the executor)."""

    def __call__(self, step: str, query: CheckQuery, status: str, failing: int, message: str,
                 sample: list[dict[str, Any]]) -> None: ...


class LineageRecorder(Protocol):
    """Where a step says which inputs fed its output (the ledger, through the executor)."""

    def __call__(self, step: str, *, output: str, output_kind: str, output_checksum: str | None,
                 inputs: Sequence[tuple[str, str, str | None]]) -> None: ...


def _ignore(*_: Any, **__: Any) -> None:
    return None


@dataclass
class StepContext:
    """Everything a step needs: the project, the backend, the run, its parameters and options."""

    project: Project
    backend: Backend
    run_id: str
    params: dict[str, Any]
    record_check: CheckRecorder
    ledger: Ledger
    record_lineage: LineageRecorder = field(default=_ignore)
    log: Callable[..., None] = field(default=_ignore)  # log(step, message, level=..., payload=...)
    warehouse_id: str = "none"
    reprocess: bool = False
    pipeline: str = ""


@dataclass
class StepResult:
    """What a step did: its rows, the commit it made, the file it wrote, a note for people."""

    rows: int | None
    commit: CommitMarker | None = None
    export: ExportRecord | None = None
    note: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


def run_step(context: StepContext, step: PlannedStep) -> StepResult:
    """Execute one step. Raises ``StepFailed`` (or ``CheckFailed``); ``transient`` says whether a retry may help."""
    config = step.config
    fault_point("staging", step.name)
    if isinstance(config, ExtractStep):
        return _extract(context, step, config)
    if isinstance(config, TransformStep):
        return _transform(context, step, config)
    if isinstance(config, CheckStep):
        run_checks(context, step, config.table.lower())
        return StepResult(rows=None)
    if isinstance(config, LoadStep):
        return _load(context, step, config)
    raise StepFailed(f"step `{step.name}` has an unknown kind `{step.kind}`")


# -- extract and transform -------------------------------------------------------------------------


def target_path(context: StepContext, config: LoadStep) -> Path:
    """The file a load step writes, with run parameters bound."""
    return context.project.resolve_path(bind_path(config.to.path, context.params))


def bytes_moved(context: StepContext, step: PlannedStep) -> tuple[int | None, int | None]:
    """(bytes read from files, bytes written to files) by a step that has run: an extract's source
    files, a load's target file; None where the step touches no file (a database is measured in rows),
    or reads files only the engine's cluster sees."""
    config = step.config
    if isinstance(config, ExtractStep) and not isinstance(config.source, DatabaseSource):
        pattern = extract_read(context.project, step.name, config, context.params).paths[0]
        if "://" in pattern:
            return None, None
        files = matching_files(Path(pattern), step.name)
        return sum(found.stat().st_size for found in files if found.is_file()), None
    if isinstance(config, LoadStep) and not isinstance(config.to, DatabaseTarget):
        target = target_path(context, config)
        return None, target.stat().st_size if target.is_file() else None
    return None, None


def _extract(context: StepContext, step: PlannedStep, config: ExtractStep) -> StepResult:
    assert step.output is not None
    if isinstance(config.source, DatabaseSource):
        from flowdeck.engine.connectors.extract import extract_database

        return extract_database(context, step, config)
    read = extract_read(context.project, step.name, config, context.params)
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
    result = _incremental(context, step, config, query, f"(\n{query}\n)", "the new files",
                          files=[f for _, f in new], load_id=load_id)
    result.note = note + (f"; {result.note}" if result.note else "")
    result.payload.update(files_read=len(new), files_skipped=skipped)
    if result.commit is not None:
        _record_file_lineage(context, step, result, [found for found, _ in new], [f for _, f in new])
    return result


def extract_read(project: Project, step: str, config: ExtractStep, params: dict[str, Any]) -> FileRead:
    """The files an extract step names: a path or glob resolved in the project, or a path with a
    scheme (``s3a://``, ``hdfs://``: one only a Spark cluster reads) exactly as written."""
    source = config.source
    assert isinstance(source, FileSource), "a database source names no files"
    pattern = bind_path(source.path, params)
    path = pattern if "://" in pattern else str(project.resolve_path(pattern))
    return FileRead(paths=[path], format=source.format or _format_from_extension(Path(path), step),
                    options=dict(source.options), hive_partitioning=source.hive_partitioning,
                    filename=source.filename)


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


def _transform(context: StepContext, step: PlannedStep, config: TransformStep) -> StepResult:
    assert step.query is not None and step.output is not None
    sql = bind_sql(statement_text(step.query.text), list(step.param_uses), context.params)
    view = config.materialized == "view"
    if view and MASKER.contains_secret(sql):
        raise StepFailed(
            f"step `{step.name}` is a view, and its SQL holds a secret value; a view keeps its SQL in the warehouse",
            hint="set `materialized: table` on this step (a table keeps only its rows)",
        )
    if step.incremental:
        source = step.delta_source
        result = _incremental(context, step, config, sql, identifier(source) if source else "", f"table {source}")
    else:
        if config.mask:
            sql = apply_masking(context, step, sql, config.mask)
        staged = context.backend.stage_query(context.run_id, step.output, sql, view=view)
        result = publish_checked(context, step, staged)
    if result.commit is not None:
        context.record_lineage(step.name, output=step.output, output_kind="table", output_checksum=result.commit.checksum,
                               inputs=[(table, "table", None) for table in sorted(step.query.tables)])
    return result


def _incremental(context: StepContext, step: PlannedStep, config: PublishingStep, sql: str, relation: str,
                 source_name: str, *, files: list[InputFile] | None = None, load_id: int | None = None) -> StepResult:
    """Stage the new rows of an incremental step and merge them into its table."""
    assert step.output is not None
    backend = context.backend
    spec = incremental.merge_spec(config)
    delta = incremental.Delta(predicate=None)
    if relation and (config.watermark or config.time_range):
        delta = incremental.plan_delta(backend, context.ledger, context.warehouse_id, step.name, step.output, config,
                                       relation, source_name, reprocess=context.reprocess)
        if delta.nothing_new and not files:
            return StepResult(rows=0, note=delta.note, payload={"rows_read": 0})
        if delta.predicate is not None:
            if isinstance(config, TransformStep):
                sql = restrict_table(sql, step.delta_source or "", delta.predicate)
            else:
                sql = f"SELECT * FROM ({sql}) AS source WHERE {delta.predicate}"
    if isinstance(config, TransformStep) and config.mask:  # an extract's file query is masked already
        sql = apply_masking(context, step, sql, config.mask)
    if not backend.breaks_ties_by_duckdb_hash:
        incremental.refuse_ambiguous_ties(backend, sql, spec, step.name)
    staged = backend.stage_query(context.run_id, step.output, incremental.shape_batch(
        sql, spec, load_id=load_id, hash_ties=backend.breaks_ties_by_duckdb_hash))
    return publish_increment(context, step, staged, spec, delta, files=files, load_id=load_id)


def publish_increment(context: StepContext, step: PlannedStep, staged: Staged, spec: MergeSpec,
                      delta: incremental.Delta, *, files: list[InputFile] | None = None,
                      load_id: int | None = None) -> StepResult:
    """Merge an incremental step's staged batch into its table, with the state saying what it read."""
    assert step.output is not None
    backend = context.backend
    merging = not context.reprocess and backend.table_exists(step.output)
    try:
        incremental.check_key_columns(backend, staged.name, spec, step.name)
        if spec.on_duplicate == "error":
            incremental.refuse_duplicates(backend, staged.name, step.output, spec, step.name, against_table=merging)
    except BaseException:
        backend.discard(staged)
        raise
    state: dict[str, Any] = {}
    if files:
        state["files"] = [f.to_json() for f in files]
    if delta.watermark is not None:
        mark = delta.watermark
        state["watermark"] = {"column": mark.column, "value": mark.value, "value_type": mark.value_type}
    if delta.intervals:
        state["intervals"] = [{"column": i.column, "start": i.start, "end": i.end} for i in delta.intervals]
    if load_id is not None:
        state["load_id"] = load_id
    if staged.rows == 0 and not state:
        backend.discard(staged)
        return StepResult(rows=0, note=delta.note or "no new rows", payload={"rows_read": 0})
    base = context.ledger.data_chain(context.warehouse_id, step.output)[:1] if merging else []
    result = publish_checked(context, step, staged, state=state, merge=spec if merging else None,
                              base_run_id=base[0] if base else None)
    result.note = delta.note or None
    result.payload.update(rows_read=staged.rows, merged=merging)
    return result


def publish_checked(context: StepContext, step: PlannedStep, staged: Staged, *, state: dict[str, Any] | None = None,
                     merge: MergeSpec | None = None, base_run_id: str | None = None) -> StepResult:
    """Run the step's checks on the staged data; publish only if no blocking check failed."""
    assert step.output is not None
    crash_point("staged", step.name)
    try:
        run_checks(context, step, staged.name)
    except BaseException:
        context.backend.discard(staged)
        raise
    marker = CommitMarker(run_id=context.run_id, step=step.name, output=step.output, rows=staged.rows,
                          checksum=staged.checksum, base_run_id=base_run_id, state=state or {})
    keep = getattr(step.config, "versions", None) or context.project.config.retention.output_versions
    committed = context.backend.publish(staged, step.output, marker, merge=merge, keep_versions=keep)
    payload: dict[str, Any] = {"rows": staged.rows, "table_rows": committed.rows, "checksum": committed.checksum,
                               "commit": committed.seq}
    return StepResult(rows=staged.rows, commit=committed, payload=payload)


def run_checks(context: StepContext, step: PlannedStep, relation: str) -> None:
    """Run every check of ``step`` against ``relation``; raise ``CheckFailed`` on a blocking failure."""
    blocking: list[tuple[CheckQuery, Failing]] = []
    for check in step.checks:
        for query in check_queries(check, relation, output=step.output, params=context.params):
            failing = context.backend.failing_rows(query.sql, sample=SAMPLE_ROWS)
            if failing.count == 0:
                context.record_check(step.name, query, "passed", 0, f"check {query.name} passed", [])
                continue
            status = "failed" if query.severity == "error" else "warned"
            message = f"check {query.name} {status} on step {step.name}: {query.explain(failing)}"
            context.record_check(step.name, query, status, failing.count, message, failing.sample)
            if status == "failed":
                blocking.append((query, failing))
    if blocking:
        query, failing = blocking[0]
        rows = "; ".join(_row_text(row) for row in failing.sample[:3])
        more = f" (and {len(blocking) - 1} more failing checks)" if len(blocking) > 1 else ""
        column = f" on column {query.column}" if query.column else ""
        raise CheckFailed(
            f"check {query.name} failed{column} in step `{step.name}`: {query.explain(failing)}{more}; "
            f"for example: {rows}",
            hint="the output was not published; fix the data or the SQL, then rerun"
            if step.output else "fix the upstream data, then rerun",
        )


# -- load ------------------------------------------------------------------------------------------


def partial_path(target: Path, run_id: str) -> Path:
    """Where a run writes a file before renaming it to ``target`` (hidden, named for the run)."""
    return target.with_name(f".{target.name}{PARTIAL_MARK}{run_id}")


def _load(context: StepContext, step: PlannedStep, config: LoadStep) -> StepResult:
    if isinstance(config.to, DatabaseTarget):
        from flowdeck.engine.connectors.load import load_database_target

        return load_database_target(context, config)
    target = target_path(context, config)
    file_format = config.to.format or _format_from_extension(target, config.name)
    if file_format not in ("parquet", "csv"):
        raise StepFailed(f"step `{config.name}`: cannot write {file_format} files", hint="use parquet or csv")
    options = dict(config.to.options)
    if file_format == "csv":
        options.setdefault("header", True)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(target, context.run_id)
    table = config.table.lower()
    try:
        if config.to.encrypt is not None:
            rows = _export_encrypted(context, config, table, partial, file_format, options)
        else:
            rows = context.backend.export(table, partial, file_format, options, order_by=config.to.order_by)
        try:
            with open(partial, "rb") as handle:
                os.fsync(handle.fileno())
            checksum, size = sha256_of(partial), partial.stat().st_size
            crash_point("exporting", step.name)
            os.replace(partial, target)  # the real name only ever holds a complete file
            _fsync_directory(target.parent)
        except OSError as error:
            raise StepFailed(f"step `{step.name}`: cannot write {target}: {error.strerror or error}",
                             transient=True) from None
    finally:
        partial.unlink(missing_ok=True)
    crash_point("exported", step.name)
    context.record_lineage(config.name, output=str(target), output_kind="file", output_checksum=checksum,
                           inputs=[(table, "table", None)])
    shown = str(target.relative_to(context.project.root)) if target.is_relative_to(context.project.root) else str(target)
    export = ExportRecord(run_id=context.run_id, step=step.name, path=shown, format=file_format, rows=rows, bytes=size,
                          sha256=checksum, ts=time.time())
    return StepResult(rows=rows, export=export, payload={"rows": rows, "path": shown, "sha256": checksum, "bytes": size})


def _export_encrypted(context: StepContext, config: LoadStep, table: str, path: Path, file_format: str,
                      options: dict[str, Any]) -> int:
    from flowdeck.engine.secrets.encryption import write_encrypted_parquet
    from flowdeck.engine.secrets import resolve

    assert config.to.encrypt is not None
    if file_format != "parquet":
        raise StepFailed(f"step `{config.name}`: only Parquet exports can be encrypted",
                         hint="write a .parquet file, or remove `encrypt:`")
    master_key = resolve(config.to.encrypt.key, context.project)
    compression = options.get("compression")
    return write_encrypted_parquet(context.backend.arrow_batches(table), path, master_key,
                                   compression=str(compression) if compression else None,
                                   plaintext_footer=config.to.encrypt.plaintext_footer)


def _fsync_directory(folder: Path) -> None:
    """Make a rename durable (POSIX: the directory entry is data of the directory)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def format_of(path: Path | str) -> str | None:
    """The file format its extension names (csv, parquet, json), or None."""
    for suffix in reversed([suffix.lower() for suffix in Path(path).suffixes]):
        if suffix in (".csv", ".tsv"):
            return "csv"
        if suffix in (".parquet", ".pq"):
            return "parquet"
        if suffix in (".json", ".ndjson", ".jsonl"):
            return "json"
    return None


def _format_from_extension(path: Path, step: str) -> str:
    found = format_of(path)
    if found is None:
        raise StepFailed(
            f"step `{step}`: cannot tell the file format of {path.name}",
            hint="set `format:` to csv, parquet or json",
        )
    return found


def _row_text(row: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{key}={value!r}" for key, value in list(row.items())[:6]) + "}"
