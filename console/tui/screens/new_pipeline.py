"""The new-pipeline assistant as a form: the questions of `flowdeck new pipeline`, the YAML it will write, and Save.

The answers go to engine/assistant.py, as the CLI's do: after each pause in typing a worker
renders the files and validates them with the project's own validation; a wrong answer is
marked beside its input, and the preview shows exactly what Save would write. Save writes
through ``Workspace.create_pipeline`` (role check, audit), and only when nothing is wrong.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.syntax import Syntax
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Label, Select, Static
from textual.worker import Worker

from flowdeck.console.tui.actions import bindings
from flowdeck.console.tui.checking import TypingCheck
from flowdeck.console.tui.messages import DraftChecked, PipelineCreated
from flowdeck.console.tui.screens.base import ConsoleScreen
from flowdeck.console.tui.widgets.footer import ConsoleFooter
from flowdeck.console.tui.widgets.status import tone
from flowdeck.console.tui.widgets.top_bar import TopBar

if TYPE_CHECKING:
    from flowdeck.engine.operations.assistant import PipelineAnswers
    from flowdeck.state import EventRecord

WHEN_OPTIONS = [("on a cron schedule", "cron"), ("every interval", "interval"), ("when files land", "files"),
                ("by hand only", "none")]
FORMAT_OPTIONS = [("from the extension", ""), ("csv", "csv"), ("parquet", "parquet"), ("json", "json")]
# input id → (label, placeholder, initial value); the order is the form's
TEXT_FIELDS: dict[str, tuple[str, str, str]] = {
    "name": ("Pipeline name", "daily_orders", ""),
    "source": ("Source files (path or glob)", "data/orders/*.csv", ""),
    "source_table": ("Table of the connection", "public.orders", ""),
    "cron": ("Cron (min hour day month weekday)", "0 6 * * *", "0 6 * * *"),
    "timezone": ("Time zone", "UTC", "UTC"),
    "interval": ("Interval", "15m", ""),
    "watch": ("Folder to watch", "landing/orders", ""),
    "patterns": ("File names that count", "*.csv", "*"),
    "settle": ("Settle time", "5s", "5s"),
    "archive": ("Move processed files to (optional)", "archive/orders", ""),
    "not_null": ("Never empty (columns, optional)", "order_id, order_date", ""),
    "unique": ("Unique (columns, optional)", "order_id", ""),
    "min_rows": ("Fewest rows (optional)", "1", ""),
    "table": ("Destination table (default: the name)", "", ""),
    "export": ("Export to .parquet/.csv (optional)", "exports/orders.parquet", ""),
}
GROUPS = {"cron": ("cron", "timezone"), "interval": ("interval",), "files": ("watch", "patterns", "settle", "archive")}


class NewPipelineScreen(ConsoleScreen):
    """Ask for a source, a schedule or trigger, checks and a destination; preview, validate, save."""

    SCOPE = "new"
    TITLE_TEXT = "New pipeline"
    BINDINGS = bindings("new")

    def __init__(self, name: str = "") -> None:
        super().__init__()
        self.initial_name = name
        self.check = TypingCheck(self, self._check_answers)
        self.checked: DraftChecked | None = None
        self._save_worker: Worker[None] | None = None
        self.saving = False

    def compose(self) -> ComposeResult:
        """Top bar; the form on the left, the preview on the right; the problem line; footer."""
        connections = sorted(getattr(self.console.workspace.project.config, "connections", None) or {})
        yield TopBar("New pipeline")
        with Horizontal(id="new-body"):
            with VerticalScroll(id="new-form"):
                for field, (label, placeholder, value) in TEXT_FIELDS.items():
                    if field == "source" and connections:
                        yield Label("Read from", classes="field-label")
                        yield Select([("files", ""), *[(name, name) for name in connections]], value="",
                                     allow_blank=False, id="connection")
                    if field == "source_table" and not connections:
                        continue
                    if field == "cron":
                        yield Label("When it runs", classes="field-label")
                        yield Select(WHEN_OPTIONS, value="cron", allow_blank=False, id="when")
                    with Vertical(id=f"group-{field}", classes="field"):
                        yield Label(label, classes="field-label")
                        yield Input(value=self.initial_name if field == "name" else value, placeholder=placeholder,
                                    id=field)
                        yield Static("", id=f"error-{field}", classes="field-error")
                    if field == "source":
                        with Vertical(id="group-format", classes="field"):
                            yield Label("Format", classes="field-label")
                            yield Select(FORMAT_OPTIONS, value="", allow_blank=False, id="format")
                            yield Static("", id="error-format", classes="field-error")
                with Horizontal(id="new-buttons", classes="dialog-buttons"):  # Tab to them, Enter: no ctrl keys
                    yield Button("Save (^s)", id="new-save", variant="primary")
                    yield Button("Cancel (Esc)", id="new-cancel")
            with VerticalScroll(id="new-preview"):
                yield Static("", id="preview")
        yield Static("fill in the form; the files appear on the right", id="new-problems", classes="problem-line")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        """Show the fields the default schedule needs, focus the name."""
        self._show_groups()
        self.query_one("#name", Input).focus()
        self.check.now()

    def ledger_changed(self, events: list[EventRecord]) -> None:
        """Runs do not change the form."""

    def on_screen_resume(self) -> None:
        """Nothing to reload."""
        self.refresh_top_bar()

    # -- reading the form ------------------------------------------------------------------------------

    def _value(self, field: str) -> str:
        found = self.query(f"#{field}")
        if not found:
            return ""
        widget = found.first()
        value = widget.value if isinstance(widget, (Input, Select)) else ""
        return "" if value is None or value is Select.BLANK else str(value).strip()

    def answers(self) -> PipelineAnswers:
        """The form's content as the assistant's answers."""
        from flowdeck.engine.operations.assistant import PipelineAnswers, split_list

        min_rows = self._value("min_rows")
        connection = self._value("connection") or None
        return PipelineAnswers(
            name=self._value("name"), source="" if connection else self._value("source"),
            format=self._value("format") or None, connection=connection,
            source_table=(self._value("source_table") or None) if connection else None,
            when=self._value("when"), cron=self._value("cron") or None, timezone=self._value("timezone") or "UTC",
            interval=self._value("interval") or None, watch=self._value("watch") or None,
            patterns=split_list(self._value("patterns")) or ["*"], settle=self._value("settle") or "5s",
            archive=self._value("archive") or None, not_null=split_list(self._value("not_null")),
            unique=split_list(self._value("unique")), min_rows=int(min_rows) if min_rows.isdigit() else None,
            table=self._value("table"), export=self._value("export") or None,
        )

    def _show_groups(self) -> None:
        when = self._value("when")
        for group, fields in GROUPS.items():
            for field in fields:
                self.query_one(f"#group-{field}").display = when == group
        connection = bool(self._value("connection"))
        for field in ("source", "format"):
            self.query_one(f"#group-{field}").display = not connection
        if self.query("#group-source_table"):
            self.query_one("#group-source_table").display = connection

    @on(Input.Changed)
    @on(Select.Changed)
    def _changed(self, event: Message) -> None:
        if isinstance(event, Select.Changed):
            self._show_groups()
        self.check.soon()
        self._draw_status()

    # -- checking: in a worker, the newest answers win ----------------------------------------------------

    def _check_answers(self, generation: int) -> None:
        answers, min_rows = self.answers(), self._value("min_rows")
        project = self.console.workspace.project

        def check() -> Message:
            from flowdeck.engine.operations.assistant import (
                answer_problems,
                check_destination,
                check_min_rows,
                check_new_pipeline_name,
                draft_problems,
                render,
            )

            fields = answer_problems(answers)
            for field, problem in (("name", check_new_pipeline_name(project, answers.name) if answers.name else None),
                                   ("table", check_destination(project, answers.table) if answers.table else None),
                                   ("min_rows", check_min_rows(min_rows))):
                if problem:
                    fields.setdefault(field, problem)
            if fields:
                return DraftChecked(generation, {}, fields, [])
            draft = render(answers)
            problems = draft_problems(project, answers, draft)
            by_field = {problem.field: problem.what.split(": ", 1)[-1] for problem in problems
                        if hasattr(problem, "field")}
            others = [problem for problem in problems if not hasattr(problem, "field")]
            return DraftChecked(generation, draft.files, by_field, others)

        self.console.engine_worker(self, check, title="checking the new pipeline", group="draft", exclusive=True)

    def on_draft_checked(self, message: DraftChecked) -> None:
        """Mark wrong answers beside their inputs; show the files or what is wrong with them."""
        if not self.check.take(message.generation):
            return  # an older version of the answers, finished late
        self.checked = message
        for field in (*TEXT_FIELDS, "format"):
            problem = message.fields.get(field, "")
            shown = problem if problem != "an answer is needed" or self._value(field) else ""
            for error in self.query(f"#error-{field}"):
                error.update(Text(f"✗ {shown}", style=tone("red")) if shown else "")
                error.display = bool(shown)
            for widget in self.query(f"#{field}"):
                widget.set_class(bool(shown), "-invalid")
        preview = Text(no_wrap=True, overflow="ignore")
        for relative, text in message.files.items():
            preview.append(f"── {relative}\n", style="bold")
            preview.append_text(Syntax(text, "yaml" if relative.endswith(".yaml") else "sql",
                                       background_color="default").highlight(text))
            preview.append("\n")
        self.query_one("#preview", Static).update(preview if message.files else Text(
            "the files appear here once every answer is usable", style=tone("dim")))
        self._draw_status()

    def _draw_status(self) -> None:
        message = self.checked
        line = Text()
        if message is None:
            return
        if self.check.pending:
            line.append("… checking the answers", style=tone("dim"))
        elif message.problems:
            first = message.problems[0]
            key = f" ({first.location.key})" if first.location is not None and first.location.key else ""
            line.append(f"✗ {first.what}{key}", style=tone("red"))
            if first.hint:
                line.append(f"\n  hint: {first.hint}", style=tone("dim"))
        elif message.fields:
            missing = [field for field, problem in message.fields.items() if problem == "an answer is needed"]
            wrong = [field for field in message.fields if field not in missing]
            line.append(f"✗ fix: {', '.join(wrong)}" if wrong else f"· still needed: {', '.join(missing)}",
                        style=tone("red" if wrong else "dim"))
        else:
            line.append("✓ valid: ^s writes these files", style=tone("green"))
        self.query_one("#new-problems", Static).update(line)

    # -- saving -------------------------------------------------------------------------------------------

    def action_save(self) -> None:
        """Write the files, if the latest check found nothing wrong (the engine checks again)."""
        if self.console.refuse_if_read_only("creating a pipeline", "save"):
            return
        if self.checked is None or self.check.pending:
            self.notify("still checking the answers; try again in a moment", severity="warning", timeout=3)
            return
        if self.checked.fields or self.checked.problems or not self.checked.files:
            self.notify("not saved: fix the answers marked ✗ first", severity="error", timeout=4)
            return
        if self.saving:
            return
        self.saving = True
        answers, workspace = self.answers(), self.console.workspace

        def save() -> Message:
            return PipelineCreated(answers.name, workspace.create_pipeline(answers))

        self._save_worker = self.console.engine_worker(self, save, title=f"creating {answers.name}", group="save")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Allow saving again once a save ended (an engine error shows as a dialog meanwhile)."""
        if event.worker is self._save_worker and event.worker.is_finished:
            self.saving = False
        super().on_worker_state_changed(event)

    def on_pipeline_created(self, message: PipelineCreated) -> None:
        """Say what was written, add the pipeline to the console, and go back to the pipelines."""
        self.saving = False
        root = self.console.workspace.project.root
        shown = ", ".join(str(path.relative_to(root)) for path in message.paths)
        self.console.pipeline_names = self.console.workspace.project.pipeline_names()
        self.notify(f"wrote {shown}", title=f"✓ {message.name} created", markup=False, timeout=6)
        self.dismiss_screen()

    def dismiss_screen(self) -> None:
        """Close the form."""
        self.app.pop_screen()

    @on(Button.Pressed, "#new-save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#new-cancel")
    def _cancel_pressed(self) -> None:
        self.action_close()

    def action_close(self) -> None:
        """Close without writing anything."""
        self.dismiss_screen()
