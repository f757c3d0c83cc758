"""The one action registry: every key binding, footer entry, help line, palette entry and `:` command.

Nothing can be bound, shown or typed that is not listed here, and the read-only gate asks
this registry which actions change something. Each action has a stable id (for keymaps),
its keys (the first is shown in the footer; at least one is a ctrl+letter or F-key, which
survive terminals and SSH links that lose other combinations) and, optionally, a `:` verb.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from textual.binding import Binding

GLOBAL = "global"
SCOPE_TITLES = {
    GLOBAL: "Everywhere",
    "pipelines": "Pipelines",
    "runs": "Runs",
    "run": "Run detail",
    "step": "Step detail",
    "alerts": "Alerts",
    "dashboard": "Dashboard",
    "editor": "Editor",
    "dag": "DAG editor",
    "preview": "Data preview",
    "new": "New pipeline",
    "text": "Help and text dialogs",
}


@dataclass(frozen=True)
class ActionSpec:
    """One thing an operator can do, and every way to reach it."""

    id: str
    action: str  # the Textual action; ``app.`` actions work from any screen and from `:` commands
    keys: tuple[str, ...]
    description: str
    scope: str = GLOBAL
    permission: str | None = None  # the role permission it needs (engine/roles.py); None: reading only
    footer: bool = True
    command: str | None = None  # the `:` verb
    aliases: tuple[str, ...] = ()
    usage: str = ""  # arguments of the `:` verb, for help
    palette: bool = True
    button: str = ""  # the label of a button that does it on its screen (reached with Tab, pressed with Enter)
    # It opens a text field the next keys go into (`/`): a priority binding, acting as the key arrives. A plain
    # one acts only once the key has bubbled up to the app, when the letters typed right after it have already
    # gone to the list (`/ingest` in one burst: `n` opened the new-pipeline form).
    opens_field: bool = False

    @property
    def action_name(self) -> str:
        """The action's name without its namespace (what ``check_action`` receives)."""
        return self.action.split(".", 1)[-1].split("(", 1)[0]

    @property
    def mutates(self) -> bool:
        """Whether it changes something (hidden and refused in read-only mode)."""
        return self.permission is not None

    @property
    def needs_argument(self) -> bool:
        """Whether the `:` verb needs an argument (so the palette cannot offer it bare)."""
        return bool(self.usage) and not self.usage.startswith("[")

    @property
    def key_display(self) -> str:
        """The key shown in the footer and help."""
        return _pretty_key(self.keys[0]) if self.keys else ""

    @property
    def typing_key_display(self) -> str:
        """The key shown while a text field has the focus, where printable keys type (and Esc leaves the
        field): the first key that still acts there."""
        for key in self.keys:
            if not is_printable_key(key) and key != "escape":
                return _pretty_key(key)
        return ""

    def binding(self) -> Binding:
        """The Textual binding of this action."""
        return Binding(",".join(self.keys), self.action, self.description, show=self.footer,
                       key_display=self.key_display, id=self.id, priority=self.opens_field)


def _list_keys(scope: str) -> tuple[ActionSpec, ...]:
    """j/k/g/G (with arrows, Home and End) in a list, as in vi, less, k9s and lazygit."""
    return (
        ActionSpec(f"{scope}.down", "cursor_down", ("j", "down"), "Down", scope=scope, footer=False, palette=False),
        ActionSpec(f"{scope}.up", "cursor_up", ("k", "up"), "Up", scope=scope, footer=False, palette=False),
        ActionSpec(f"{scope}.top", "cursor_top", ("g", "home"), "First", scope=scope, footer=False, palette=False),
        ActionSpec(f"{scope}.bottom", "cursor_bottom", ("G", "end"), "Last", scope=scope, footer=False,
                   palette=False),
    )


ACTIONS: tuple[ActionSpec, ...] = (
    # -- everywhere -------------------------------------------------------------------------------
    ActionSpec("app.help", "app.help", ("question_mark", "f1"), "Help", command="help", aliases=("h",)),
    ActionSpec("app.command", "app.command_bar", ("colon", "ctrl+k"), "Command", footer=False, palette=False),
    ActionSpec("app.palette", "app.command_palette", ("ctrl+p",), "Palette", command="palette", footer=False,
               palette=False),
    ActionSpec("app.pipelines", "app.show_pipelines", ("1", "f2"), "Pipelines", command="pipelines",
               aliases=("p", "pl"), footer=False),  # the top bar shows 1 2 3 4
    ActionSpec("app.runs", "app.show_runs", ("2", "f3"), "Runs", command="runs", aliases=("r",),
               usage="[STATUS] [PIPELINE] [TEXT]", footer=False),
    ActionSpec("app.alerts", "app.show_alerts", ("3", "f4"), "Alerts", command="alerts", aliases=("a",),
               footer=False),
    ActionSpec("app.dashboard", "app.show_dashboard", ("4", "f10"), "Dashboard", command="stats",
               aliases=("dashboard", "d"), footer=False),
    ActionSpec("app.back", "app.back", ("escape", "f9"), "Back", footer=False, palette=False),
    ActionSpec("app.run", "app.launch_run", (), "Run a pipeline", permission="run", command="run",
               usage="PIPELINE [NAME=VALUE ...]", footer=False),
    ActionSpec("app.open_run", "app.open_run", (), "Open a run", command="show", aliases=("tail", "logs"),
               usage="RUN (or last)", footer=False),
    ActionSpec("app.edit", "app.edit_pipeline", (), "Edit a pipeline", permission="edit", command="edit",
               usage="PIPELINE", footer=False),
    ActionSpec("app.dag", "app.edit_dag", (), "Edit a pipeline's DAG", permission="edit", command="dag",
               usage="PIPELINE", footer=False),
    ActionSpec("app.preview", "app.preview_table", (), "Preview a table", command="preview", usage="TABLE",
               footer=False),
    ActionSpec("app.test", "app.run_tests", (), "Run a pipeline's SQL unit tests", command="test",
               usage="[PIPELINE]", footer=False),
    ActionSpec("app.new_pipeline", "app.new_pipeline", (), "New pipeline (assistant)", permission="edit",
               command="new", usage="[NAME]", footer=False),
    ActionSpec("app.cancel", "app.cancel_run", (), "Cancel a run", permission="cancel", command="cancel", usage="RUN",
               footer=False),
    ActionSpec("app.resume", "app.resume_run", (), "Resume a failed run", permission="resume", command="resume",
               usage="RUN", footer=False),
    ActionSpec("app.rerun", "app.rerun_from", (), "Rerun from a step", permission="run", command="rerun",
               usage="STEP [RUN]", footer=False),
    ActionSpec("app.theme", "app.set_theme", ("ctrl+t",), "Next theme", command="theme", usage="[NAME]",
               footer=False),
    ActionSpec("app.debug", "app.debug", ("f12",), "Debug info", command="debug", footer=False),
    ActionSpec("app.dismiss", "app.dismiss_toasts", ("ctrl+l",), "Dismiss notifications", command="clear",
               aliases=("dismiss",), footer=False),
    ActionSpec("app.quit", "app.quit", ("q", "ctrl+q"), "Quit", command="quit",
               aliases=("q", "exit")),
    ActionSpec("app.force_quit", "app.force_quit", (), "Quit, discarding unsaved edits", command="q!", footer=False),
    # -- pipelines --------------------------------------------------------------------------------
    ActionSpec("pipelines.run", "app.launch_run", ("r", "f5"), "Run", scope="pipelines", permission="run",
               palette=False),
    ActionSpec("pipelines.edit", "app.edit_pipeline", ("e", "f6"), "Edit", scope="pipelines", permission="edit",
               palette=False),
    ActionSpec("pipelines.dag", "app.edit_dag", ("D", "ctrl+d"), "Edit DAG", scope="pipelines", permission="edit",
               palette=False),
    ActionSpec("pipelines.runs", "runs_of_pipeline", ("enter",), "Its runs", scope="pipelines", palette=False),
    ActionSpec("pipelines.preview", "app.preview_table", ("v", "f7"), "Preview", scope="pipelines",
               palette=False),
    ActionSpec("pipelines.test", "app.run_tests", ("t", "ctrl+g"), "Test", scope="pipelines", palette=False,
               footer=False),  # the footer is full at 80 columns: `?` and docs/console.md list it
    ActionSpec("pipelines.filter", "filter", ("slash", "ctrl+f"), "Filter", scope="pipelines", palette=False,
               opens_field=True),
    ActionSpec("pipelines.new", "app.new_pipeline", ("n", "ctrl+e"), "New", scope="pipelines", permission="edit",
               palette=False),
    *_list_keys("pipelines"),
    # -- runs ---------------------------------------------------------------------------------------
    ActionSpec("runs.open", "open_selected", ("enter",), "Open", scope="runs", palette=False),
    ActionSpec("runs.cancel", "app.cancel_run", ("c", "f8"), "Cancel", scope="runs", permission="cancel", palette=False),
    ActionSpec("runs.resume", "app.resume_run", ("R", "ctrl+r"), "Resume", scope="runs", permission="resume",
               palette=False),
    ActionSpec("runs.filter", "filter", ("slash", "ctrl+f"), "Filter", scope="runs", palette=False, opens_field=True),
    ActionSpec("runs.failed", "toggle_failed", ("x", "ctrl+x"), "Failed only", scope="runs", palette=False),
    *_list_keys("runs"),
    # -- run detail -----------------------------------------------------------------------------------
    ActionSpec("run.cancel", "app.cancel_run", ("c", "f8"), "Cancel", scope="run", permission="cancel", palette=False),
    ActionSpec("run.resume", "app.resume_run", ("R", "ctrl+r"), "Resume", scope="run", permission="resume",
               palette=False),
    ActionSpec("run.rerun", "app.rerun_from", ("f", "ctrl+u"), "Rerun from step", scope="run", permission="run",
               palette=False),
    ActionSpec("run.follow", "toggle_follow", ("p", "ctrl+y"), "Pause/follow log", scope="run", palette=False),
    ActionSpec("run.step", "open_step", ("enter",), "Step detail", scope="run", palette=False),
    ActionSpec("run.next_step", "next_step", ("j", "ctrl+n"), "Next step", scope="run", footer=False,
               palette=False),
    ActionSpec("run.previous_step", "previous_step", ("k", "ctrl+o"), "Previous step", scope="run", footer=False,
               palette=False),
    # -- step detail ----------------------------------------------------------------------------------
    ActionSpec("step.rerun", "app.rerun_from", ("f", "ctrl+u"), "Rerun from this step", scope="step",
               permission="run", palette=False),
    ActionSpec("step.down", "scroll_down", ("j", "down"), "Down", scope="step", footer=False, palette=False),
    ActionSpec("step.up", "scroll_up", ("k", "up"), "Up", scope="step", footer=False, palette=False),
    ActionSpec("step.top", "scroll_top", ("g", "home"), "Top", scope="step", footer=False, palette=False),
    ActionSpec("step.bottom", "scroll_bottom", ("G", "end"), "End", scope="step", footer=False, palette=False),
    # -- alerts -----------------------------------------------------------------------------------------
    ActionSpec("alerts.acknowledge", "acknowledge", ("a", "ctrl+a"), "Acknowledge", scope="alerts",
               permission="acknowledge", palette=False),
    ActionSpec("alerts.open", "open_selected", ("enter",), "Open run", scope="alerts", palette=False),
    ActionSpec("alerts.all", "toggle_acknowledged", ("s", "ctrl+s"), "Show/hide acknowledged", scope="alerts",
               palette=False),
    *_list_keys("alerts"),
    # -- dashboard ----------------------------------------------------------------------------------------
    *_list_keys("dashboard"),
    # -- help and other text dialogs --------------------------------------------------------------------
    ActionSpec("text.down", "scroll_down", ("j", "down"), "Down", scope="text", footer=False, palette=False),
    ActionSpec("text.up", "scroll_up", ("k", "up"), "Up", scope="text", footer=False, palette=False),
    ActionSpec("text.top", "scroll_top", ("g", "home"), "Top", scope="text", footer=False, palette=False),
    ActionSpec("text.bottom", "scroll_bottom", ("G", "end"), "End", scope="text", footer=False, palette=False),
    # -- editor ------------------------------------------------------------------------------------------
    # letters act after Esc has left the text (the line under it says so); while typing, the ctrl/F keys do
    ActionSpec("editor.save", "save", ("s", "ctrl+s"), "Save", scope="editor", permission="edit", palette=False),
    ActionSpec("editor.next_file", "next_file", ("n", "ctrl+n", "f6"), "Next file", scope="editor", palette=False),
    ActionSpec("editor.problem", "goto_problem", ("p", "ctrl+g", "f7"), "Go to problem", scope="editor",
               palette=False),
    ActionSpec("editor.type", "type_text", ("i", "enter"), "Type in the text", scope="editor", footer=False,
               palette=False),
    ActionSpec("editor.close", "close", ("escape", "f9"), "Close", scope="editor",
               palette=False),
    # -- DAG editor: changes are validated as they are made and pending until saved -----------------------------
    ActionSpec("dag.add", "add_step", ("a", "ctrl+n"), "Add step", scope="dag", permission="edit", palette=False),
    ActionSpec("dag.remove", "remove_step", ("d", "ctrl+d"), "Remove step", scope="dag", permission="edit",
               palette=False),
    ActionSpec("dag.rename", "rename_step", ("r", "f6"), "Rename step", scope="dag", permission="edit", palette=False),
    ActionSpec("dag.depends", "edit_depends_on", ("w", "f7"), "Depends on", scope="dag", permission="edit",
               palette=False),
    ActionSpec("dag.undo", "undo", ("u", "ctrl+z"), "Undo", scope="dag", permission="edit", palette=False),
    ActionSpec("dag.save", "save", ("s", "ctrl+s"), "Save", scope="dag", permission="edit", palette=False),
    ActionSpec("dag.close", "close", ("escape", "f9"), "Close", scope="dag", palette=False),
    *_list_keys("dag"),
    # -- new pipeline ------------------------------------------------------------------------------------------
    ActionSpec("new.save", "save", ("ctrl+s", "f5"), "Save", scope="new", permission="edit", palette=False,
               button="Save"),
    ActionSpec("new.close", "close", ("escape", "f9"), "Cancel", scope="new", palette=False),
    # -- preview -------------------------------------------------------------------------------------------
    ActionSpec("preview.refresh", "refresh_preview", ("r", "f5"), "Refresh", scope="preview", palette=False),
    ActionSpec("preview.next_table", "next_table", ("n", "ctrl+n"), "Next table", scope="preview",
               palette=False),
)

BY_ID: dict[str, ActionSpec] = {spec.id: spec for spec in ACTIONS}
PERMISSION_OF: dict[str, str] = {spec.action_name: spec.permission for spec in ACTIONS if spec.permission}
PERMISSIONS: frozenset[str] = frozenset(PERMISSION_OF.values())
ACTION_NAMES: frozenset[str] = frozenset(spec.action_name for spec in ACTIONS)
DESCRIPTION_OF: dict[str, str] = {spec.action_name: spec.description for spec in reversed(ACTIONS)}  # the first wins


def bindings(scope: str) -> list[Binding]:
    """The key bindings of a scope (``global`` for the app, else a screen's name)."""
    return [spec.binding() for spec in ACTIONS if spec.scope == scope and spec.keys]


def specs(scope: str | None = None) -> list[ActionSpec]:
    """Every action, or those of one scope."""
    return [spec for spec in ACTIONS if scope is None or spec.scope == scope]


def command_specs() -> dict[str, ActionSpec]:
    """`:` verbs and their aliases → action."""
    table: dict[str, ActionSpec] = {}
    for spec in ACTIONS:
        if spec.command:
            for verb in (spec.command, *spec.aliases):
                table[verb] = spec
    return table


def is_refused(action_name: str, read_only: bool, allowed: frozenset[str] | None = None) -> bool:
    """Whether the gate refuses (and hides) this action: read-only mode, or a permission the user's role lacks."""
    permission = PERMISSION_OF.get(action_name)
    if permission is None:
        return False
    return read_only or (allowed is not None and permission not in allowed)


def help_sections(read_only: bool = False,
                  allowed: frozenset[str] | None = None) -> Iterable[tuple[str, list[tuple[str, str, str]]]]:
    """(title, [(keys, `:` command, description)]) per scope, for the help screen and docs/console.md."""
    for scope, title in SCOPE_TITLES.items():
        rows = []
        for spec in specs(scope):
            if is_refused(spec.action_name, read_only, allowed):
                continue
            keys = " ".join(_pretty_key(key) for key in spec.keys)
            verb = ""
            if spec.command:
                verb = " ".join(f":{name}" for name in (spec.command, *spec.aliases))
                if spec.usage:
                    verb += f" {spec.usage}"
            button = f" (or its {spec.button} button: Tab to it, Enter)" if spec.button else ""
            rows.append((keys, verb, spec.description + button + (" (changes things)" if spec.mutates else "")))
        if rows:
            yield title, rows


_KEY_NAMES = {"question_mark": "?", "colon": ":", "slash": "/", "escape": "esc"}
_PRINTABLE_NAMES = {"question_mark", "colon", "slash", "space", "full_stop", "minus", "plus", "exclamation_mark"}


NAMED_PLAIN_KEYS = frozenset({"enter", "escape", "tab", "space", "up", "down", "left", "right", "home", "end",
                              "pageup", "pagedown", "backspace", "delete"})


def plain_path(spec: ActionSpec) -> str:
    """How to reach ``spec`` without a ctrl combination or a function key, which terminals, GNU screen
    (^a) and tmux can take for themselves: a plain key, a `:` command, or a button; empty if none."""
    plain = [key for key in spec.keys if is_printable_key(key) or key in NAMED_PLAIN_KEYS]
    if plain:
        return _pretty_key(plain[0])
    if spec.command:
        return f":{spec.command}"
    return f"the {spec.button} button" if spec.button else ""


def is_printable_key(key: str) -> bool:
    """Whether pressing ``key`` types a character into a text field (``q``, ``R``, ``?``), so it cannot command there."""
    return len(key) == 1 or key in _PRINTABLE_NAMES


def _pretty_key(key: str) -> str:
    if key in _KEY_NAMES:
        return _KEY_NAMES[key]
    if key.startswith("ctrl+"):
        return "^" + key[5:]
    return key
