"""flowdeck-http-extract: the ``http_extract`` step kind, the records of an HTTP/JSON API as a table.

What makes this a plugin is the entry point in pyproject.toml naming ``step_kind``, a
``StepKind`` declaration: the config model users write in pipeline.yaml, and the function that
runs the step. Everything heavy (pyarrow, the HTTP call) happens inside ``run``, so flowdeck
pays only this module's import to learn the config model.
"""

from __future__ import annotations

from typing import Any

from flowdeck.engine.plugins.declare import StepKind

from flowdeck_http_extract.config import HttpExtractStep


def run(context: Any, step: Any, config: HttpExtractStep) -> Any:
    """Run one ``http_extract`` step (the work is in ``run.py``, imported when a step runs)."""
    from flowdeck_http_extract.run import run as run_step

    return run_step(context, step, config)


step_kind = StepKind(
    kind="http_extract",
    config=HttpExtractStep,
    run=run,
    engines=("duckdb", "spark"),  # it stages Arrow batches, which every backend takes
    description="the records of an HTTP/JSON API, page by page, as a table",
)

__all__ = ["HttpExtractStep", "step_kind"]
