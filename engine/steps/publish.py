"""Write-audit-publish: stage a step's output under a private name, run its blocking checks on the
staged data, then publish it (with its commit marker) in one transaction; or, for a file, write
it beside its real name and rename it into place.

A failed blocking check discards the staged output, so the published table stays exactly as it
was. Incremental steps stage only their new rows (new or changed files, rows above the
watermark, unprocessed intervals) and publish by merging them, carrying in the commit marker
the state that says what they read.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowdeck.engine.backends.base import CommitMarker, MergeSpec, Staged
from flowdeck.engine.backends.files import fsync_directory
from flowdeck.engine.debug_hooks import crash_point
from flowdeck.engine.errors import StepFailed
from flowdeck.engine.plan.planner import PlannedStep
from flowdeck.engine.project.config.steps import IncrementalStep, TransformStep
from flowdeck.engine.sql.delta import restrict_table
from flowdeck.engine.steps import incremental
from flowdeck.engine.steps.check import run_checks
from flowdeck.engine.steps.column_policies import apply_masking
from flowdeck.engine.steps.context import StepContext, StepResult
from flowdeck.engine.steps.input_files import sha256_of
from flowdeck.state.records import InputFile

PARTIAL_MARK = ".fdpartial-"


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
    state = dict(state or {})
    version = context.versions.get(step.name)
    if version is not None:  # the fingerprint is committed with the data it describes
        state["version"] = version.to_json()
    marker = CommitMarker(run_id=context.run_id, step=step.name, output=step.output, rows=staged.rows,
                          checksum=staged.checksum, base_run_id=base_run_id, state=state)
    keep = getattr(step.config, "versions", None) or context.project.config.retention.output_versions
    committed = context.backend.publish(staged, step.output, marker, merge=merge, keep_versions=keep)
    payload: dict[str, Any] = {"rows": staged.rows, "table_rows": committed.rows, "checksum": committed.checksum,
                               "commit": committed.seq}
    if staged.engine_sql is not None:
        payload["engine_sql"] = staged.engine_sql
    return StepResult(rows=staged.rows, commit=committed, payload=payload)


def stage_increment(context: StepContext, step: PlannedStep, config: IncrementalStep, sql: str, relation: str,
                    source_name: str, *, files: list[InputFile] | None = None, load_id: int | None = None) -> StepResult:
    """Stage the new rows of an incremental step (``sql`` restricted to its delta of ``relation``)
    and merge them into its table."""
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


def partial_path(target: Path, run_id: str) -> Path:
    """Where a run writes a file before renaming it to ``target`` (hidden, named for the run)."""
    return target.with_name(f".{target.name}{PARTIAL_MARK}{run_id}")


def publish_file(context: StepContext, step: str, target: Path, write: Callable[[Path], int]) -> tuple[int, str, int]:
    """Write a file with ``write(path)`` beside ``target``, make it durable, then rename it into place,
    so the real name only ever holds a complete file; return (rows, sha256, bytes)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(target, context.run_id)
    try:
        rows = write(partial)
        try:
            with open(partial, "rb") as handle:
                os.fsync(handle.fileno())
            checksum, size = sha256_of(partial), partial.stat().st_size
            crash_point("exporting", step)
            os.replace(partial, target)
            fsync_directory(target.parent)
        except OSError as error:
            raise StepFailed(f"step `{step}`: cannot write {target}: {error.strerror or error}",
                             transient=True) from None
    finally:
        partial.unlink(missing_ok=True)
    crash_point("exported", step)
    return rows, checksum, size
