"""One step, whatever its kind: ``run_step`` hands a planned step to its kind's module (a built-in
one, or a plugin's through the step kinds' registry), and ``bytes_moved`` says what it read from
and wrote to files (the executor records both)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowdeck.engine.backends.files import file_read
from flowdeck.engine.debug_hooks import fault_point
from flowdeck.engine.errors import StepFailed, UnknownColumn
from flowdeck.engine.plan.planner import PlannedStep
from flowdeck.engine.plugins import registry
from flowdeck.engine.project.config.steps import ExtractStep, FileSource, FileTarget, LoadStep
from flowdeck.engine.steps.check import check
from flowdeck.engine.steps.context import StepContext, StepResult
from flowdeck.engine.steps.extract import extract
from flowdeck.engine.steps.input_files import matching_files
from flowdeck.engine.steps.load import load, target_path
from flowdeck.engine.steps.python import python
from flowdeck.engine.steps.transform import transform

StepRunner = Callable[[StepContext, PlannedStep, Any], StepResult]
BUILT_IN: dict[str, StepRunner] = {"extract": extract, "transform": transform, "check": check, "load": load,
                                   "python": python}


def runner_of(kind: str) -> StepRunner:
    """The function that runs steps of ``kind``: a built-in one, else the plugin's that declares it."""
    if kind in BUILT_IN:
        return BUILT_IN[kind]
    declared = registry.step_kinds.get(kind)
    if declared is None:
        raise StepFailed(f"no step kind `{kind}` is built in or installed", hint="`flowdeck plugins` lists the installed ones")
    return declared.run


def run_step(context: StepContext, step: PlannedStep) -> StepResult:
    """Execute one step. Raises ``StepFailed`` (or ``CheckFailed``); ``transient`` says whether a retry may help."""
    fault_point("staging", step.name)
    try:
        return runner_of(step.kind)(context, step, step.config)
    except UnknownColumn as error:
        raise _naming_the_tables_read(error, step) from None


def _naming_the_tables_read(error: UnknownColumn, step: PlannedStep) -> UnknownColumn:
    """The error with a hint that shows how to see the columns of each table the step reads (the
    backend knows a column was unknown; the step knows which tables it reads)."""
    tables = sorted(step.reads)
    if not tables:
        return error
    describe = " or ".join(f'`flowdeck query "DESCRIBE {table}"`' for table in tables)
    return UnknownColumn(error.what, location=error.location, excerpt=error.excerpt,
                         hint=f"check the column name against the table{'s' if len(tables) > 1 else ''} "
                              f"`{step.name}` reads: {describe}")


def bytes_moved(context: StepContext, step: PlannedStep) -> tuple[int | None, int | None]:
    """(bytes read from files, bytes written to files) by a step that has run: an extract's source
    files, a load's target file; None where the step touches no file (a database is measured in rows),
    or reads files only the engine's cluster sees."""
    config = step.config
    if isinstance(config, ExtractStep) and isinstance(config.source, FileSource):
        pattern = file_read(context.project, step.name, config.source, context.params).paths[0]
        if "://" in pattern:
            return None, None
        files = matching_files(Path(pattern), step.name)
        return sum(found.stat().st_size for found in files if found.is_file()), None
    if isinstance(config, LoadStep) and isinstance(config.to, FileTarget):
        target = target_path(context, config)
        return None, target.stat().st_size if target.is_file() else None
    return None, None
