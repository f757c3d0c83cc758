"""SVG snapshots of key screens at 80x24, with the clock fixed and cursor blink and animations off.

Accept intended changes with ``pytest tests/console/test_console_snapshots.py --snapshot-update``.
Snapshots render in full colour whatever the terminal; the degraded modes are checked elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import DataTable, TextArea

from conftest import FIXED_NOW, make_app, screen_text, wait_for
from flowdeck.engine.workspace import Workspace

# The snapshots show a project of their own, so changes to the bundled example do not move them.
SNAPSHOT_PROJECT = {
    "flowdeck.yaml": "name: snapshot-shop\n",
    "pipelines/orders/pipeline.yaml": """\
description: Orders by day, from a CSV feed.
schedule:
  cron: "30 5 * * *"
steps:
  - name: raw_orders
    kind: extract
    source:
      path: data/orders.csv
  - name: orders_by_day
    kind: transform
    checks:
      - row_count: {min: 1}
  - name: export_orders
    kind: load
    table: orders_by_day
    to:
      path: exports/orders.parquet
""",
    "pipelines/orders/orders_by_day.sql": "SELECT order_date, count(*) AS orders\nFROM raw_orders\nGROUP BY order_date\n",
    "pipelines/landing/pipeline.yaml": """\
triggers:
  - folder: landing
    patterns: ["*.csv"]
steps:
  - name: landed
    kind: extract
    source:
      path: landing/*.csv
""",
}


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A small fixed project (overrides the example-project workspace of conftest)."""
    for name, text in SNAPSHOT_PROJECT.items():
        path = tmp_path / "snap" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    ws = Workspace.open(tmp_path / "snap")
    yield ws
    ws.close()


def still_app(workspace: Workspace, **options: object):  # type: ignore[no-untyped-def]
    """The console with a fixed clock and no animations from its first frame (tab underlines slide)."""
    app = make_app(workspace, clock=lambda: FIXED_NOW, **options)
    app.animation_level = "none"
    return app


def steady(pilot) -> None:  # type: ignore[no-untyped-def]
    """Nothing moves between two renders: no animations, no blinking cursors, no toasts."""
    pilot.app.animation_level = "none"
    for area in pilot.app.screen.query(TextArea):
        area.cursor_blink = False
        area.notify_style_update()  # its lines are cached by a key without the focus: draw them again
    pilot.app.clear_notifications()


def test_pipelines_screen_snapshot(workspace: Workspace, snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = still_app(workspace)

    async def ready(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: pilot.app.screen.query_one("#pipeline-table", DataTable).row_count == 2)
        await wait_for(pilot, lambda: "landed (extract)" in screen_text(pilot.app))  # the first pipeline's DAG
        steady(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=ready)


def test_help_screen_snapshot(workspace: Workspace, snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = still_app(workspace)

    async def ready(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: pilot.app.screen.id == "help")
        steady(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=ready)


def test_editor_with_a_problem_snapshot(workspace: Workspace, snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = still_app(workspace)

    async def ready(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("colon", *"edit orders", "enter")
        await wait_for(pilot, lambda: pilot.app.screen.query(TextArea) and pilot.app.screen.query_one(TextArea).text)
        area = pilot.app.screen.query_one(TextArea)
        area.text = area.text.replace("kind: extract", "kind: extrakt", 1)
        await wait_for(pilot, lambda: "unknown step kind" in screen_text(pilot.app)
                       and "typing · Esc: keys" in screen_text(pilot.app))
        area.cursor_location = (0, 0)
        area.focus()  # typing: the cursor is drawn (a late focus change must not decide the picture)
        await wait_for(pilot, lambda: area.has_focus)
        steady(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=ready)


def test_read_only_runs_screen_snapshot(workspace: Workspace, snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = still_app(workspace, read_only=True)

    async def ready(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("2")
        await wait_for(pilot, lambda: "no runs" in screen_text(pilot.app))
        steady(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=ready)
