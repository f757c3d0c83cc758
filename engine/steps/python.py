"""Python steps: a function of the pipeline builds the step's table from its input tables.

The inputs come as pyarrow Tables (``inputs_as: arrow``) or as relations of the engine
(``relation``: DuckDB relations; on Spark, the function's Spark implementation gets DataFrames).
What the function returns (an Arrow table, batch reader or batch, or a relation of the same
engine) is staged, masked first when the step masks columns, checked and published like a SQL
step's result; its table lineage is its declared ``inputs``, its column lineage the ``lineage:``
it declares.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from flowdeck.engine.backends.base import ARROW_RELATION, Staged
from flowdeck.engine.errors import FlowdeckError, StepFailed
from flowdeck.engine.masking import mask
from flowdeck.engine.plan.planner import PlannedStep
from flowdeck.engine.project.config.steps import PythonStep
from flowdeck.engine.project.functions import load_function, spark_implementation
from flowdeck.engine.steps.column_policies import apply_masking
from flowdeck.engine.steps.context import StepContext, StepResult
from flowdeck.engine.steps.publish import publish_checked

ACCEPTED = "a pyarrow Table, RecordBatchReader or RecordBatch, or a relation of the engine (DuckDB relation, Spark DataFrame)"


def python(context: StepContext, step: PlannedStep, config: PythonStep) -> StepResult:
    """Call the step's function on its inputs, then stage, check and publish what it returns."""
    assert step.output is not None
    folder = context.project.pipeline(context.pipeline).folder
    function = load_function(folder, config.function, step.name)
    backend = context.backend
    on_spark = backend.name == "spark"
    if on_spark:
        implementation = spark_implementation(function)
        if implementation is None:  # the Spark lint refuses this before the run; a direct call still must not run it
            raise StepFailed(f"step `{step.name}`: {config.function} declares no Spark implementation",
                             hint="set `<function>.spark` to a function taking and returning Spark DataFrames")
        function = implementation
    inputs = {table: backend.relation(table) if on_spark or config.inputs_as == "relation"
              else backend.arrow_batches(table).read_all() for table in config.inputs}
    returned = _call(step.name, config.function, function, inputs, context.params)
    staged = _stage(context, step, config, returned)
    result = publish_checked(context, step, staged)
    context.record_lineage(step.name, output=step.output, output_kind="table", output_checksum=staged.checksum,
                           inputs=[(table.lower(), "table", None) for table in config.inputs])
    return result


def _call(step: str, spec: str, function: Callable[..., Any], inputs: dict[str, Any], params: dict[str, Any]) -> Any:
    """Call ``function`` with the inputs by name (and ``params`` when it takes it); its errors become the step's."""
    arguments = dict(inputs)
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        signature = None
    if signature is not None:
        accepts = signature.parameters
        open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepts.values())
        if "params" in accepts or open_ended:
            arguments["params"] = dict(params)
        unknown = [name for name in inputs if name not in accepts and not open_ended]
        missing = [name for name, p in accepts.items() if p.default is inspect.Parameter.empty
                   and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name not in arguments]
        if unknown or missing:
            wanted = ", ".join(accepts) or "nothing"
            problem = (f"has no parameter for input `{unknown[0]}`" if unknown
                       else f"needs `{missing[0]}`, which is not one of the step's inputs")
            raise StepFailed(f"step `{step}`: {spec}({wanted}) {problem}",
                             hint="name the function's parameters after the step's `inputs:` (and `params` for the run's parameters)")
    try:
        return function(**arguments)
    except FlowdeckError:
        raise
    except Exception as error:  # the user's code failed: say where, not flowdeck's traceback
        raise StepFailed(f"step `{step}`: {spec} raised {type(error).__name__}: {mask(str(error))}",
                         hint="fix the function (it runs the same outside flowdeck: call it on the input tables)") from None


def _stage(context: StepContext, step: PlannedStep, config: PythonStep, returned: Any) -> Staged:
    """Stage what the function returned, masked first when the step has a masking policy."""
    assert step.output is not None
    backend = context.backend
    batches = _as_batches(returned)
    columns = list(batches.schema.names) if batches is not None else _relation_columns(step.name, returned)
    select = None
    if config.mask:
        select = apply_masking(context, step, f"SELECT * FROM {ARROW_RELATION}", config.mask, columns=columns)
    if batches is not None:
        return backend.stage_arrow(context.run_id, step.output, batches, sql=select)
    return backend.stage_relation(context.run_id, step.output, returned, sql=select)


def _as_batches(returned: Any) -> Any:
    """An Arrow result as a RecordBatchReader; None for anything else (a relation, or a mistake)."""
    import pyarrow as pa  # the DuckDB backend has loaded it already; Spark Connect too

    if isinstance(returned, pa.RecordBatchReader):
        return returned
    if isinstance(returned, pa.Table):
        return returned.to_reader()
    if isinstance(returned, pa.RecordBatch):
        return pa.Table.from_batches([returned]).to_reader()
    return None


def _relation_columns(step: str, returned: Any) -> list[str]:
    columns = getattr(returned, "columns", None)
    if not isinstance(columns, list) or not all(isinstance(column, str) for column in columns):
        raise StepFailed(f"step `{step}`: the function returned {type(returned).__name__}; it must return {ACCEPTED}")
    return columns
