"""The DAG editor: a pipeline's steps in run order and its graph; add, remove, rename a step, set depends_on.

Each change is made by the engine's DAG session (engine/operations/dag_edit.py) in a worker:
validated by the project's own planning before it is accepted (a refusal is shown with its file
and line, and nothing changes), kept pending until saved (s), undone one by one with u. The
table and the graph are drawn again after every change; leaving with pending changes asks first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static

from flowdeck.console.tui.actions import bindings
from flowdeck.console.tui.messages import DagChanged, DagOpened, DagSaved
from flowdeck.console.tui.screens.base import ConsoleScreen
from flowdeck.console.tui.screens.dialogs import ConfirmDialog, FormDialog
from flowdeck.console.tui.widgets.footer import ConsoleFooter
from flowdeck.console.tui.widgets.status import tone
from flowdeck.console.tui.widgets.tables import ColumnSpec, cursor_key, lay_out, pick, refill
from flowdeck.console.tui.widgets.top_bar import TopBar

if TYPE_CHECKING:
    from flowdeck.engine.operations.dag_edit import DagSession
    from flowdeck.state import EventRecord


class DagEditorScreen(ConsoleScreen):
    """Edit one pipeline's DAG; changes are pending until saved."""

    SCOPE = "dag"
    TITLE_TEXT = "DAG editor"
    BINDINGS = bindings("dag")

    def __init__(self, pipeline: str) -> None:
        super().__init__(id="dag-editor")
        self.pipeline = pipeline
        self.session: DagSession | None = None
        self.changed_on_disk = False
        self.note = ""

    def compose(self) -> ComposeResult:
        """Top bar, the steps, the pending-changes line, the graph, footer."""
        yield TopBar(f"DAG of {self.pipeline}")
        yield DataTable(id="dag-steps", cursor_type="row", zebra_stripes=False)
        yield Static("reading…", id="dag-status", classes="problem-line")
        with VerticalScroll(id="dag-graph-panel"):
            yield Static("", id="dag-graph")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        """Read the pipeline (the session plans it once)."""
        self.query_one(DataTable).focus()
        self._open()

    def _open(self) -> None:
        workspace, pipeline = self.console.workspace, self.pipeline
        self.console.engine_worker(self, lambda: DagOpened(workspace.dag_session(pipeline)),
                                   title=f"opening the DAG of {pipeline}", group="dag-edit", exclusive=True)

    def on_screen_resume(self) -> None:
        """Nothing to reload: the session is the truth while editing."""
        self.refresh_top_bar()

    def ledger_changed(self, events: list[EventRecord]) -> None:
        """Runs do not change the DAG."""

    def files_changed(self, *, visible: bool) -> None:
        """pipeline.yaml edited elsewhere: with nothing pending, read it again; else saving will be refused."""
        session = self.session
        if session is None:
            return
        try:
            on_disk = session.path.read_text(encoding="utf-8")
        except OSError:
            on_disk = None
        if on_disk in (session.loaded_text, session.current.text):  # unchanged, or our own save landing
            return
        if session.dirty:
            self.changed_on_disk = True
            self._draw()
        else:
            self._open()

    def on_dag_opened(self, message: DagOpened) -> None:
        """Show the steps and the graph."""
        self.session = message.session
        self.changed_on_disk = False
        self._draw()

    def on_dag_changed(self, message: DagChanged) -> None:
        """A change was accepted (or undone): draw it again and say what it was."""
        self.note = message.note
        self._draw()

    def on_dag_saved(self, message: DagSaved) -> None:
        """The changes are on disk."""
        self.changed_on_disk = False
        self.note = f"saved {', '.join(path.name for path in message.paths)}"
        self.notify(self.note, title="saved", markup=False)
        self._draw()

    def on_resize(self) -> None:
        """The table's last column takes the width left."""
        if self.session is not None:
            self.call_after_refresh(self._draw)

    def _draw(self) -> None:
        session = self.session
        if session is None:
            return
        from flowdeck.engine.plan.describe import graph_text, levels

        plan = session.current.plan
        table = self.query_one(DataTable)
        longest = max((len(name) for name in plan.order), default=8) if plan is not None else 8
        keys = lay_out(table, [ColumnSpec("#", "level", 2), ColumnSpec("STEP", "name", min(max(longest, 8), 40)),
                               ColumnSpec("KIND", "kind", 9), ColumnSpec("WAITS FOR", "upstream", None, min_width=12)])
        rows = []
        if plan is not None:
            level_of = {name: depth + 1 for depth, names in enumerate(levels(plan)) for name in names}
            for name in plan.order:
                step = plan.steps[name]
                upstream = ", ".join(sorted(step.upstream, key=lambda other: plan.steps[other].index))
                cells = {"level": str(level_of[name]), "name": name, "kind": step.kind, "upstream": upstream}
                rows.append((name, pick(cells, keys)))
        refill(table, rows)
        graph = graph_text(plan) if plan is not None else (
            f"[b]✗ {self.pipeline} is invalid[/b]: a change that mends it is accepted; or edit it (e on the list)")
        self.query_one("#dag-graph", Static).update(graph)
        self.query_one("#dag-status", Static).update(self._status_line(session))

    def _status_line(self, session: DagSession) -> str:
        changes = session.changes()
        if changes:
            count = f"{len(changes)} change{'s' if len(changes) > 1 else ''}"
            line = f"[{tone('bold')}]● {count} not saved[/] (last: {_escape(changes[-1])}) · s save · u undo"
        else:
            line = "  no pending change · a add · d remove · r rename · w depends on"
        if self.changed_on_disk:
            line += f"\n[{tone('bold yellow')}]⚠ pipeline.yaml changed on disk: saving is refused; Esc and reopen[/]"
        elif self.note and not changes:
            line += f"\n[{tone('dim')}]{_escape(self.note)}[/]"
        return line.replace("[]", "")

    # -- actions -----------------------------------------------------------------------------------------

    def selected_step(self) -> str | None:
        """The step under the cursor."""
        return cursor_key(self.query_one(DataTable))

    def selected_pipeline(self) -> str | None:
        """The pipeline being edited."""
        return self.pipeline

    def _change(self, title: str, change_of: object) -> None:
        """Make a change in a worker; the engine's refusal (with its file and line) opens a dialog."""
        session = self.session
        if session is None:
            return

        def work() -> Message:
            state = change_of(session)  # type: ignore[operator]
            return DagChanged(state.description)

        self.console.engine_worker(self, work, title=f"refused: {title}", group="dag-edit", exclusive=True)

    def action_add_step(self) -> None:
        """Ask for the new step's kind, name and what it reads; add it after the others."""
        if self.console.refuse_if_read_only("editing the DAG", "add_step") or self.session is None:
            return
        plan = self.session.current.plan
        selected = self.selected_step()
        reads = ""
        if plan is not None and selected in plan.steps:
            reads = plan.steps[selected].output or getattr(plan.steps[selected].config, "table", "") or ""

        def answered(values: dict[str, str] | None) -> None:
            if not values:
                return
            depends = _names(values["depends_on"])
            self._change(f"add step {values['name']}", lambda session: session.add_step(
                values["name"], values["kind"].lower(), reads=values["reads"], depends_on=depends))

        self.app.push_screen(FormDialog("+ add a step", [
            ("kind", "kind (extract, transform, check, load)", "transform"),
            ("name", "name", ""),
            ("reads", "reads: the table it uses (an extract: the file path)", reads),
            ("depends_on", "depends on (steps, comma-separated; optional)", ""),
        ], hint="a transform or check gets <name>.sql from a template"), answered)

    def action_remove_step(self) -> None:
        """Remove the selected step, after confirming (No is the default)."""
        if self.console.refuse_if_read_only("editing the DAG", "remove_step"):
            return
        step = self.selected_step()
        if step is None or self.session is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._change(f"remove step {step}", lambda session: session.remove_step(step))

        self.app.push_screen(ConfirmDialog(f"Remove step {step} from {self.pipeline}?\n(its SQL file stays on disk; "
                                           "nothing is written until you save)", yes="Remove"), answered)

    def action_rename_step(self) -> None:
        """Rename the selected step (its table keeps its name; its SQL file too unless asked)."""
        if self.console.refuse_if_read_only("editing the DAG", "rename_step"):
            return
        step = self.selected_step()
        if step is None or self.session is None:
            return

        def answered(values: dict[str, str] | None) -> None:
            if not values or not values["name"]:
                return
            rename_file = values.get("rename_sql", "").lower() in ("y", "yes")
            self._change(f"rename step {step}", lambda session: session.rename_step(
                step, values["name"], rename_sql_file=rename_file))

        plan = self.session.current.plan
        fields = [("name", "new name", step)]
        if plan is not None and step in plan.steps and plan.steps[step].kind == "transform":
            fields.append(("rename_sql", "save its SQL file under the new name too? (y/N)", "n"))
        self.app.push_screen(FormDialog(f"rename step {step}", fields, hint="its table keeps its name (output: is "
                                        "written), so no SQL reading it changes"), answered)

    def action_edit_depends_on(self) -> None:
        """Set the selected step's depends_on (the edges its SQL does not show)."""
        if self.console.refuse_if_read_only("editing the DAG", "edit_depends_on"):
            return
        step = self.selected_step()
        if step is None or self.session is None or self.session.current.plan is None:
            return
        current = ", ".join(self.session.current.plan.steps[step].config.depends_on)

        def answered(values: dict[str, str] | None) -> None:
            if values is not None:
                depends = _names(values["depends_on"])
                self._change(f"set depends_on of {step}", lambda session: session.set_depends_on(step, depends))

        self.app.push_screen(FormDialog(f"{step} depends on", [("depends_on", "steps, comma-separated (empty: none)",
                                                                current)],
                                        hint="edges read from the SQL stay; these are the extra ones"), answered)

    def action_undo(self) -> None:
        """Take back the last pending change."""
        if self.console.refuse_if_read_only("editing the DAG", "undo") or self.session is None:
            return
        undone = self.session.undo()
        self.note = f"undone: {undone}" if undone else "nothing to undo"
        if undone is None:
            self.notify("nothing to undo", timeout=2)
        self._draw()

    def action_save(self) -> None:
        """Write the pending changes (new SQL files, then pipeline.yaml)."""
        if self.console.refuse_if_read_only("saving", "save") or self.session is None:
            return
        if not self.session.dirty:
            self.notify("nothing to save", timeout=2)
            return
        workspace, session = self.console.workspace, self.session
        self.console.engine_worker(self, lambda: DagSaved(workspace.save_dag(session)),
                                   title=f"saving the DAG of {self.pipeline}", group="dag-edit", exclusive=True)

    def unsaved_work(self) -> list[str]:
        """The pending DAG changes, if any."""
        if self.session is None or not self.session.dirty:
            return []
        count = len(self.session.changes())
        return [f"{self.pipeline}'s DAG ({count} change{'s' if count > 1 else ''})"]

    def handle_back(self) -> bool:
        """Leaving with pending changes asks first."""
        unsaved = self.unsaved_work()
        if not unsaved:
            return False
        self.app.push_screen(ConfirmDialog(f"Discard unsaved changes to {', '.join(unsaved)}?", yes="Discard"),
                             lambda yes: self.app.pop_screen() if yes else None)
        return True

    def action_close(self) -> None:
        """Close the DAG editor (asking first if changes are pending)."""
        if not self.handle_back():
            self.app.pop_screen()


def _names(text: str) -> list[str]:
    return [name for name in text.replace(",", " ").split() if name]


def _escape(text: str) -> str:
    return text.replace("[", r"\[")
