"""A run's story as log lines: each update of the executor becomes one record with its run_id,
pipeline, step and event (the worker's log, and journald or syslog when ``logging:`` forwards)."""

from __future__ import annotations

import logging

from flowdeck.engine.logs import run_fields
from flowdeck.engine.run.executor import RunUpdate

log = logging.getLogger("flowdeck.run")
# updates worth more than INFO; a run that ends in anything but success is a warning
_LEVELS = {"step.failed": logging.ERROR, "step.retrying": logging.WARNING, "step.canceled": logging.WARNING}


class RunLog:
    """An executor observer writing one record per update of run ``run_id`` of ``pipeline``."""

    def __init__(self, run_id: str, pipeline: str) -> None:
        self.run_id = run_id
        self.pipeline = pipeline

    def __call__(self, update: RunUpdate) -> None:
        level = _LEVELS.get(update.kind, logging.INFO)
        if update.kind == "run.finished" and update.status != "succeeded":
            level = logging.ERROR if update.status == "failed" else logging.WARNING
        if update.kind == "check" and update.status in ("warned", "failed"):
            level = logging.WARNING
        event = f"run.{update.status}" if update.kind == "run.finished" and update.status else update.kind
        log.log(level, describe(update), extra=run_fields(self.run_id, self.pipeline, update.step, event))


def describe(update: RunUpdate) -> str:
    """One sentence for an update: ``step orders succeeded: 120 rows``."""
    if update.kind == "plan":
        return "steps to run: " + ", ".join((update.message or "").split(","))
    if update.kind == "run.finished":
        return f"run {update.status or 'finished'}" + (f": {update.message}" if update.message else "")
    if update.kind in ("check", "waiting", "note"):  # the message says it all
        return (f"step {update.step}: " if update.step else "") + (update.message or update.kind)
    verb = {"step.started": "started", "step.succeeded": "succeeded", "step.failed": "failed",
            "step.skipped": "skipped", "step.reused": "reused from an earlier run", "step.retrying": "is retried",
            "step.canceled": "canceled"}.get(update.kind, update.kind)
    parts = [f"step {update.step} {verb}"]
    if update.rows is not None:
        parts.append(f"{update.rows} rows")
    if update.message:
        parts.append(update.message)
    return ": ".join(parts)
