"""The top line of every screen: where you are, the project, a READ-ONLY badge, and live counts."""

from __future__ import annotations

from textual.widgets import Static


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
        from flowdeck.console.tui.app import FlowdeckConsole

        app = self.app
        if isinstance(app, FlowdeckConsole):
            self.update(app.top_bar_text(self.screen_title, self.size.width or app.size.width))

    def on_resize(self) -> None:
        """What fits changes with the width."""
        self.update_from_app()
