"""The top line of every screen: where you are, the project, a READ-ONLY badge, and live counts."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from textual.widgets import Static


@runtime_checkable
class DrawsTopBar(Protocol):
    """An app that says what its top line shows (the console does; a test's bare app does not)."""

    def top_bar_text(self, screen_title: str, width: int | None = None) -> Any:
        """The top line for a screen of this title at this width."""


class TopBar(Static):
    """``flowdeck · example-shop · Runs            READ-ONLY  ▶ 1 running``."""

    DEFAULT_CSS = """
    TopBar { height: 1; width: 1fr; }
    """

    def __init__(self, screen_title: str) -> None:
        super().__init__("", markup=False, classes="top-bar")
        self.screen_title = screen_title

    def on_mount(self) -> None:
        """Draw from the app's state."""
        self.update_from_app()

    def update_from_app(self) -> None:
        """Redraw (the app calls this when the read-only state or run counts change)."""
        app = self.app  # by protocol, not by class: the app module imports the screens that hold this bar
        if isinstance(app, DrawsTopBar):
            self.update(app.top_bar_text(self.screen_title, self.size.width or app.size.width))

    def on_resize(self) -> None:
        """What fits changes with the width."""
        self.update_from_app()
