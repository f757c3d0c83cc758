"""The console app: screens by mode, the action handlers, and the ledger poll that keeps it live.

Threading rule: engine calls run in thread workers (``engine_worker``); workers only post
messages; the handlers below and on the screens own every widget. The app reads the ledger
(a cheap "newest event id" probe, throttled) so runs started anywhere show up, and it never
runs a pipeline itself: launching queues a run and starts a detached worker process.
"""

from __future__ import annotations

import difflib
from collections import deque
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table
from textual import events
from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.message_pump import MessagePump
from textual.worker import Worker, get_current_worker

from flowdeck.console.tui.actions import ACTION_NAMES, BY_ID, DESCRIPTION_OF, GLOBAL, PERMISSIONS, bindings, command_specs, help_sections, is_refused
from flowdeck.console.tui.commands import ConsoleCommands
from flowdeck.console.tui.messages import EngineFailed, LedgerChanged, RunCancelRequested, RunSubmitted, TestsRan
from flowdeck.console.tui.screens.base import ConsoleScreen, FollowsProjectFiles
from flowdeck.console.tui.screens.dialogs import ConfirmDialog, ErrorDialog, TextDialog
from flowdeck.console.tui.screens.pipelines import PipelinesScreen
from flowdeck.console.tui.widgets.typing import typing_in
from flowdeck.console.tui.widgets.status import tone
from flowdeck.console.tui.themes import BUILTIN_THEMES_DIR, DEFAULT_THEME, load_themes
from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.governance.roles import with_article
from flowdeck.state import LedgerError
from flowdeck.state.status import RUN_LIVE, RUN_RESUMABLE, RunStatus

if TYPE_CHECKING:
    from flowdeck.engine.workspace import Workspace
    from flowdeck.state import EventRecord

MODE_LABELS = (("1", "pipelines", "Pipelines"), ("2", "runs", "Runs"), ("3", "alerts", "Alerts"),
               ("4", "dashboard", "Dashboard"))  # the top bar's screens, by their number key
RECENT_RUNS = 20  # run ids `:show` completes
POLL_EVENT_CAP = 5000  # events read per poll; a flood is read over several polls, none skipped
REAP_EVERY_SECONDS = 10.0
FILES_EVERY_SECONDS = 2.0  # how often pipeline files are looked at (a stat of each, no read)
TOAST_CHARS = 90  # a toast is a nudge; the alerts screen has the whole story
ALERT_TOAST_SECONDS = 8
ALERT_TOASTS_AT_ONCE = 2  # more alerts in one poll make one toast
TOASTS_SHOWN_SMALL, TOASTS_SHOWN_TALL, TALL_SCREEN = 2, 4, 30
TOAST_HISTORY = 200
TOAST_EVENT = "alert.toast"  # the console channel's deliveries (docs/alerting.md): routed, de-duplicated alerts


class FlowdeckConsole(App[None]):
    """The operator console on one project."""

    CSS_PATH = "app.tcss"
    TITLE = "flowdeck"
    BINDINGS = bindings(GLOBAL)
    # The first screen is imported with the app; the others when first shown (first paint waits for none of them).
    MODES = {"pipelines": PipelinesScreen, "runs": lambda: _screens().RunsScreen(),
             "alerts": lambda: _screens().AlertsScreen(), "dashboard": lambda: _screens().DashboardScreen()}
    DEFAULT_MODE = "pipelines"
    COMMANDS = {ConsoleCommands}
    COMMAND_PALETTE_BINDING = "ctrl+p"
    NOTIFICATION_TIMEOUT = 6

    def __init__(
        self,
        workspace: Workspace,
        *,
        read_only: bool | None = None,
        theme: str | None = None,
        clock: Callable[[], float] = time.time,
        poll_interval: float | None = None,
        extra_theme_dirs: tuple[Path, ...] = (),
    ) -> None:
        super().__init__()
        self.workspace = workspace
        settings = workspace.project.config.console
        # Read-only by flag, by config, or because the user's role (engine/roles.py) may change nothing;
        # an operator who may run but not edit sees exactly the actions their role allows.
        self.read_only = bool(read_only) or settings.read_only or workspace.read_only
        self.allowed = frozenset(permission for permission in PERMISSIONS if workspace.can(permission))
        self.clock = clock
        self.poll_interval = poll_interval if poll_interval is not None else settings.refresh.total_seconds()
        self.preview_rows = settings.preview_rows
        self.command_history: list[str] = []
        self.launched_here: set[str] = set()
        self.running_count = 0
        self.pipeline_names: list[str] = workspace.project.pipeline_names()
        self.pipeline_params: dict[str, dict[str, str | None]] = {}  # pipeline → parameter → default
        self.recent_runs: list[str] = []  # the newest run ids, for completing `:show`
        self.toast_history: deque[tuple[str, str]] = deque(maxlen=TOAST_HISTORY)  # (title, message), oldest first
        self._cursor: int | None = None
        self._poll_worker: Worker[None] | None = None
        self._last_reap = 0.0
        self._poll_failed = False
        self._files_signature: tuple[tuple[str, int, int], ...] | None = None
        self.daemon_running: bool | None = None  # None until the first look
        self.daemon_reason = ""
        self._files_looked_at = 0.0
        loaded = load_themes(BUILTIN_THEMES_DIR, workspace.project.root / "themes", *extra_theme_dirs)
        self.theme_names = sorted(loaded.themes)
        self._theme_problems = loaded.problems
        for registered in loaded.themes.values():
            self.register_theme(registered)
        self._requested_theme = theme or settings.theme
        if self._requested_theme in self.available_themes:
            self.theme = self._requested_theme  # before the first styling: the CSS is not computed twice at start

    # -- start -------------------------------------------------------------------------------------

    def on_mount(self) -> None:
        """Apply the theme, report bad theme files, start watching the ledger."""
        for problem in self._theme_problems:
            self.notify(f"theme file skipped: {problem}", title="invalid theme", severity="warning", timeout=10)
        if self.theme != self._requested_theme:
            self.apply_theme(self._requested_theme, fallback=True)
        self.set_interval(self.poll_interval, self._poll_ledger)
        self._poll_ledger()
        workspace = self.workspace

        def record_login() -> None:
            workspace.record_login()  # the audit log says who opened the console, and as what role

        self.engine_worker(self, record_login, title="recording the login", group="login")

    def apply_theme(self, name: str, *, fallback: bool = False) -> bool:
        """Switch to theme ``name``; unknown names toast and (at start) fall back to the default."""
        if name in self.available_themes:
            self.theme = name
            return True
        known = ", ".join(self.theme_names)
        self.notify(f"no theme named {name!r}; themes: {known}", title="theme", severity="warning", timeout=10)
        if fallback:
            self.theme = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else "textual-dark"
        return False

    # -- workers -------------------------------------------------------------------------------------

    def engine_worker(self, target: MessagePump, job: Callable[[], Message | None], *, title: str,
                      group: str, exclusive: bool = False) -> Worker[None]:
        """Run ``job`` (an engine call) in a thread; post its message to ``target``, or an error dialog."""

        def work() -> None:
            try:
                message = job()
            except FlowdeckError as error:
                self.post_message(EngineFailed(title, error, error.render()))
                return
            except LedgerError as error:
                self.post_message(EngineFailed(title, None, str(error)))
                return
            except Exception as error:  # a bug must become a dialog, never a crashed console
                if not target.is_attached:  # its screen was closed meanwhile (reaching for the app from here fails)
                    return
                self.post_message(EngineFailed(title, None, f"internal error: {type(error).__name__}: {error}"))
                return
            # a job an exclusive group replaced still runs to its end in its thread: its result is stale
            # (a DAG drawn before the daemon's state was known), and must not land after the new one's
            if message is not None and not get_current_worker().is_cancelled:
                target.post_message(message)

        return target.run_worker(work, thread=True, group=group, exclusive=exclusive, exit_on_error=False,
                                 name=title)

    def on_engine_failed(self, message: EngineFailed) -> None:
        """Show an engine error as a dialog."""
        self.push_screen(ErrorDialog(message.title, message.text))

    # -- the ledger poll ------------------------------------------------------------------------------

    def _poll_ledger(self) -> None:
        if self._poll_worker is not None and not self._poll_worker.is_finished:
            return  # the previous probe is still running: skip this tick rather than pile up
        cursor = self._cursor
        reap = self.clock() - self._last_reap >= REAP_EVERY_SECONDS
        if reap:
            self._last_reap = self.clock()
        look_at_files = time.monotonic() - self._files_looked_at >= FILES_EVERY_SECONDS
        if look_at_files:
            self._files_looked_at = time.monotonic()
        ledger_owner = self.workspace
        signature = self._files_signature
        daemon_seen = (self.daemon_running, self.daemon_reason)

        def probe() -> Message | None:
            try:
                if look_at_files:  # pipeline files edited elsewhere (an editor, git pull) show up here
                    now = ledger_owner.project.files_signature()
                    if signature is not None and now != signature:
                        ledger_owner.project.forget()
                        self.post_message(ProjectFilesChanged(now))
                    elif signature is None:
                        self.post_message(ProjectFilesChanged(now, first=True))
                ledger = ledger_owner.ledger
                if reap:
                    ledger_owner.reap_orphans()  # a worker killed while we watch becomes "abandoned"
                    state = ledger_owner.daemon_state()  # schedules fire only while a daemon runs
                    if (state.running, state.reason) != daemon_seen:
                        self.post_message(DaemonSeen(state.running, state.reason))
                ledger_owner.deliver_console_notifications()  # toasts (a cheap question while none wait); events below
                newest = ledger.last_event_id()
                if cursor is None:
                    running = len(ledger.runs_in_status(*RUN_LIVE))
                    return LedgerChanged(events=[], cursor=newest, previous_cursor=-running - 1)
                if newest == cursor:
                    return None
                events = ledger.events(after=cursor, limit=POLL_EVENT_CAP)
                return LedgerChanged(events=events, cursor=events[-1].event_id if events else newest,
                                     previous_cursor=cursor)
            except (LedgerError, OSError) as error:
                return EngineFailed("reading the ledger", None, str(error))

        self._poll_worker = self.run_worker(probe_and_post(self, probe), thread=True, group="poll",
                                            exit_on_error=False, name="ledger poll")

    def on_daemon_seen(self, message: DaemonSeen) -> None:
        """The daemon started or stopped (or was first seen): the top bar and NEXT times say so."""
        self.daemon_running, self.daemon_reason = message.running, message.reason
        self.refresh_top_bars()
        for stack in [*self._screen_stacks.values(), self.screen_stack]:
            for screen in stack:
                if isinstance(screen, ConsoleScreen):
                    screen.daemon_changed()

    def on_project_files_changed(self, message: ProjectFilesChanged) -> None:
        """Pipeline files changed on disk: the pipeline list and the visible screen read them again."""
        self._files_signature = message.signature
        if message.first or not self.screen_stack:
            return
        self.pipeline_names = self.workspace.project.pipeline_names()
        for stack in [*self._screen_stacks.values(), self.screen_stack]:
            for screen in stack:
                if isinstance(screen, FollowsProjectFiles):  # the screens, and the launch dialog's plan
                    screen.files_changed(visible=screen is self.screen)

    def on_ledger_changed(self, message: LedgerChanged) -> None:
        """Toast alerts, update counts, and let the visible screen refresh."""
        if not self.screen_stack:
            return  # shutting down
        seen = self._cursor
        if seen is None:
            self._cursor = message.cursor
            self.running_count = -message.previous_cursor - 1
            self.refresh_top_bars()
            self._count_running()  # and the newest runs, for completing `:show`
            return
        # A probe can start before the previous one's message is handled here (the worker is done, its
        # message still queued, under load): it read from the older cursor, so drop what was seen already.
        events = [event for event in message.events if event.event_id > seen]
        self._cursor = max(seen, message.cursor)
        if not events:
            return
        running_changed = False
        self._toasts(events)
        for event in events:
            if event.kind.startswith("run."):
                running_changed = True
        if running_changed:
            self._count_running()
        screen = self.screen
        if isinstance(screen, ConsoleScreen):
            screen.ledger_changed(events)
        elif len(self.screen_stack) > 1 and isinstance(self.screen_stack[-2], ConsoleScreen):
            self.screen_stack[-2].ledger_changed(events)  # under a dialog: keep it current

    def _toasts(self, events: list[EventRecord]) -> None:
        """Alerts delivered to the console since the last poll, as toasts: one each, or one for all
        when several arrive at once (the alerts screen has them all)."""
        alerts = [event for event in events if event.kind == TOAST_EVENT]
        if len(alerts) > ALERT_TOASTS_AT_ONCE:
            worst = "error" if any((event.payload or {}).get("severity") == "critical" for event in alerts) else "warning"
            pipelines = sorted({str((event.payload or {}).get("pipeline") or "-") for event in alerts})
            self.notify(_clip(f"for {', '.join(pipelines)}; 3 lists them", TOAST_CHARS),
                        title=f"‼ {len(alerts)} alerts", severity=worst, timeout=ALERT_TOAST_SECONDS,  # type: ignore[arg-type]
                        markup=False)
        else:
            for event in alerts:
                self._toast(event)
        for event in events:
            if event.kind == "run.succeeded" and event.run_id in self.launched_here:
                self.notify(f"run {event.run_id}", title="✓ run succeeded", markup=False, timeout=4)

    def _toast(self, event: EventRecord) -> None:
        payload = event.payload or {}
        kind = str(payload.get("kind"))
        pipeline = f" · {payload['pipeline']}" if payload.get("pipeline") else ""
        text = str(payload.get("summary") or event.message)
        if kind == "resolved":  # "✓ run failed resolved" read like a failure: say the alert is over
            severity, title, text = "information", f"✓ alert resolved{pipeline}", f"was: {text}"
        elif kind == "test":
            severity, title = "information", "i test notification"
        else:
            severity = "error" if payload.get("severity") == "critical" else "warning"
            rule = str(payload.get("rule") or "alert").replace("_", " ")
            symbol = "‼" if severity == "error" else "!"
            title = f"{symbol} {rule}{' (still firing)' if kind == 'reminder' else ''}{pipeline}"
            if payload.get("detail"):
                text += f": {payload['detail']}"
        self.notify(_clip(text, TOAST_CHARS), title=title, severity=severity,  # type: ignore[arg-type]
                    timeout=ALERT_TOAST_SECONDS, markup=False)

    def notify(self, message: str, *, title: str = "", severity: Any = "information", timeout: float | None = None,
               markup: bool = True) -> None:
        """A toast; every toast is kept in ``toast_history``, and at most two stay on a small screen
        (four on a tall one): a burst never covers half of an 80x24 screen."""
        self.toast_history.append((title, message))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)
        self.call_later(self._cap_toasts)

    def _cap_toasts(self) -> None:
        shown = list(self._notifications)
        keep = TOASTS_SHOWN_SMALL if self.size.height < TALL_SCREEN else TOASTS_SHOWN_TALL
        for notification in shown[:-keep]:
            self._unnotify(notification)

    def action_dismiss_toasts(self, arg: str = "") -> None:
        """Dismiss every toast now (the alerts screen keeps every alert)."""
        self.clear_notifications()

    def _count_running(self) -> None:
        workspace = self.workspace

        def count() -> Message | None:
            return RunningCounted(len(workspace.ledger.runs_in_status(*RUN_LIVE)),
                                  [run.run_id for run in workspace.ledger.list_runs(limit=RECENT_RUNS)])

        self.engine_worker(self, count, title="counting runs", group="count", exclusive=True)

    def on_running_counted(self, message: RunningCounted) -> None:
        """Show how many runs are active."""
        self.running_count = message.count
        self.recent_runs = message.recent
        self.refresh_top_bars()

    def top_bar_text(self, screen_title: str, width: int | None = None) -> Any:
        """The top line: project, the four main screens by number (the current one highlighted), badges,
        and where you are. What matters most fits first: the place you are in (a run's whole id) and
        the badges stay; the project name goes, then other screens shrink to their number key."""
        width = width or self.size.width or 80
        text = self._top_bar(screen_title, 0)
        for level in (1, 2, 3):
            if text.cell_len <= width:
                break
            text = self._top_bar(screen_title, level)
        return text

    def _top_bar(self, screen_title: str, level: int) -> Any:
        from rich.text import Text

        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" flowdeck ", style="bold reverse")
        if level < 1:
            text.append(f" {self.workspace.project.config.name} ")
        for key, mode, label in MODE_LABELS:
            current = self.current_mode == mode
            text.append(f" {key}", style="bold")
            if current or level < 2:
                text.append(" ")
                text.append(label, style="reverse" if current else "")
        if self.read_only:
            text.append("  ")
            text.append(" READ-ONLY " if level < 3 else " RO ", style="bold reverse")
        elif len(self.allowed) < len(PERMISSIONS):
            text.append(f"  {self.workspace.role}", style="bold")
        if self.daemon_running is False:
            text.append("  ")
            text.append("⏸ no daemon" if level < 3 else "⏸", style=tone("bold yellow"))
        if self.running_count:
            text.append(f"  ▶ {self.running_count} active" if level < 3 else f"  ▶{self.running_count}")
        if screen_title not in {label for _, _, label in MODE_LABELS}:
            text.append(f"  › {screen_title}")
        return text

    def refresh_top_bars(self) -> None:
        """Redraw the top bar of every screen."""
        from flowdeck.console.tui.widgets.top_bar import TopBar

        for screen in self.screen_stack:
            for bar in screen.query(TopBar):
                bar.update_from_app()

    # -- the read-only gate -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide and refuse every action that changes something in read-only mode, and hide a key's action
        that does not apply to what is shown (Resume on a run that succeeded, Cancel on one that ended).
        A `:` command names its target (it has parameters): whether it applies is decided when it runs."""
        if is_refused(action, self.read_only, self.allowed):
            return False
        screen = self.console_screen
        return parameters != () or screen is None or screen.why_not(action) is None

    def on_key(self, event: events.Key) -> None:
        """A key whose action is hidden here says why instead of doing nothing (read-only, a role,
        or an action that does not apply to what is shown)."""
        refused: list[str] = []
        for namespace, chain in self.screen._modal_binding_chain:
            for binding in chain.key_to_bindings.get(event.key, ()):
                _, name, parameters = self._parse_action(binding.action, namespace)
                if name not in ACTION_NAMES:
                    return  # not one of ours (a widget's own key): it decides
                if self._check_action_state(binding.action, namespace) is not False:
                    return  # an action of this key runs
                refused.append(name)
        if refused:
            event.stop()
            self.notify(self._why_not(refused[0]), title="not here", severity="warning", timeout=4, markup=False)

    def _why_not(self, action: str) -> str:
        if is_refused(action, self.read_only, self.allowed):
            return f"{self._refusal_reason()}: {DESCRIPTION_OF.get(action, action).lower()} is not allowed"
        screen = self.console_screen
        return (screen.why_not(action) if screen else None) or "that does not apply here"

    def refuse_if_read_only(self, what: str, action: str | None = None) -> bool:
        """Say no (with a toast) when read-only or the role lacks the action's permission; ``True`` if refused."""
        if self.read_only or (action is not None and is_refused(action, False, self.allowed)):
            self.notify(f"{self._refusal_reason()}: {what} is not allowed", title="refused", severity="warning")
            return True
        return False

    def _refusal_reason(self) -> str:
        if self.read_only and self.workspace.read_only:
            return f"read-only console ({self.workspace.user} is {with_article(self.workspace.role)})"
        if self.read_only:
            return "read-only console"
        return f"{self.workspace.user} is {with_article(self.workspace.role)}"

    # -- navigation --------------------------------------------------------------------------------------

    @property
    def console_screen(self) -> ConsoleScreen | None:
        """The topmost console screen (below any dialog)."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, ConsoleScreen):
                return screen
        return None

    def _go(self, mode: str) -> None:
        """Show a mode's own list (1 pipelines, 2 runs, 3 alerts, 4 dashboard), never the last screen
        opened over it; screens opened over it close, after asking if one holds unsaved edits."""
        if self.current_mode != mode:
            self.switch_mode(mode)
        above = self.screen_stack[1:]
        lost = [name for screen in above if isinstance(screen, ConsoleScreen) for name in screen.unsaved_work()]

        def close_all(confirmed: bool | None = True) -> None:
            if confirmed:
                while len(self.screen_stack) > 1:
                    self.pop_screen()

        if lost:
            self.push_screen(ConfirmDialog(f"Unsaved edits to {', '.join(lost)}.\nDiscard them?", yes="Discard"),
                             close_all)
        else:
            close_all()

    def action_show_pipelines(self, arg: str = "") -> None:
        """Go to the pipelines screen."""
        self._go("pipelines")

    def action_show_runs(self, arg: str = "") -> None:
        """Go to the runs screen, with an optional filter (``failed``, a pipeline, text)."""
        line = arg.strip() or None
        if self.current_mode == "runs":
            self._go("runs")
            screen = self.screen
            if line is not None and isinstance(screen, _screens().RunsScreen):
                screen.set_filter(line)
        else:
            _screens().RunsScreen.pending_filter = line  # applied when the screen shows
            self._go("runs")

    def action_show_alerts(self, arg: str = "") -> None:
        """Go to the alerts screen."""
        self._go("alerts")

    def action_show_dashboard(self, arg: str = "") -> None:
        """Go to the dashboard (history and trends)."""
        self._go("dashboard")

    def action_back(self) -> None:
        """Close the current screen, or go back to the pipelines."""
        screen = self.screen
        if isinstance(screen, ConsoleScreen) and screen.handle_back():
            return
        if len(self.screen_stack) > 1:
            self.pop_screen()
        elif self.current_mode != "pipelines":
            self.switch_mode("pipelines")

    def unsaved_work(self) -> list[str]:
        """What quitting would lose: unsaved edits of every open screen, in every mode."""
        stacks = [*self._screen_stacks.values(), self.screen_stack]
        seen: set[int] = set()
        lost: list[str] = []
        for stack in stacks:
            for screen in stack:
                if isinstance(screen, ConsoleScreen) and id(screen) not in seen:
                    seen.add(id(screen))
                    lost.extend(screen.unsaved_work())
        return lost

    async def action_quit(self) -> None:
        """Quit; with unsaved edits anywhere, only after the operator says to discard them."""
        lost = self.unsaved_work()
        if not lost:
            self.exit()
            return
        self.push_screen(ConfirmDialog(f"Unsaved edits to {', '.join(lost)}.\nDiscard them and quit?",
                                       yes="Discard and quit"),
                         lambda yes: self.exit() if yes else None)

    def action_force_quit(self, arg: str = "") -> None:
        """Quit at once, discarding unsaved edits (`:q!`)."""
        self.exit()

    def get_key_display(self, binding: Binding) -> str:
        """The key shown for a binding: while a text field has the focus, letters type, so the footer
        shows the ctrl or function key that still acts there (``^q Quit``, not ``q Quit``)."""
        spec = BY_ID.get(binding.id or "")
        if spec is not None and typing_in(self.focused):
            shown = spec.typing_key_display
            if shown:
                return shown
        return super().get_key_display(binding)

    def action_help(self, arg: str = "") -> None:
        """The key and command reference, generated from the action registry."""
        table = Table(box=None, show_header=True, pad_edge=False, expand=True)
        table.add_column("keys", no_wrap=True)
        table.add_column(":command")
        table.add_column("does")
        for title, rows in help_sections(read_only=self.read_only, allowed=self.allowed):
            table.add_row(f"[bold]{title}[/]", "", "")
            for keys, verb, description in rows:
                table.add_row(keys, verb, description)
            table.add_row("", "", "")
        mode = "read-only: actions that change things are hidden" if self.read_only else ""
        self.push_screen(TextDialog(f"? help {mode}".strip(), table, dialog_id="help"))

    def action_debug(self, arg: str = "") -> None:
        """Versions, terminal and colour facts: what to paste in a bug report."""
        self.push_screen(TextDialog("debug", debug_text(self), dialog_id="debug"))

    def action_command_bar(self) -> None:
        """Open the `:` command line."""
        allowed = sorted(verb for verb, spec in command_specs().items()
                         if not is_refused(spec.action_name, self.read_only, self.allowed))  # as the help hides them
        self.push_screen(_screens().CommandLineScreen(self.command_history, verbs=allowed,
                                                      arguments=self.command_arguments), self.run_command_line)

    def command_arguments(self, verb: str, before: list[str]) -> list[str]:
        """What may come next after ``:verb`` and the words ``before`` (for Tab in the command line)."""
        spec = command_specs().get(verb.lower())
        command = spec.command if spec else None
        if command in ("run", "edit") and not before:
            return list(self.pipeline_names)
        if command == "run" and before:
            return [f"{name}=" for name in self.pipeline_params.get(before[0], {})]
        if command == "runs":
            return [*(str(status) for status in RunStatus), *self.pipeline_names]
        if command in ("show", "cancel", "resume") and not before:
            return ["last", *self.recent_runs]
        if command == "rerun":
            screen = self.console_screen
            steps = [step.step for step in getattr(screen, "steps", [])] if not before else []
            return steps if not before else ["last", *self.recent_runs]
        if command == "theme":
            return list(self.theme_names)
        return []

    def run_command_line(self, line: str | None) -> None:
        """Run one `:` command (``run daily_sales``, ``runs failed``, ``theme nord``)."""
        if not line:
            return
        verb, _, rest = line.partition(" ")
        table = command_specs()
        spec = table.get(verb.lower())
        if spec is None:
            close = difflib.get_close_matches(verb.lower(), list(table), n=1)
            hint = f"; did you mean :{close[0]}?" if close else "; press ? for the list"
            self.notify(f"unknown command :{verb}{hint}", title="command", severity="error")
            return
        if is_refused(spec.action_name, self.read_only, self.allowed):
            self.notify(f"{self._refusal_reason()}: :{spec.command} is not allowed", title="refused",
                        severity="warning")
            return
        rest = rest.strip()
        action = f"{spec.action}({rest!r})" if rest else spec.action
        self.call_later(self.run_action, action)

    # -- themes -------------------------------------------------------------------------------------------

    def action_set_theme(self, arg: str = "") -> None:
        """Switch to a named theme, or to the next one from themes/."""
        name = arg.strip()
        if not name:
            names = self.theme_names or [self.theme]
            index = names.index(self.theme) + 1 if self.theme in names else 0
            name = names[index % len(names)]
        if self.apply_theme(name):
            self.notify(f"theme {name}", timeout=2)

    def watch_theme(self, theme: str) -> None:
        """Keep the editor's syntax colours in step with the theme."""
        for screen in self.screen_stack:
            if isinstance(screen, _screens().EditorScreen):
                screen.match_theme()

    # -- runs ------------------------------------------------------------------------------------------------

    def action_launch_run(self, arg: str = "") -> None:
        """Queue a run of a pipeline and hand it to a detached worker: from the pipeline list, after the launch
        dialog (its parameters, and its plan: what each step would do and why); typed (`:run`), at once."""
        if self.refuse_if_read_only("running a pipeline", "launch_run"):
            return
        screen = self.console_screen
        words = arg.split()
        if words:
            pipeline, params = words[0], parse_assignments(words[1:])
            if params is None:
                self.notify("parameters are NAME=VALUE, e.g. :run daily_sales since=2026-11-01", severity="error")
                return
            self.submit_run(pipeline, params)
            return
        pipeline = screen.selected_pipeline() if screen else None
        if not pipeline:
            self.notify("choose a pipeline first (or type :run PIPELINE)", severity="warning")
            return
        from flowdeck.console.tui.screens.launch import LaunchDialog  # with its first use: not before the first paint

        declared = screen.selected_params() if screen else None
        self.push_screen(LaunchDialog(pipeline, declared or {}),
                         lambda launch: self.submit_run(pipeline, launch.params, force=launch.force,
                                                        environment=launch.environment) if launch else None)

    def submit_run(self, pipeline: str, params: dict[str, str], *, force: bool = False,
                   environment: str = "prod") -> None:
        """Queue the run (``force``: every step runs, as `flowdeck run --force`; in ``environment``, as
        `--env`) and start its worker process (in a thread: validation reads files)."""
        workspace = self.workspace

        def submit() -> Message:
            record, _ = workspace.submit(pipeline, {name: value for name, value in params.items() if value != ""},
                                         options={"force": True} if force else None, environment=environment)
            pid = workspace.launch_detached(record.run_id)
            return RunSubmitted(record, pid, "launched")

        self.engine_worker(self, submit, title=f"running {pipeline}", group="submit")

    def on_run_submitted(self, message: RunSubmitted) -> None:
        """Open the new run's live view."""
        run = message.run
        self.launched_here.add(run.run_id)
        if isinstance(self.screen, _screens().RunDetailScreen) and self.screen.run_id == run.run_id:
            return  # already watching it
        params = " ".join(f"{name}={value}" for name, value in run.params.items())
        self.notify(f"{run.pipeline} {run.run_id}" + (f" · {params}" if params else ""), title=f"▶ {message.action}",
                    markup=False, timeout=3)
        self.push_screen(_screens().RunDetailScreen(run.run_id))

    def _run_ref(self, arg: str) -> str | None:
        ref = arg.strip()
        if ref:
            return ref
        screen = self.console_screen
        ref = screen.selected_run() if screen else None
        if not ref:
            self.notify("choose a run first (or give its id)", severity="warning")
        return ref

    def action_open_run(self, arg: str = "") -> None:
        """Open a run's detail (``last``, an id or a unique prefix)."""
        ref = self._run_ref(arg)
        if not ref:
            return
        workspace = self.workspace

        def resolve() -> Message:
            return RunResolved(workspace.resolve_run(ref).run_id)

        self.engine_worker(self, resolve, title=f"opening run {ref}", group="resolve")

    def on_run_resolved(self, message: RunResolved) -> None:
        """Show the resolved run, or go on with what was asked about it."""
        if message.purpose == "cancel":
            self._confirm_cancel(message.run_id, message.status)
        elif message.purpose == "resume":
            hint = ("to run it again from a step, open it and press f on the step (or :rerun STEP RUN)"
                    if message.status == RunStatus.SUCCEEDED else "wait for it to end")
            self.notify(f"run {message.run_id} {message.status}: only a failed, abandoned or canceled run can be "
                        f"resumed; {hint}", title="↺ resume", severity="warning", markup=False, timeout=8)
        else:
            self.push_screen(_screens().RunDetailScreen(message.run_id))

    def action_cancel_run(self, arg: str = "") -> None:
        """Ask a queued or running run to stop (after a confirmation)."""
        if self.refuse_if_read_only("canceling a run", "cancel_run"):
            return
        ref = self._run_ref(arg)
        if not ref:
            return
        workspace = self.workspace

        def look() -> Message:
            run = workspace.resolve_run(ref)
            return RunResolved(run.run_id, "cancel", run.status)

        self.engine_worker(self, look, title=f"looking up {ref}", group="resolve")

    def _confirm_cancel(self, run_id: str, status: str) -> None:
        """Ask before canceling a run that is still going; say so at once about one that has ended."""
        if status not in RUN_LIVE:
            self.notify(f"run {run_id} already {status}: nothing to cancel", title="⊘ cancel", markup=False)
            return
        workspace = self.workspace

        def cancel(confirmed: bool | None) -> None:
            if confirmed:
                self.engine_worker(self, lambda: RunCancelRequested(workspace.cancel(run_id)),
                                   title=f"canceling {run_id}", group="cancel")

        self.push_screen(ConfirmDialog(f"Cancel run {run_id}?", yes="Cancel run"), cancel)

    def on_run_cancel_requested(self, message: RunCancelRequested) -> None:
        """Say what happened."""
        run = message.run
        if run.status == RunStatus.CANCELED:
            text = f"run {run.run_id} canceled"
        elif run.finished:
            text = f"run {run.run_id} had already {run.status}"
        else:
            text = f"cancel requested; run {run.run_id} stops at its next step boundary"
        self.notify(text, title="⊘ cancel", markup=False)

    def action_resume_run(self, arg: str = "") -> None:
        """Resume a failed run from its failed step, in a new worker."""
        if self.refuse_if_read_only("resuming a run", "resume_run"):
            return
        ref = self._run_ref(arg)
        if not ref:
            return
        workspace = self.workspace

        def resume() -> Message:
            parent = workspace.resolve_run(ref)
            if parent.status not in RUN_RESUMABLE:  # say it with the console's keys, not the CLI's
                return RunResolved(parent.run_id, "resume", parent.status)
            record, new = workspace.resume(ref)
            pid = workspace.launch_detached(record.run_id) if new else None
            return RunSubmitted(record, pid, "resumed" if new else "already being resumed")

        self.engine_worker(self, resume, title=f"resuming {ref}", group="submit")

    def action_rerun_from(self, arg: str = "") -> None:
        """Rerun a run's pipeline from a step (and everything downstream of it)."""
        if self.refuse_if_read_only("rerunning a run", "rerun_from"):
            return
        words = arg.split()
        screen = self.console_screen
        step = words[0] if words else (screen.selected_step() if screen else None)
        ref = self._run_ref(words[1] if len(words) > 1 else "")
        if not ref:
            return
        if not step:
            self.notify("choose a step first (or type :rerun STEP RUN)", severity="warning")
            return
        workspace = self.workspace

        def rerun() -> Message:
            parent = workspace.resolve_run(ref)
            record, _ = workspace.submit(parent.pipeline, {k: str(v) for k, v in parent.params.items()},
                                         from_step=step)
            return RunSubmitted(record, workspace.launch_detached(record.run_id), f"rerun from {step}")

        self.push_screen(ConfirmDialog(f"Rerun {ref} from step {step} (and everything after it)?", yes="Rerun"),
                         lambda yes: self.engine_worker(self, rerun, title=f"rerunning {ref}", group="submit")
                         if yes else None)

    # -- other screens ----------------------------------------------------------------------------------------

    def pipeline_named_or_selected(self, arg: str, *, command: str) -> str | None:
        """The pipeline a ``:command PIPELINE`` names, or else the one selected on the screen; None (said in a
        toast) when there is none or no such pipeline."""
        screen = self.console_screen
        pipeline = arg.strip() or (screen.selected_pipeline() if screen else None)
        if not pipeline:
            self.notify(f"choose a pipeline first (or type :{command} PIPELINE)", severity="warning")
            return None
        if pipeline not in self.workspace.project.pipeline_names():
            self.notify(f"no pipeline named {pipeline!r}", severity="error")
            return None
        return pipeline

    def action_run_tests(self, arg: str = "") -> None:
        """Run the SQL unit tests of a pipeline (the selected one, or named) in a worker; a dialog shows them."""
        pipeline = self.pipeline_named_or_selected(arg, command="test")
        if pipeline is None:
            return
        workspace = self.workspace

        def job() -> Message:
            from flowdeck.console.tui.test_report import tests_report

            collected = workspace.sql_tests([pipeline])
            title, text = tests_report(pipeline, list(workspace.run_sql_tests(collected.cases)), collected.problems)
            return TestsRan(pipeline, title, text)

        self.notify(f"testing {pipeline}…", title="SQL unit tests", timeout=3)
        self.engine_worker(self, job, title=f"testing {pipeline}", group="sql-tests", exclusive=True)

    def on_tests_ran(self, message: TestsRan) -> None:
        """Show a pipeline's test outcomes."""
        self.push_screen(TextDialog(message.title, message.text, dialog_id="sql-tests"))

    def action_edit_pipeline(self, arg: str = "") -> None:
        """Open a pipeline's YAML and SQL in the editor."""
        if self.refuse_if_read_only("editing", "edit_pipeline"):
            return
        pipeline = self.pipeline_named_or_selected(arg, command="edit")
        if pipeline is None:
            return
        self.push_screen(_screens().EditorScreen(pipeline))

    def action_edit_dag(self, arg: str = "") -> None:
        """Open a pipeline's DAG editor (add, remove, rename steps, set depends_on)."""
        if self.refuse_if_read_only("editing the DAG", "edit_dag"):
            return
        pipeline = self.pipeline_named_or_selected(arg, command="dag")
        if pipeline is None:
            return
        self.push_screen(_screens().DagEditorScreen(pipeline))

    def action_new_pipeline(self, arg: str = "") -> None:
        """Open the new-pipeline assistant (the form of `flowdeck new pipeline`)."""
        if self.refuse_if_read_only("creating a pipeline", "new_pipeline"):
            return
        self.push_screen(_screens().NewPipelineScreen(arg.strip()))

    def action_preview_table(self, arg: str = "") -> None:
        """Show the first rows of a published table (of the selected pipeline, or named)."""
        screen = self.console_screen
        table = arg.strip() or None
        pipeline = None if table else (screen.selected_pipeline() if screen else None)
        if not table and not pipeline:
            self.notify("choose a pipeline first (or type :preview TABLE)", severity="warning")
            return
        self.push_screen(_screens().PreviewScreen(pipeline=pipeline, table=table))


def _screens() -> Any:
    """The console's screens other than the first, imported on first use (not before the first paint)."""
    from flowdeck.console.tui import screens

    return screens.all_screens()


class DaemonSeen(Message):
    """Whether the project's daemon runs (schedules and file triggers fire only then), and why not."""

    def __init__(self, running: bool, reason: str) -> None:
        super().__init__()
        self.running = running
        self.reason = reason


class ProjectFilesChanged(Message):
    """The project's configuration files on disk are not what they were (``first``: the first look)."""

    def __init__(self, signature: tuple[tuple[str, int, int], ...], *, first: bool = False) -> None:
        super().__init__()
        self.signature = signature
        self.first = first


class RunningCounted(Message):
    """How many runs are queued or running, and the newest runs' ids."""

    def __init__(self, count: int, recent: list[str]) -> None:
        super().__init__()
        self.count = count
        self.recent = recent


class RunResolved(Message):
    """A run reference resolved to an id (and its status), for ``purpose``: open, cancel or resume."""

    def __init__(self, run_id: str, purpose: str = "open", status: str = "") -> None:
        super().__init__()
        self.run_id = run_id
        self.purpose = purpose
        self.status = status


def probe_and_post(app: App[Any], probe: Callable[[], Message | None]) -> Callable[[], None]:
    """A thread body that runs ``probe`` and posts what it returns to the app."""

    def body() -> None:
        message = probe()
        if message is not None:
            app.post_message(message)

    return body


def _clip(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def parse_assignments(words: list[str]) -> dict[str, str] | None:
    """``["since=2026-11-01"]`` → ``{"since": "2026-11-01"}``; None if one is not NAME=VALUE."""
    params: dict[str, str] = {}
    for word in words:
        name, sep, value = word.partition("=")
        if not sep or not name:
            return None
        params[name] = value
    return params


def debug_text(app: FlowdeckConsole) -> str:
    """Facts for a bug report: versions, terminal, colours, syntax highlighting."""
    from importlib.metadata import PackageNotFoundError, version

    from textual.widgets import TextArea

    def package(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    syntax = TextArea.code_editor("", language="sql").is_syntax_aware
    lines = [
        f"flowdeck {package('flowdeck')} · textual {package('textual')} · duckdb {package('duckdb')} · "
        f"sqlglot {package('sqlglot')}",
        f"project: {app.workspace.project.root}",
        f"ledger: {app.workspace.project.ledger_path}",
        f"TERM={os.environ.get('TERM', '')} COLORTERM={os.environ.get('COLORTERM', '')} "
        f"NO_COLOR={'set' if 'NO_COLOR' in os.environ else 'unset'} "
        f"TEXTUAL_COLOR_SYSTEM={os.environ.get('TEXTUAL_COLOR_SYSTEM', '')}",
        f"colour system: {app.console.color_system or 'none'} · theme: {app.theme} · size: {app.size.width}x{app.size.height}",
        f"SQL/YAML highlighting: {'on' if syntax else 'OFF — install textual[syntax] (tree-sitter) to get it'}",
        f"read-only: {'yes' if app.read_only else 'no'} · ledger poll every {app.poll_interval:g}s",
        f"themes: {', '.join(app.theme_names)}",
    ]
    return "\n".join(lines)


def run_console(workspace: Workspace, *, read_only: bool = False, theme: str | None = None) -> None:
    """Open the console full screen until the operator quits (what `flowdeck console` calls)."""
    settings = workspace.project.config.console
    app = FlowdeckConsole(workspace, read_only=read_only or settings.read_only, theme=theme)
    try:
        app.run(mouse=settings.mouse)
    finally:
        workspace.close()
