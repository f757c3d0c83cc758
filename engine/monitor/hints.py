"""Performance hints: what flowdeck measured about a finished run, turned into plain advice.

Each hint reads measures the run already left in the ledger (step times and their history, rows
in, bytes read, the run process's memory and the size of its temporary folder over time) and the
project's settings, and says what to change, with the section of docs/tuning.md that explains it.
A run that did nothing unusual gets none. Nothing here draws: `flowdeck show`, `flowdeck report`
and the console's run view print what ``run_hints`` returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.units import format_bytes, format_duration
from flowdeck.state import Ledger, RunRecord
from flowdeck.state.status import StepStatus

if TYPE_CHECKING:
    from flowdeck.engine.monitor.views import RunMetrics, StepView
    from flowdeck.engine.project.project import Project

TUNING_PAGE = "docs/tuning.md"

# A step is "slower than usual" when it took more than SLOWER_FACTOR times the p95 of its last
# HISTORY_RUNS successful executions, at least SLOWER_MIN_SECONDS more, with at least
# HISTORY_MIN_RUNS of them to compare with: a step of 0.05 s taking 0.2 s is noise, not news.
HISTORY_RUNS = 50
HISTORY_MIN_RUNS = 5
SLOWER_FACTOR = 1.5
SLOWER_MIN_SECONDS = 1.0
ROWS_GREW_FACTOR = 1.5  # rows in this many times the usual: the input grew, say so

# A CSV source is "parsed again" when CSV_MIN_BYTES or more of the same size were parsed by
# CSV_MIN_RUNS runs or more within CSV_WINDOW_DAYS: small files cost nothing to re-read.
CSV_MIN_BYTES = 32 * 1024 * 1024
CSV_MIN_RUNS = 3
CSV_WINDOW_DAYS = 7

WHOLE_RESULT_MIN_ROWS = 1_000_000  # a sort or DISTINCT of fewer rows costs little

SPILL_MIN_BYTES = 8 * 1024 * 1024  # DuckDB spills a little now and then; this much is worth a word
MEMORY_NEAR_FRACTION = 0.7  # of warehouse.memory_limit (or of DuckDB's default, 80% of RAM): the run process's growth
# under-counts what DuckDB holds (it starts with buffers of its own), so 70% of it is close


@dataclass(frozen=True)
class Hint:
    """One piece of advice about a run: what was seen, what to do, and where the docs explain it."""

    kind: str  # slower_than_usual, csv_parsed_again, sorts_whole_result, distinct_whole_result, spilled_to_disk,
    #            memory_near_limit
    step: str | None  # the step it is about, or None for the whole run
    text: str
    anchor: str  # the section of docs/tuning.md

    @property
    def doc(self) -> str:
        """The page and section that explains it: ``docs/tuning.md#spilled-to-disk``."""
        return f"{TUNING_PAGE}#{self.anchor}"

    def to_json(self) -> dict[str, Any]:
        """The JSON object of a hint (``show --json``, ``report --json``)."""
        return {"kind": self.kind, "step": self.step, "text": self.text, "doc": self.doc}


def run_hints(ledger: Ledger, project: Project, metrics: RunMetrics) -> list[Hint]:
    """The hints of a finished run (none while it runs: its measures are not complete yet).

    History is read as it was when the run was created, so a run's hints do not change as later
    runs arrive.
    """
    run = metrics.run
    if not run.finished:
        return []
    hints: list[Hint] = []
    for view in metrics.steps:
        if view.record.status != StepStatus.SUCCEEDED or view.record.reused_from:
            continue
        hints.extend(_slower_than_usual(ledger, run, view))
        hints.extend(_csv_parsed_again(ledger, project, run, view))
        hints.extend(_sort_or_distinct_of_everything(ledger, run, view))
    spilled = _spilled_to_disk(project, metrics)
    hints.extend(spilled)
    if not spilled:  # a spill already says memory ran short
        hints.extend(_memory_near_limit(project, metrics))
    return hints


def _slower_than_usual(ledger: Ledger, run: RunRecord, view: StepView) -> list[Hint]:
    seconds = view.seconds
    if seconds is None:
        return []
    history = ledger.step_runs(run.pipeline, view.record.step, before=run.created_at, limit=HISTORY_RUNS)
    if len(history) < HISTORY_MIN_RUNS:
        return []
    p95 = _percentile([past.seconds for past in history], 0.95)
    if seconds <= p95 * SLOWER_FACTOR or seconds - p95 < SLOWER_MIN_SECONDS:
        return []
    step = view.record.step
    usual_rows = _median([past.rows_in for past in history if past.rows_in is not None])
    if usual_rows and view.rows_in is not None and view.rows_in >= usual_rows * ROWS_GREW_FACTOR:
        why = (f"it read {view.rows_in:,} rows, usually {usual_rows:,.0f}: its input grew; if that is the new "
               "normal, make it incremental so a run reads only what is new")
    else:
        why = ("with its usual input: look for what else ran on the machine then (another run, a backup), "
               "or for a change in its SQL")
    return [Hint("slower_than_usual", step,
                 f"step {step} took {format_duration(seconds)}, slower than 95% of its last {len(history)} runs "
                 f"(p95 {format_duration(p95)}), {why}", "slower-than-usual")]


def _csv_parsed_again(ledger: Ledger, project: Project, run: RunRecord, view: StepView) -> list[Hint]:
    size = view.bytes_in
    if view.record.kind != "extract" or size is None or size < CSV_MIN_BYTES:
        return []
    path = _csv_source(project, run.pipeline, view.record.step)
    if path is None:
        return []
    earlier = ledger.step_runs(run.pipeline, view.record.step, since=run.created_at - CSV_WINDOW_DAYS * 86400,
                               before=run.created_at, limit=1000)
    parsed = 1 + sum(1 for past in earlier if past.bytes_in == size)  # this run, and the earlier ones of that size
    if parsed < CSV_MIN_RUNS:
        return []
    return [Hint("csv_parsed_again", view.record.step,
                 f"{path} ({format_bytes(size)}) was parsed by {parsed} runs of the last {CSV_WINDOW_DAYS} days "
                 f"(step {view.record.step}); convert it to Parquet once and read that: a CSV is parsed "
                 "whole every time, Parquet reads only the columns a query uses", "csv-parsed-again")]


def _sort_or_distinct_of_everything(ledger: Ledger, run: RunRecord, view: StepView) -> list[Hint]:
    from flowdeck.engine.sql.analysis import whole_result_work

    rows = max(view.rows_in or 0, view.rows_out or 0)
    if view.record.kind != "transform" or rows < WHOLE_RESULT_MIN_ROWS:
        return []
    staged = [statement for statement in ledger.step_statements(run.run_id, view.record.step)
              if statement.purpose in ("stage", "view")]
    latest = max((statement.attempt for statement in staged), default=None)
    work = {whole_result_work(statement.sql) for statement in staged if statement.attempt == latest} - {None}
    step, took = view.record.step, format_duration(view.seconds)
    if "ORDER BY" in work:
        return [Hint("sorts_whole_result", step,
                     f"step {step} sorts all of its {rows:,} rows (ORDER BY with no LIMIT; the step took {took}): "
                     "sort where an order is needed, in the query that reads the table or in a load step, or "
                     "keep it only if filters on that column should skip blocks", "sort-or-distinct-of-everything")]
    if "DISTINCT" in work:
        return [Hint("distinct_whole_result", step,
                     f"step {step} removes duplicates from all of its {rows:,} rows (SELECT DISTINCT; the step took "
                     f"{took}): if a join makes them, join on the whole key; if the input re-delivers rows, keep "
                     "one per key (QUALIFY row_number() ... = 1) or make the step incremental with a unique_key",
                     "sort-or-distinct-of-everything")]
    return []


def _csv_source(project: Project, pipeline: str, step: str) -> str | None:
    """The path pattern of ``step``'s source if it reads CSV files, as pipeline.yaml writes it."""
    from flowdeck.engine.project.config.steps import ExtractStep, FileSource

    try:
        config = project.pipeline(pipeline).config
    except FlowdeckError:  # the pipeline was removed or broken since: no hint rather than an error
        return None
    found = next((candidate for candidate in config.steps if candidate.name == step), None)
    if not isinstance(found, ExtractStep) or not isinstance(found.source, FileSource):
        return None
    source = found.source
    csv = source.format == "csv" or (source.format is None and source.path.lower().endswith((".csv", ".csv.gz")))
    return source.path if csv else None


def _spilled_to_disk(project: Project, metrics: RunMetrics) -> list[Hint]:
    peak = max(metrics.resources, key=lambda sample: sample.temp_bytes or 0, default=None)
    if peak is None or (peak.temp_bytes or 0) < SPILL_MIN_BYTES:
        return []
    running = [view.record.step for view in metrics.steps
               if view.record.started_at is not None and view.record.started_at <= peak.ts
               and (view.record.ended_at is None or view.record.ended_at >= peak.ts)]
    where = f" while {_names(running)} ran" if running else ""
    limit = project.config.warehouse.memory_limit
    now = f" (now {limit})" if limit else " (now DuckDB's default, 80% of RAM)"
    parallel = " or lower max_parallel_steps so fewer steps share it," if len(running) > 1 else ""
    return [Hint("spilled_to_disk", running[0] if len(running) == 1 else None,
                 f"the run spilled {format_bytes(peak.temp_bytes)} to disk (.flowdeck/tmp){where}: raise "
                 f"warehouse.memory_limit{now},{parallel} or put .flowdeck/tmp on a fast local disk",
                 "spilled-to-disk")]


def _memory_near_limit(project: Project, metrics: RunMetrics) -> list[Hint]:
    rss = [sample.rss_bytes for sample in metrics.resources if sample.rss_bytes is not None]
    if len(rss) < 2:
        return []
    grew = max(rss) - min(rss)  # what the run added on top of the process itself (Python, the engine's code)
    setting = project.config.warehouse.memory_limit
    limit = _limit_bytes(setting) if setting else _default_limit()
    if not limit or grew < limit * MEMORY_NEAR_FRACTION:
        return []
    named = f"warehouse.memory_limit ({setting})" if setting else "DuckDB's default limit (80% of RAM)"
    return [Hint("memory_near_limit", None,
                 f"the run's memory grew by {format_bytes(grew)}, {100 * grew / limit:.0f}% of {named}: one larger input "
                 "and DuckDB spills to disk or fails out of memory; raise the limit, or lower max_parallel_steps "
                 "so fewer steps share it", "memory-near-the-limit")]


_UNITS = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
          "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}


def _limit_bytes(setting: str) -> int | None:
    """DuckDB's ``memory_limit`` text in bytes (``4GB`` is 4·10⁹ there, ``4GiB`` 4·2³⁰); None if unreadable."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", setting)
    if match is None:
        return None
    unit = (match.group(2) or "b").lower()
    unit = {"k": "kb", "m": "mb", "g": "gb", "t": "tb"}.get(unit, unit)
    factor = _UNITS.get(unit)
    return int(float(match.group(1)) * factor) if factor else None


def _default_limit() -> int | None:
    """DuckDB's memory limit when none is set: 80% of this machine's RAM."""
    try:
        import psutil

        return int(psutil.virtual_memory().total * 0.8)
    except Exception:  # psutil unavailable: no limit known, no hint
        return None


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def _median(values: list[int]) -> float | None:
    return _percentile([float(value) for value in values], 0.5) if values else None


def _names(steps: list[str]) -> str:
    return ", ".join(steps[:3]) + (f" and {len(steps) - 3} more" if len(steps) > 3 else "")
