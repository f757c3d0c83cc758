"""What each step kind does, write-audit-publish: stage, check the staged data, publish.

A failed blocking check discards the staged output, so the published table stays exactly as
it was. Each function returns the step's row count.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from engine.backends.base import Backend, CommitMarker, Failing, FileRead, Staged
from engine.errors import CheckFailed, StepFailed
from engine.lineage import sha256_file
from engine.masking import MASKER
from engine.run.column_policies import apply_masking
from engine.plan import PlannedStep
from engine.project.models import CheckStep, ExtractStep, LoadStep, TransformStep
from engine.project.project import Project
from engine.run.checks import CheckQuery, check_queries
from engine.sql.params import bind_path, bind_sql

SAMPLE_ROWS = 5


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
    """Everything a step needs: the project, the backend, the run and its parameters."""

    project: Project
    backend: Backend
    run_id: str
    params: dict[str, Any]
    record_check: CheckRecorder
    record_lineage: LineageRecorder = field(default=_ignore)
    log: Callable[..., None] = field(default=_ignore)  # log(step, message, level=..., payload=...)


def run_step(context: StepContext, step: PlannedStep) -> int | None:
    """Execute one step; return its row count (None when it has none: views, checks). Raises ``StepFailed`` (or ``CheckFailed``)."""
    config = step.config
    if isinstance(config, ExtractStep):
        staged, files = _stage_extract(context, step, config)
        rows = _publish_checked(context, step, staged)
        context.record_lineage(step.name, output=staged_output(step), output_kind="table", output_checksum=staged.checksum,
                               inputs=[(name, "file", sha256_file(Path(name))) for name in files])
        return rows
    if isinstance(config, TransformStep):
        assert step.query is not None and step.output is not None
        sql = bind_sql(_statement_text(step.query.text), list(step.param_uses), context.params)
        view = config.materialized == "view"
        if view and MASKER.contains_secret(sql):
            raise StepFailed(
                f"step `{step.name}` is a view, and its SQL holds a secret value; a view keeps its SQL in the warehouse",
                hint="set `materialized: table` on this step (a table keeps only its rows)",
            )
        if config.mask:
            sql = apply_masking(context, step, sql, config.mask)
        staged = context.backend.stage_query(context.run_id, step.output, sql, view=view)
        rows = _publish_checked(context, step, staged)
        context.record_lineage(step.name, output=step.output, output_kind="table", output_checksum=staged.checksum,
                               inputs=[(table, "table", None) for table in sorted(step.query.tables)])
        return rows
    if isinstance(config, CheckStep):
        run_checks(context, step, config.table.lower())
        return None
    if isinstance(config, LoadStep):
        return _load(context, config)
    raise StepFailed(f"step `{step.name}` has an unknown kind `{step.kind}`")


def staged_output(step: PlannedStep) -> str:
    """The table a publishing step writes."""
    assert step.output is not None
    return step.output


def _stage_extract(context: StepContext, step: PlannedStep, config: ExtractStep) -> tuple[Staged, list[str]]:
    """Stage the files an extract step reads (masked if it has a policy); return them too, for lineage."""
    assert step.output is not None
    source = config.source
    pattern = bind_path(source.path, context.params)
    path = context.project.resolve_path(pattern)
    if not glob.has_magic(str(path)) and not path.exists():
        raise StepFailed(
            f"step `{step.name}`: the source file {path} does not exist",
            hint="check `source.path` in pipeline.yaml; paths are relative to the project",
        )
    if glob.has_magic(str(path)) and not glob.glob(str(path), recursive=True):
        raise StepFailed(
            f"step `{step.name}`: no file matches {path}",
            hint="check `source.path` in pipeline.yaml, or wait for files to arrive",
        )
    file_format = source.format or _format_from_extension(path, step.name)
    read = FileRead(
        paths=[str(path)],
        format=file_format,
        options=dict(source.options),
        hive_partitioning=source.hive_partitioning,
        filename=source.filename,
    )
    files = sorted(glob.glob(str(path), recursive=True)) if glob.has_magic(str(path)) else [str(path)]
    if config.mask:
        sql = apply_masking(context, step, context.backend.file_query(read), config.mask)
        return context.backend.stage_query(context.run_id, step.output, sql), files
    return context.backend.stage_files(context.run_id, step.output, read), files


def _publish_checked(context: StepContext, step: PlannedStep, staged: Staged) -> int | None:
    """Run the step's checks on the staged data; publish only if no blocking check failed."""
    assert step.output is not None
    try:
        run_checks(context, step, staged.name)
    except BaseException:
        context.backend.discard(staged)
        raise
    marker = CommitMarker(run_id=context.run_id, step=step.name, output=step.output, rows=staged.rows,
                          checksum=staged.checksum)
    context.backend.publish(staged, step.output, marker)
    return staged.rows


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


def _load(context: StepContext, config: LoadStep) -> int:
    target = context.project.resolve_path(bind_path(config.to.path, context.params))
    file_format = config.to.format or _format_from_extension(target, config.name)
    if file_format not in ("parquet", "csv"):
        raise StepFailed(f"step `{config.name}`: cannot write {file_format} files", hint="use parquet or csv")
    options = dict(config.to.options)
    if file_format == "csv":
        options.setdefault("header", True)
    table = config.table.lower()
    if config.to.encrypt is not None:
        rows = _export_encrypted(context, config, table, target, file_format, options)
    else:
        rows = context.backend.export(table, target, file_format, options)
    context.record_lineage(config.name, output=str(target), output_kind="file", output_checksum=sha256_file(target),
                           inputs=[(table, "table", None)])
    return rows


def _export_encrypted(context: StepContext, config: LoadStep, table: str, target: Path, file_format: str,
                      options: dict[str, Any]) -> int:
    from engine.encryption import write_encrypted_parquet
    from engine.secrets import resolve

    assert config.to.encrypt is not None
    if file_format != "parquet":
        raise StepFailed(f"step `{config.name}`: only Parquet exports can be encrypted",
                         hint="write a .parquet file, or remove `encrypt:`")
    master_key = resolve(config.to.encrypt.key, context.project)
    compression = options.get("compression")
    return write_encrypted_parquet(context.backend.arrow_batches(table), target, master_key,
                                   compression=str(compression) if compression else None,
                                   plaintext_footer=config.to.encrypt.plaintext_footer)


def _format_from_extension(path: Path, step: str) -> str:
    suffixes = [suffix.lower() for suffix in path.suffixes]
    for suffix in reversed(suffixes):
        if suffix in (".csv", ".tsv"):
            return "csv"
        if suffix in (".parquet", ".pq"):
            return "parquet"
        if suffix in (".json", ".ndjson", ".jsonl"):
            return "json"
    raise StepFailed(
        f"step `{step}`: cannot tell the file format of {path.name}",
        hint="set `format:` to csv, parquet or json",
    )


def _statement_text(text: str) -> str:
    """The query without trailing semicolons, so it can be wrapped in CREATE ... AS."""
    stripped = text.rstrip()
    while stripped.endswith(";"):
        stripped = stripped[:-1].rstrip()
    return stripped


def _row_text(row: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{key}={value!r}" for key, value in list(row.items())[:6]) + "}"
