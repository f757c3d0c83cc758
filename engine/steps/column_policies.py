"""Applying a step's column masking policy at run time, against the real upstream schemas.

The output columns and the schemas of the tables the step reads come from the backend, so
``SELECT *`` is expanded exactly as the engine will expand it. The masked query replaces the
step's query before anything is staged: unmasked values never land in the warehouse, not
even in a staging table.
"""

from __future__ import annotations

from collections.abc import Mapping

from flowdeck.engine.errors import StepFailed
from flowdeck.engine.plan.planner import PlannedStep
from flowdeck.engine.project.config.steps import PythonStep
from flowdeck.engine.secrets import resolve
from flowdeck.engine.sql.render import identifier
from flowdeck.engine.steps.context import StepContext


def apply_masking(context: StepContext, step: PlannedStep, sql: str, policy: Mapping[str, str], *,
                  columns: list[str] | None = None) -> str:
    """``sql`` rewritten so the policy's columns, and every column derived from them, are masked.

    ``columns``: the output columns of ``sql`` when they are known without running it (a
    stream of Arrow batches cannot be probed: a probe would consume it).
    """
    # imported here: only steps with a masking policy need sqlglot, and it is costly to load
    from flowdeck.engine.sql.column_masking import MaskingPolicyError, masked_columns, masked_query
    from flowdeck.engine.sql.lineage import column_sources

    backend = context.backend
    outputs = columns if columns is not None else backend.query(
        f"SELECT * FROM (\n{sql}\n) AS __fd_probe LIMIT 0", limit=0).columns
    sources = None
    if step.query is not None:
        schema = {table: backend.query(f"SELECT * FROM {identifier(table)} LIMIT 0", limit=0).columns
                  for table in sorted(step.query.tables) if backend.table_exists(table)}
        sources = column_sources(step.query.tree, schema)
        if sources is None:
            context.log(step.name, f"could not trace the columns of step {step.name}; "
                        "only the columns named in `mask:` are masked", level="warning")
    elif isinstance(step.config, PythonStep) and step.config.lineage:  # a function's lineage is declared
        sources = step.config.column_sources()
    try:
        masked = masked_columns(policy, outputs, sources)
    except MaskingPolicyError as error:
        raise StepFailed(f"step `{step.name}`: {error}",
                         hint="fix `mask:` in pipeline.yaml; nothing was written") from None
    hash_key = None
    security = context.project.config.security
    if security.pii_hash_key and any(item.method == "hash" for item in masked):
        hash_key = resolve(security.pii_hash_key, context.project)
    context.log(step.name, "masked " + ", ".join(item.describe() for item in masked), kind="step.masked",
                payload={"masked": [{"column": m.column, "method": m.method, "follows": m.follows} for m in masked]})
    return masked_query(sql, outputs, masked, hash_key)

