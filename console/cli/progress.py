"""The foreground view of a run: a live table of steps on a terminal, plain lines elsewhere."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flowdeck.console.cli.output import err, format_duration, format_rows, out, plain, status_text
from flowdeck.engine.plan.planner import Plan
from flowdeck.engine.run.executor import RunUpdate
from flowdeck.state import RunRecord
from flowdeck.state.status import RunStatus

if TYPE_CHECKING:  # the live table is drawn only on a terminal; off one, rich.live is not loaded
    from rich.live import Live
    from rich.table import Table


@dataclass
class _StepLine:
    name: str
    kind: str
    status: str = "pending"
    rows: int | None = None
    started: float | None = None
    ended: float | None = None
    note: str | None = None


class RunProgress:
    """Receives ``RunUpdate``s from the executor (on its threads) and shows them."""

    def __init__(self, run_id: str, pipeline: str, plan: Plan, *, selected: str = "") -> None:
        self.run_id = run_id
        self.pipeline = pipeline
        self.selected = selected  # what --select/--exclude/--from chose, as `show` says it
        self.lines = {name: _StepLine(name, plan.steps[name].kind) for name in plan.order}
        self.notes: list[str] = []
        self._lock = threading.Lock()
        self._interactive = out().is_terminal
        self._live: Live | None = None
        self._started = time.monotonic()

    @contextmanager
    def live(self) -> Iterator[None]:
        """Show the live table for the duration of the block (only on a terminal)."""
        err().print(f"run [bold]{self.run_id}[/] of [bold]{self.pipeline}[/]"
                    + (f", selected {plain(self.selected)}" if self.selected else ""))
        if not self._interactive:
            yield
            return
        from rich.live import Live

        # drawn anew at each refresh, not only at each update: a running step's time goes on as it runs
        with Live(console=out(), get_renderable=self._render, refresh_per_second=8, transient=False) as live:
            self._live = live
            try:
                yield
            finally:
                live.refresh()
                self._live = None

    def update(self, update: RunUpdate) -> None:
        """Apply one executor update (thread-safe)."""
        with self._lock:
            line = self.lines.get(update.step or "")
            now = time.monotonic()
            if update.kind == "plan" and update.message is not None:
                chosen = update.message.split(",") if update.message else []
                self.lines = {name: line for name, line in self.lines.items() if name in chosen}
            elif update.kind == "step.started" and line:
                line.status, line.started = "running", line.started or now
            elif update.kind == "step.retrying" and update.message:
                err().print(f"[yellow]{update.message}[/]")
            elif update.kind == "plan.changes" and update.message:
                for text in update.message.splitlines():
                    (self._live.console if self._live is not None else err()).print(f"[dim]plan:[/] {plain(text)}")
            elif update.kind == "step.reused" and line:
                line.status, line.rows = update.status or "reused", update.rows
                if not self._interactive:
                    self._print_line(line)
            elif update.kind.startswith("step.") and line:
                line.status = update.kind.split(".", 1)[1]
                line.rows, line.ended = update.rows, now
                line.note = update.message if update.kind == "step.succeeded" else None
                if not self._interactive:
                    self._print_line(line)
            elif update.kind == "check" and update.status in ("failed", "warned") and update.message:
                self.notes.append(f"{status_text(update.status)} {plain(update.message)}")
                if not self._interactive:
                    err().print(self.notes[-1])
            elif update.kind == "waiting" and update.message:
                err().print(f"[yellow]{plain(update.message)}[/]")
            elif update.kind == "note" and update.message:
                err().print(f"[dim]{plain(update.message)}[/]")
            if self._live is not None:
                self._live.refresh()

    def _print_line(self, line: _StepLine) -> None:
        elapsed = (line.ended or 0) - (line.started or line.ended or 0)
        out().print(f"{status_text(line.status)}  {line.name} ({line.kind})  {format_rows(line.rows)}"
                    f"{' rows' if line.rows is not None else ''}  {format_duration(elapsed) if line.started else ''}"
                    + (f"  ({line.note})" if line.note else ""))

    def _render(self) -> Table:
        from rich.table import Table

        table = Table(box=None, pad_edge=False, show_header=True)
        for column in ("STEP", "KIND", "STATUS", "ROWS", "TIME"):
            table.add_column(column, justify="right" if column in ("ROWS", "TIME") else "left")
        now = time.monotonic()
        # no lock: rich's refresh thread calls this holding the display's lock, which update takes after ours;
        # a copy of the lines is taken at once (list() of a dict's values holds the interpreter throughout)
        for line in list(self.lines.values()):
            elapsed = None if line.started is None else (line.ended or now) - line.started
            table.add_row(line.name, line.kind, status_text(line.status), format_rows(line.rows),
                          format_duration(elapsed))
        return table

    def summary(self, run: RunRecord) -> None:
        """The closing lines: notes on checks, the outcome, the error."""
        if self._interactive:
            for note in self.notes:
                err().print(note)
        took = format_duration(run.duration)
        out().print(f"{status_text(run.status)}  run {run.run_id} of {run.pipeline} in {took}")
        if run.error and run.status != RunStatus.SUCCEEDED:
            err().print(f"[red]{plain(run.error)}[/]")
