"""The editor: a pipeline's YAML and SQL with syntax highlighting and validation as you type.

Each change is checked (after a short pause in typing) by the same loaders a run uses; the
first problem is shown under the text with its line and column, and ^g jumps to it. Saving
refuses an invalid file unless the operator confirms, and keeps the previous version.

Two states, as in vi: typing (letters go into the text; ^s, ^n, ^g, F9 and ^q still act) and,
after Esc, keys (letters are commands: s saves, n next file, p the problem, i or Enter types
again, Esc closes). The line under the text always says which, so Esc is never silent, and
nothing typed is lost: closing, switching or quitting with unsaved edits asks first.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Static, Tab, Tabs, TextArea

from flowdeck.console.tui.actions import bindings
from flowdeck.console.tui.checking import TypingCheck
from flowdeck.console.tui.messages import FileChecked, FileSaved, FilesListed, FilesReread, SaveRefused
from flowdeck.console.tui.screens.base import ConsoleScreen
from flowdeck.console.tui.screens.dialogs import ConfirmDialog
from flowdeck.console.tui.widgets.code_editor import CodeEditor
from flowdeck.console.tui.widgets.footer import ConsoleFooter
from flowdeck.console.tui.widgets.status import tone
from flowdeck.console.tui.widgets.top_bar import TopBar

if TYPE_CHECKING:
    from flowdeck.engine.errors import FlowdeckError
    from flowdeck.state import EventRecord


class EditorScreen(ConsoleScreen):
    """Edit one pipeline's files; one buffer per file, kept while switching between them."""

    SCOPE = "editor"
    TITLE_TEXT = "Editor"
    BINDINGS = bindings("editor")

    def __init__(self, pipeline: str) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.files: list[Path] = []
        self.saved_text: dict[Path, str] = {}
        self.buffers: dict[Path, str] = {}
        self.problems: dict[Path, list[FlowdeckError]] = {}
        self.current: Path | None = None
        self.changed_on_disk: set[Path] = set()  # edited here and elsewhere: saving would overwrite the other edit
        self.check = TypingCheck(self, self._check_text)
        self._loading_text = False

    def compose(self) -> ComposeResult:
        """Top bar, file tabs, the editor, the problem line, footer."""
        yield TopBar(f"Edit {self.pipeline}")
        yield Tabs(id="files")
        yield CodeEditor.code_editor("", language=None, id="editor", soft_wrap=False)
        yield Static("loading…", id="problems", classes="problem-line")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        """Read the files."""
        self.match_theme()
        workspace = self.console.workspace

        def read() -> Message:
            return FilesListed([(path, path.read_text(encoding="utf-8")) for path in workspace.pipeline_files(self.pipeline)])

        self.console.engine_worker(self, read, title=f"opening {self.pipeline}", group="files")

    def on_screen_resume(self) -> None:
        """Nothing to reload: the buffers are the truth while editing."""
        self.refresh_top_bar()

    def ledger_changed(self, events: list[EventRecord]) -> None:
        """Runs do not change the files being edited."""

    def files_changed(self, *, visible: bool) -> None:
        """Files edited elsewhere: take the new text of those not edited here; mark the others."""
        files = list(self.files)

        def read() -> Message:
            return FilesReread([(path, path.read_text(encoding="utf-8") if path.is_file() else None) for path in files])

        self.console.engine_worker(self, read, title=f"rereading {self.pipeline}", group="files")

    def on_files_reread(self, message: FilesReread) -> None:
        """A file untouched here follows the disk; an edited one keeps the edit and is marked."""
        for path, text in message.files:
            if text is None or text == self.saved_text.get(path):
                continue
            if self.buffers.get(path) == self.saved_text.get(path):
                self.saved_text[path] = self.buffers[path] = text
                if path == self.current:
                    self._loading_text = True
                    self.query_one(TextArea).load_text(text)
                    self._loading_text = False
                    self.check.now()
            else:
                self.changed_on_disk.add(path)
        self._draw_status()

    def match_theme(self) -> None:
        """Dark or light syntax colours to match the app's theme."""
        theme = self.app.current_theme
        editor = self.query_one(TextArea)
        editor.theme = "css" if theme.ansi else ("vscode_dark" if theme.dark else "github_light")

    def on_files_listed(self, message: FilesListed) -> None:
        """Make one tab per file and open the first."""
        tabs = self.query_one(Tabs)
        for index, (path, text) in enumerate(message.files):
            self.files.append(path)
            self.saved_text[path] = text
            self.buffers[path] = text
            tabs.add_tab(Tab(path.name, id=f"file-{index}"))
        if self.files:
            self._open(self.files[0])
            self.query_one(TextArea).focus()

    def _open(self, path: Path) -> None:
        if self.current is not None:
            self.buffers[self.current] = self.query_one(TextArea).text
        self.current = path
        editor = self.query_one(TextArea)
        self._loading_text = True
        from flowdeck.engine.project.editing import language_of

        editor.language = language_of(path)
        editor.load_text(self.buffers[path])
        self._loading_text = False
        index = self.files.index(path)
        self.query_one(Tabs).active = f"file-{index}"
        self.check.now()

    @on(Tabs.TabActivated)
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        if event.tab is None or event.tab.id is None:
            return
        path = self.files[int(event.tab.id.removeprefix("file-"))]
        if path != self.current:
            self._open(path)

    @on(TextArea.Changed)
    def _changed(self, event: TextArea.Changed) -> None:
        if self._loading_text or self.current is None:
            return
        self.buffers[self.current] = event.text_area.text
        self.check.soon()
        self._draw_status()

    def _check_text(self, generation: int) -> None:
        if self.current is None:
            return
        path, text = self.current, self.query_one(TextArea).text
        workspace = self.console.workspace
        self.console.engine_worker(self, lambda: FileChecked(path, generation, workspace.check_file(path, text)),
                                   title="checking", group="check", exclusive=True)

    def on_file_checked(self, message: FileChecked) -> None:
        """Show the first problem of the newest check (older ones finishing late are ignored)."""
        if message.path != self.current or not self.check.take(message.generation):
            return
        self.problems[message.path] = message.problems
        self._draw_status()

    def _draw_status(self) -> None:
        path = self.current
        if path is None:
            return
        problems = self.problems.get(path, [])
        modified = self.buffers.get(path) != self.saved_text.get(path)
        line = Text()
        typing = self.query_one(TextArea).has_focus
        line.append("typing · Esc: keys   " if typing else "keys: i type · s save · n next file · p problem · Esc close   ",
                    style="bold")
        line.append("● modified  " if modified else "  saved     ", style=tone("bold" if modified else "dim"))
        if path in self.changed_on_disk:
            line.append("⚠ changed on disk too: saving replaces that version  ", style=tone("bold yellow"))
        if self.check.pending:
            line.append("… checking", style=tone("dim"))
        elif not problems:
            line.append("✓ valid", style=tone("green"))
        else:
            first = problems[0]
            where = ""
            if first.location is not None and first.location.line:
                where = f"line {first.location.line}" + (f", col {first.location.column}" if first.location.column else "")
                where += ": "
            more = f"  (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            line.append(f"✗ {where}{first.what}{more}", style=tone("red"))
            if first.hint:
                line.append(f"\n  hint: {first.hint}  · ^g goes there", style=tone("dim"))
        self.query_one("#problems", Static).update(line)
        tabs = self.query_one(Tabs)
        for index, file in enumerate(self.files):
            tab = tabs.query_one(f"#file-{index}", Tab)
            mark = "● " if self.buffers.get(file) != self.saved_text.get(file) else ""
            tab.label = f"{mark}{file.name}"  # type: ignore[assignment]

    @on(CodeEditor.LeftText)
    def _left_text(self) -> None:
        """Esc in the text: the keys become commands (the status line says so)."""
        self.query_one(Tabs).focus()

    def on_descendant_focus(self) -> None:
        """Typing or keys: the status line and the footer follow the focus."""
        self._draw_status()

    def on_descendant_blur(self) -> None:
        """See ``on_descendant_focus``."""
        self._draw_status()

    # -- actions ---------------------------------------------------------------------------------------------

    def action_type_text(self) -> None:
        """Go back to typing in the text."""
        self.query_one(TextArea).focus()

    def action_next_file(self) -> None:
        """Open the next file of the pipeline."""
        if self.files and self.current is not None:
            self._open(self.files[(self.files.index(self.current) + 1) % len(self.files)])

    def action_goto_problem(self) -> None:
        """Put the cursor where the first problem is."""
        problems = self.problems.get(self.current) if self.current else None
        if not problems or problems[0].location is None or not problems[0].location.line:
            self.notify("no problem to go to", timeout=2)
            return
        location = problems[0].location
        editor = self.query_one(TextArea)
        editor.cursor_location = (location.line - 1, max(location.column - 1, 0))
        editor.focus()

    def action_save(self, force: bool = False) -> None:
        """Save the current file; an invalid one only after confirming."""
        if self.console.refuse_if_read_only("saving", "save"):
            return
        path = self.current
        if path is None:
            return
        text = self.query_one(TextArea).text
        workspace = self.console.workspace

        def save() -> Message:
            if not force:
                problems = workspace.check_file(path, text)
                if problems:
                    return SaveRefused(path, problems)
            return FileSaved(workspace.save_file(path, text, force=force), text)

        self.console.engine_worker(self, save, title=f"saving {path.name}", group="save")

    def on_save_refused(self, message: SaveRefused) -> None:
        """An invalid file is saved only if the operator insists."""
        self.problems[message.path] = message.problems
        self._draw_status()
        first = message.problems[0]
        self.app.push_screen(
            ConfirmDialog(f"{message.path.name} is not valid:\n{first.render()}\n\nSave it anyway?", yes="Save anyway"),
            lambda yes: self.action_save(force=True) if yes else None)

    def on_file_saved(self, message: FileSaved) -> None:
        """Remember what is on disk now and say where the old version went."""
        self.saved_text[message.result.path] = message.text
        self.changed_on_disk.discard(message.result.path)
        backup = f"; previous version in {message.result.backup.name}" if message.result.backup else ""
        forced = " (with problems, forced)" if message.result.problems else ""
        self.notify(f"saved {message.result.path.name}{forced}{backup}", title="saved", markup=False)
        self._draw_status()

    def unsaved_work(self) -> list[str]:
        """The files with edits not saved yet."""
        if self.current is not None and self.is_mounted:
            self.buffers[self.current] = self.query_one(TextArea).text
        return [path.name for path in self.files if self.buffers.get(path) != self.saved_text.get(path)]

    def handle_back(self) -> bool:
        """Leaving with unsaved changes asks first."""
        unsaved = self.unsaved_work()
        if not unsaved:
            return False
        self.app.push_screen(ConfirmDialog(f"Discard unsaved changes to {', '.join(unsaved)}?", yes="Discard"),
                             lambda yes: self.app.pop_screen() if yes else None)
        return True

    def action_close(self) -> None:
        """Close the editor (asking first if something is unsaved)."""
        if not self.handle_back():
            self.app.pop_screen()

    def selected_pipeline(self) -> str | None:
        """The pipeline being edited."""
        return self.pipeline
