"""A run's log tail that keeps its last line in view while it follows, whatever resizes it.

Textual's ``Log`` scrolls to the end on a write only if it was at the end already. In the run
view the log box shrinks as the step lines and the checks table appear, which leaves it
above its end; from then on it would never follow again while the title still says it does.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual import events
from textual.widgets import Log


class RunLog(Log):
    """``Log`` whose ``auto_scroll`` means "keep the end in view": after every write and every resize."""

    def append(self, lines: Iterable[str]) -> None:
        """Add lines; while following, show the last one."""
        self.write_lines(lines, scroll_end=False)
        if self.auto_scroll:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def follow(self, following: bool) -> None:
        """Start or stop following the end."""
        self.auto_scroll = following
        if following:
            self.scroll_end(animate=False, x_axis=False)

    def on_resize(self, event: events.Resize) -> None:
        """A smaller or larger box: the end must stay in view (after the new size is laid out)."""
        if self.auto_scroll:
            self.scroll_end(animate=False, x_axis=False)

    @property
    def at_end(self) -> bool:
        """Whether the last line is in view."""
        return self.scroll_offset.y >= self.max_scroll_y
