"""The launch dialog: a run's parameters and its plan, what each step would do and why, before it is queued.

The plan comes from the engine (``Workspace.preview``, what `flowdeck plan` prints): a step whose
fingerprint says nothing it depends on changed is ``unchanged`` and the run reuses its output;
the others run, each with its reasons (``SQL changed``, ``upstream step `x` changed``, ``new step``
...). It is computed in a worker, again whenever a parameter, the force box, the environment or a
pipeline file changes; the console owns no run: launching queues it through the engine as before.
The environment field (``prod`` unless changed) is where the run writes: in a development environment
the plan says which steps it would read from prod (``= unchanged (prod)``), docs/environments.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Checkbox, Input, Label, Static

from flowdeck.console.tui.messages import LaunchPlanned
from flowdeck.console.tui.widgets.status import status_style, status_text
from flowdeck.engine.errors import FlowdeckError

if TYPE_CHECKING:
    from flowdeck.console.tui.app import FlowdeckConsole
    from flowdeck.engine.run.preview import RunPreview

REPLAN_AFTER_SECONDS = 0.3  # after the last key typed in a parameter: one plan per pause, not one per key


@dataclass(frozen=True)
class Launch:
    """What the operator chose: the parameters typed (empty ones left out), whether to force every step, and
    the environment the run writes to."""

    params: dict[str, str]
    force: bool
    environment: str = "prod"


class LaunchDialog(ModalScreen[Launch | None]):
    """Before a run: its parameters, prefilled with their defaults, a force box, and its plan."""

    BINDINGS = [Binding("escape,f9", "cancel", "Cancel"), Binding("ctrl+r,f5", "submit", "Run"),
                Binding("enter", "submit", "Run", show=False)]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]  # a tall terminal shows more of the plan unscrolled

    def __init__(self, pipeline: str, params: dict[str, str | None]) -> None:
        super().__init__(classes="dialog-screen")
        self.pipeline = pipeline
        self.params = params
        self._asked = 0  # plans asked for: an answer to an older question is not shown
        self._replan: Timer | None = None

    def compose(self) -> ComposeResult:
        """One labelled input per parameter, the force box, the plan."""
        with Vertical(classes="dialog launch-dialog", id="launch"):
            yield Label(f"▶ run {self.pipeline}", classes="dialog-title")
            for name, default in self.params.items():
                yield Label(name)
                yield Input(value=default or "", placeholder="required" if default is None else "", id=f"param-{name}")
            # the environment on the force box's line (the plan keeps its rows at 80x24), after the box, so Tab
            # from the parameters still reaches the box first
            with Horizontal(id="launch-options"):
                yield Checkbox(force_label(False), id="force", compact=True)
                yield Label("  environment ")
                yield Input(value="prod", id="environment", compact=True)
            with VerticalScroll(id="launch-plan"):
                yield Static("planning…", id="plan")
            yield Static("Enter or ^r: run · Tab: the force box (Space), the environment, the plan (↓) · Esc: cancel",
                         classes="dialog-hint")

    def on_mount(self) -> None:
        """Focus the first parameter (else the plan) and ask for the plan."""
        fields = self.query(Input)
        (fields.first() if fields else self.query_one("#launch-plan")).focus()
        self._plan()

    def launch(self) -> Launch:
        """The parameters typed (an empty one takes its default), the force box and the environment."""
        values = {name: self.query_one(f"#param-{name}", Input).value for name in self.params}
        return Launch({name: value for name, value in values.items() if value != ""},
                      self.query_one("#force", Checkbox).value,
                      self.query_one("#environment", Input).value.strip() or "prod")

    def action_cancel(self) -> None:
        """Close without running."""
        self.dismiss(None)

    def action_submit(self) -> None:
        """Run with the values typed."""
        self.dismiss(self.launch())

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    @on(Input.Changed)
    def _param_changed(self, event: Input.Changed) -> None:
        if self._replan is not None:
            self._replan.stop()
        self._replan = self.set_timer(REPLAN_AFTER_SECONDS, self._plan)

    @on(Checkbox.Changed, "#force")
    def _force_changed(self, event: Checkbox.Changed) -> None:
        event.checkbox.label = force_label(event.value)  # in words: the box's mark reads alike on and off in 16 colours
        self._plan()

    def _plan(self) -> None:
        console = cast("FlowdeckConsole", self.app)
        workspace, pipeline, launch = console.workspace, self.pipeline, self.launch()
        self._asked += 1
        request = self._asked

        def plan() -> Message:
            try:
                preview = workspace.preview(pipeline, launch.params, force=launch.force,
                                            environment=launch.environment)
            except FlowdeckError as error:  # a parameter being typed: said here, not as an error dialog
                return LaunchPlanned(request, Text(f"✗ {error.render()}", style=status_style("failed")))
            return LaunchPlanned(request, plan_text(preview, launch.environment))

        console.engine_worker(self, plan, title=f"planning {pipeline}", group="plan", exclusive=True)

    def files_changed(self, *, visible: bool) -> None:
        """A pipeline file changed on disk (the console looks every 2 s): plan again, from the files as they are now."""
        self._plan()

    def on_launch_planned(self, message: LaunchPlanned) -> None:
        """Show the plan, if it answers the latest question."""
        if message.request == self._asked:
            self.query_one("#plan", Static).update(message.text)


def force_label(force: bool) -> str:
    """The force box's label, saying whether it is on."""
    return "force ON: every step runs (--force)" if force else "force off: unchanged steps are reused"


def plan_text(preview: RunPreview, environment: str = "prod") -> Group:
    """How many steps run (and in which environment, if not prod) and how many are unchanged, then one row a
    step: its name, and ``= unchanged`` (``(prod)``: read from prod) or ``▶ runs`` with why (wrapped under
    itself, never cut)."""
    running = sum(1 for change in preview.changes.values() if change.runs)
    unchanged = len(preview.changes) - running
    from_prod = sum(1 for change in preview.changes.values() if change.reads_prod)
    summary = Text(f"{running} step{'s' if running != 1 else ''} will run"
                   + (f" in {environment}" if environment != "prod" else "") + f", {unchanged} unchanged"
                   + (f" ({from_prod} read from prod)" if from_prod else "")
                   + (" (forced)" if preview.force else ""), style="bold")
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 2, 0, 0), expand=True)
    table.add_column("step", no_wrap=True)
    table.add_column("plan", ratio=1)
    for name in preview.plan.order:
        change = preview.changes[name]
        if change.runs:
            shown = Text("▶ runs", style=status_style("running"))
            shown.append(f"  {'; '.join(preview.reasons(name))}", style="")  # a changed query: breaking or not
        else:
            shown = status_text("unchanged")
            if change.reads_prod:
                shown.append(" (prod)")
        table.add_row(name, shown)
    return Group(summary, table)
