"""The console's screens, one module each."""

from __future__ import annotations

from typing import Any


def all_screens() -> Any:
    """A namespace of every screen class, imported now (the app imports all but the first lazily)."""
    from types import SimpleNamespace

    from flowdeck.console.tui.screens.alerts import AlertsScreen
    from flowdeck.console.tui.screens.command_line import CommandLineScreen
    from flowdeck.console.tui.screens.dag_editor import DagEditorScreen
    from flowdeck.console.tui.screens.dashboard import DashboardScreen
    from flowdeck.console.tui.screens.editor import EditorScreen
    from flowdeck.console.tui.screens.new_pipeline import NewPipelineScreen
    from flowdeck.console.tui.screens.preview import PreviewScreen
    from flowdeck.console.tui.screens.run_detail import RunDetailScreen
    from flowdeck.console.tui.screens.runs import RunsScreen

    return SimpleNamespace(AlertsScreen=AlertsScreen, CommandLineScreen=CommandLineScreen, DagEditorScreen=DagEditorScreen,
                           DashboardScreen=DashboardScreen,
                           EditorScreen=EditorScreen, NewPipelineScreen=NewPipelineScreen, PreviewScreen=PreviewScreen,
                           RunDetailScreen=RunDetailScreen, RunsScreen=RunsScreen)
