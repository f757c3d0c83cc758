"""Transform steps: a SQL ``SELECT`` (parameters bound) published as a table or a view, or merged
into its table by an incremental step's new rows; masked first when the step has a masking policy."""

from __future__ import annotations

from flowdeck.engine.errors import StepFailed
from flowdeck.engine.masking import MASKER
from flowdeck.engine.plan.planner import PlannedStep
from flowdeck.engine.project.config.steps import TransformStep
from flowdeck.engine.sql.analysis import statement_text
from flowdeck.engine.sql.origin import located
from flowdeck.engine.sql.params import bind_sql
from flowdeck.engine.sql.render import identifier
from flowdeck.engine.steps.column_policies import apply_masking
from flowdeck.engine.steps.context import StepContext, StepResult
from flowdeck.engine.steps.publish import publish_checked, stage_increment


def transform(context: StepContext, step: PlannedStep, config: TransformStep) -> StepResult:
    """Build the step's output from its SQL and publish it; record the tables it read."""
    assert step.query is not None and step.output is not None
    sql = bind_sql(statement_text(step.query.text), list(step.param_uses), context.params)
    view = config.materialized == "view"
    if view and MASKER.contains_secret(sql):
        raise StepFailed(
            f"step `{step.name}` is a view, and its SQL holds a secret value; a view keeps its SQL in the warehouse",
            hint="set `materialized: table` on this step (a table keeps only its rows)",
        )
    try:
        if step.incremental:
            source = step.delta_source
            result = stage_increment(context, step, config, sql, identifier(source) if source else "",
                                     f"table {source}")
        else:
            if config.mask:
                sql = apply_masking(context, step, sql, config.mask)
            staged = context.backend.stage_query(context.run_id, step.output, sql, view=view)
            result = publish_checked(context, step, staged)
    except StepFailed as error:  # the engine ran a translation of the step's SQL: point at its file and line
        if error.ran is None or error.location is not None:  # a check's SQL failing is located at the check's
            raise
        raise located(error, step.name, step.query.path, step.query.text) from None
    if result.commit is not None:
        context.record_lineage(step.name, output=step.output, output_kind="table", output_checksum=result.commit.checksum,
                               inputs=[(table, "table", None) for table in sorted(step.query.tables)])
    return result
