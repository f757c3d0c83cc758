"""The command palette (ctrl+p): the registry's actions, plus one entry per pipeline and theme.

Entries that change something are left out in read-only mode, as their keys are.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from flowdeck.console.tui.actions import ACTIONS, is_refused
from flowdeck.state.status import RunStatus

if TYPE_CHECKING:
    from flowdeck.console.tui.app import FlowdeckConsole


class ConsoleCommands(Provider):
    """Commands built from the action registry and the project."""

    def _entries(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = cast("FlowdeckConsole", self.app)
        entries: list[tuple[str, str, Callable[[], object]]] = []

        def run(action: str) -> Callable[[], object]:
            return partial(app.call_later, app.run_action, action)

        for spec in ACTIONS:
            if not spec.palette or is_refused(spec.action_name, app.read_only, app.allowed) or spec.needs_argument:
                continue
            verb = f":{spec.command}" if spec.command else spec.key_display
            entries.append((spec.description, verb, run(spec.action)))
        for name in app.pipeline_names:
            if not is_refused("launch_run", app.read_only, app.allowed):
                entries.append((f"Run {name}", f":run {name}", run(f"app.launch_run({name!r})")))
            if not is_refused("edit_pipeline", app.read_only, app.allowed):
                entries.append((f"Edit {name}", f":edit {name}", run(f"app.edit_pipeline({name!r})")))
                entries.append((f"Edit the DAG of {name}", f":dag {name}", run(f"app.edit_dag({name!r})")))
            entries.append((f"Runs of {name}", f":runs {name}", run(f"app.show_runs({name!r})")))
        for status in (RunStatus.FAILED, RunStatus.RUNNING):
            entries.append((f"Runs {status}", f":runs {status}", run(f"app.show_runs({status.value!r})")))
        entries.append(("Last run", ":show last", run("app.open_run('last')")))
        for theme in app.theme_names:
            entries.append((f"Theme {theme}", f":theme {theme}", run(f"app.set_theme({theme!r})")))
        return entries

    async def discover(self) -> Hits:
        """Everything, for an empty query."""
        for title, verb, callback in self._entries():
            yield DiscoveryHit(title, callback, help=verb)

    async def search(self, query: str) -> Hits:
        """Entries whose title or `:` form match the query."""
        matcher = self.matcher(query)
        for title, verb, callback in self._entries():
            score = max(matcher.match(title), matcher.match(verb))
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, text=title, help=verb)
