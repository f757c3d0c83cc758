"""Load steps: a published table written out, to a file (Parquet or CSV, optionally encrypted)
or to a database table.

A file is written beside its real name and renamed into place (``engine.steps.publish``), so
the real name only ever holds a complete file. A database load streams the table out of the
warehouse as Arrow batches into the target in one transaction with a load marker
(``engine.connectors.ingest``): a second load of the same data version loads nothing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from flowdeck.engine.backends.files import file_format
from flowdeck.engine.debug_hooks import crash_point
from flowdeck.engine.errors import StepFailed
from flowdeck.engine.plan.planner import PlannedStep
from flowdeck.engine.project.config.steps import DatabaseTarget, FileTarget, LoadStep
from flowdeck.engine.secrets import resolve
from flowdeck.engine.secrets.encryption import write_encrypted_parquet
from flowdeck.engine.sql.params import bind_path_inside
from flowdeck.engine.sql.render import identifier, identifiers
from flowdeck.engine.steps.context import StepContext, StepResult
from flowdeck.engine.steps.publish import publish_file
from flowdeck.state.records import ExportRecord


def load(context: StepContext, step: PlannedStep, config: LoadStep) -> StepResult:
    """Write the step's table to its target."""
    if isinstance(config.to, DatabaseTarget):
        return _load_database(context, config, config.to)
    return _load_file(context, step, config, config.to)


def target_path(context: StepContext, config: LoadStep) -> Path:
    """The file a load step writes, with run parameters bound."""
    assert isinstance(config.to, FileTarget), "a database target names no file"
    return context.project.resolve_path(bind_path_inside(config.to.path, context.params, context.project.root))


# -- files -------------------------------------------------------------------------------------------


def _load_file(context: StepContext, step: PlannedStep, config: LoadStep, to: FileTarget) -> StepResult:
    target = target_path(context, config)
    format_name = to.format or file_format(target, config.name)
    if format_name not in ("parquet", "csv"):
        raise StepFailed(f"step `{config.name}`: cannot write {format_name} files", hint="use parquet or csv")
    options = dict(to.options)
    if format_name == "csv":
        options.setdefault("header", True)
    table = config.table.lower()

    def write(path: Path) -> int:
        if to.encrypt is not None:
            return _export_encrypted(context, config, table, path, format_name, options)
        return context.backend.export(table, path, format_name, options, order_by=to.order_by)

    rows, checksum, size = publish_file(context, step.name, target, write)
    context.record_lineage(config.name, output=str(target), output_kind="file", output_checksum=checksum,
                           inputs=[(table, "table", None)])
    shown = str(target.relative_to(context.project.root)) if target.is_relative_to(context.project.root) else str(target)
    export = ExportRecord(run_id=context.run_id, step=step.name, path=shown, format=format_name, rows=rows, bytes=size,
                          sha256=checksum, ts=time.time())
    return StepResult(rows=rows, export=export, payload={"rows": rows, "path": shown, "sha256": checksum, "bytes": size})


def _export_encrypted(context: StepContext, config: LoadStep, table: str, path: Path, format_name: str,
                      options: dict[str, Any]) -> int:
    assert isinstance(config.to, FileTarget) and config.to.encrypt is not None
    if format_name != "parquet":
        raise StepFailed(f"step `{config.name}`: only Parquet exports can be encrypted",
                         hint="write a .parquet file, or remove `encrypt:`")
    master_key = resolve(config.to.encrypt.key, context.project)
    compression = options.get("compression")
    return write_encrypted_parquet(context.backend.arrow_batches(table), path, master_key,
                                   compression=str(compression) if compression else None,
                                   plaintext_footer=config.to.encrypt.plaintext_footer)


# -- databases ---------------------------------------------------------------------------------------


def _load_database(context: StepContext, config: LoadStep, target: DatabaseTarget) -> StepResult:
    """Write the step's table into its database target, unless this data version is there already."""
    # imported here: the connectors load pyarrow and the ADBC drivers, which only database steps need
    from flowdeck.engine.connectors.connection import connected
    from flowdeck.engine.connectors.ingest import LoadMarker, load_batches

    table = config.table.lower()
    if target.mode == "upsert":
        _refuse_bad_keys(context, config.name, table, list(target.key or ()))
    marker = LoadMarker(load_id=data_version(context, table), pipeline=context.pipeline, step=config.name,
                        target=target.table, run_id=context.run_id, mode=target.mode)
    with connected(context.project, target.connection, create=True) as connection:
        outcome = load_batches(connection, context.backend.arrow_batches(table), target, marker,
                               report=context.progress(config.name, "loaded"))
    if not outcome.already_loaded:
        crash_point("exported", config.name)  # committed on the target, the ledger not yet written
    payload = {"rows": outcome.rows, "target": target.label, "load_id": marker.load_id,
               "already_loaded": outcome.already_loaded}
    if outcome.already_loaded:
        note = (f"{target.table} already holds this data ({outcome.rows:,} rows, version {marker.load_id}, loaded by "
                "an earlier run); nothing loaded again")
        context.log(config.name, note, kind="step.already_loaded", payload=payload)
    else:
        note = None
        context.log(config.name, f"loaded {outcome.rows:,} rows into {target.table} ({target.mode})",
                    kind="step.progress", payload={**payload, "done": True})
        context.record_lineage(config.name, output=target.label, output_kind="database", output_checksum=None,
                               inputs=[(table, "table", None)])
    return StepResult(rows=outcome.rows, note=note, payload=payload)


def data_version(context: StepContext, table: str) -> str:
    """The commit that made ``table``'s current data, as ``warehouse:seq``: a rerun of a load-only
    pipeline or a resumed run sees the same one; a new publish or a rollback makes a new one."""
    commits = context.ledger.commits_of_output(context.warehouse_id, table)
    return f"{context.warehouse_id}:{commits[-1].seq}" if commits else f"run:{context.run_id}"


def _refuse_bad_keys(context: StepContext, step: str, table: str, key: list[str]) -> None:
    """An upsert key must exist, never be NULL (it would match nothing) and be unique among the loaded rows."""
    backend = context.backend
    columns = backend.query(f"SELECT * FROM {identifier(table)} LIMIT 0", limit=0).columns
    missing = [column for column in key if column not in columns]
    if missing:
        raise StepFailed(f"step `{step}`: the upsert key names {', '.join(missing)}, which table {table} does not "
                         f"have (columns: {', '.join(columns)})", hint="fix `to.key` in pipeline.yaml")
    keys = identifiers(key)
    nulls = backend.failing_rows(f"SELECT {keys} FROM {identifier(table)} WHERE "
                                 + " OR ".join(f"{identifier(column)} IS NULL" for column in key))
    if nulls.count:
        raise StepFailed(f"step `{step}`: {nulls.count:,} rows of {table} have a NULL in the upsert key "
                         f"({', '.join(key)}); such a row matches no row of the target", hint="filter them out or "
                         "fill the key in a transform; nothing was loaded")
    twice = backend.failing_rows(f"SELECT {keys}, count(*) AS occurrences FROM {identifier(table)} "
                                 f"GROUP BY {keys} HAVING count(*) > 1")
    if twice.count:
        raise StepFailed(f"step `{step}`: {twice.count:,} values of the upsert key ({', '.join(key)}) occur more than "
                         f"once in {table}, e.g. {twice.sample[0]}", hint="make the key unique in a transform "
                         "(which row should win?); nothing was loaded")
