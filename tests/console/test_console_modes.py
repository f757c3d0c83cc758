"""Pilot tests: read-only mode, themes, the editor's live validation and safe save, the data preview."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from textual.widgets import DataTable, TextArea

from conftest import SIZES, drive, finished_run, make_app, notifications, screen_text, wait_for
from flowdeck.console.tui.actions import ACTIONS
from flowdeck.console.tui.screens.dialogs import ConfirmDialog
from flowdeck.console.tui.screens.editor import EditorScreen
from flowdeck.console.tui.screens.preview import PreviewScreen
from flowdeck.console.tui.screens.runs import RunsScreen
from flowdeck.engine.workspace import Workspace


@pytest.mark.parametrize("size", SIZES)
def test_read_only_hides_every_changing_action_and_refuses_it_by_key_and_command(
        workspace: Workspace, size: tuple[int, int]) -> None:
    queued, _ = workspace.submit("daily_sales")
    app = make_app(workspace, read_only=True)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: app.screen.query_one("#pipeline-table", DataTable).row_count == 2)
        await wait_for(pilot, lambda: "READ-ONLY" in screen_text(app), what="the read-only mark")
        await wait_for(pilot, lambda: "Preview" in screen_text(app).splitlines()[-1], what="the footer's keys")
        footer = screen_text(app).splitlines()[-1]
        assert "Run" not in footer and "Edit" not in footer
        for spec in ACTIONS:
            assert app.check_action(spec.action_name, ()) is (not spec.mutates)
        await pilot.press("r", "e", "f5", "f6")  # hidden keys do nothing
        await pilot.press("colon", *"run daily_sales", "enter")
        await wait_for(pilot, lambda: any("read-only" in text for text in notifications(app)))
        await pilot.press("colon", *"edit daily_sales", "enter")
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        await pilot.press("c", "f8")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ConfirmDialog)
        assert not isinstance(app.screen, EditorScreen)
        assert [run.run_id for run in workspace.ledger.list_runs()] == [queued.run_id]  # nothing new was queued
        assert workspace.ledger.get_run(queued.run_id).status == "queued"  # type: ignore[union-attr]
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: app.screen.id == "help" and "Preview" in screen_text(app), what="the help")
        assert "Cancel" not in screen_text(app) and "Rerun" not in screen_text(app)

    drive(app, scenario, size)


def test_an_operator_may_run_and_cancel_but_not_edit_and_a_viewer_gets_a_read_only_console(
        workspace: Workspace, project_dir: Path) -> None:
    user = workspace.user
    config = project_dir / "flowdeck.yaml"
    config.write_text(config.read_text() + f"\nroles:\n  operators: [{user}]\n")
    operator = Workspace.open(project_dir, source="console")
    app = make_app(operator)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: app.screen.query_one("#pipeline-table", DataTable).row_count == 2)
        assert not app.read_only
        assert app.check_action("launch_run", ()) and app.check_action("cancel_run", ())
        assert not app.check_action("edit_pipeline", ())
        await wait_for(pilot, lambda: "Run" in screen_text(app).splitlines()[-1], what="the footer's keys")
        assert "Edit" not in screen_text(app).splitlines()[-1]
        await pilot.press("colon", *"edit daily_sales", "enter")
        await wait_for(pilot, lambda: any(f"{user} is an operator" in text for text in notifications(app)),
                       what="the refusal naming the role")
        assert not isinstance(app.screen, EditorScreen)

    try:
        drive(app, scenario)
        logins = operator.audit_entries(action="login")
        assert [(entry.actor, entry.source) for entry in logins] == [(user, "console")]  # opening is audited
    finally:
        operator.close()
    config.write_text(config.read_text().replace(f"operators: [{user}]", f"viewers: [{user}]"))
    viewer = Workspace.open(project_dir, source="console")
    try:
        assert make_app(viewer).read_only  # a viewer's console is read-only without the flag
    finally:
        viewer.close()


@pytest.mark.parametrize("size", SIZES)
def test_theme_changes_by_command_by_key_and_unknown_names_keep_the_current_one(
        workspace: Workspace, size: tuple[int, int]) -> None:
    app = make_app(workspace, theme="flowdeck-light")

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        assert app.theme == "flowdeck-light"
        await pilot.press("colon", *"theme nord", "enter")
        await wait_for(pilot, lambda: app.theme == "nord")
        await pilot.press("colon", *"theme no-such-theme", "enter")
        await wait_for(pilot, lambda: any("no theme named 'no-such-theme'" in text for text in notifications(app)))
        assert app.theme == "nord"
        await pilot.press("ctrl+t")  # next theme from themes/
        await wait_for(pilot, lambda: app.theme != "nord")
        assert app.theme in app.theme_names
        await pilot.press("colon", *"theme ansi", "enter")
        await wait_for(pilot, lambda: app.theme == "ansi")
        assert app.current_theme.ansi

    drive(app, scenario, size)


def test_themes_folder_ships_dark_light_ansi_and_nord() -> None:
    from flowdeck.console.tui.themes import BUILTIN_THEMES_DIR, load_themes

    loaded = load_themes(BUILTIN_THEMES_DIR)
    assert loaded.problems == []
    assert {"flowdeck-dark", "flowdeck-light", "ansi", "nord"} <= set(loaded.themes)
    assert loaded.themes["ansi"].ansi and not loaded.themes["flowdeck-light"].dark


def test_an_invalid_theme_file_toasts_and_the_console_falls_back_to_the_default(workspace: Workspace,
                                                                              project_dir: Path) -> None:
    themes = project_dir / "themes"
    themes.mkdir()
    (themes / "broken.yaml").write_text("name: broken\nprimary: not-a-colour\n")
    (themes / "typo.yaml").write_text("name: typo\nprimary: '#112233'\nbackgrund: '#000000'\n")
    app = make_app(workspace, theme="broken")

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: len(notifications(app)) >= 3)
        toasts = "\n".join(notifications(app))
        assert "broken.yaml" in toasts and "not-a-colour" in toasts
        assert "typo.yaml" in toasts and "backgrund" in toasts
        assert "no theme named 'broken'" in toasts
        assert app.theme == "flowdeck-dark"

    drive(app, scenario)


def _open_editor(pilot, app, file_name: str):  # type: ignore[no-untyped-def]
    async def go() -> EditorScreen:
        await pilot.press("colon", *"edit daily_sales", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, EditorScreen) and app.screen.current is not None)
        screen: EditorScreen = app.screen
        while screen.current.name != file_name:  # type: ignore[union-attr]
            await pilot.press("ctrl+n")
        return screen
    return go()


@pytest.mark.parametrize("size", SIZES)
def test_editor_highlights_sql_and_shows_a_syntax_error_with_line_and_column_as_you_type(
        workspace: Workspace, size: tuple[int, int]) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        screen = await _open_editor(pilot, app, "sales.sql")
        editor = screen.query_one(TextArea)
        assert editor.language == "sql" and editor.is_syntax_aware
        await wait_for(pilot, lambda: "✓ valid" in screen_text(app))
        editor.focus()
        editor.cursor_location = (0, 0)
        await pilot.press(*"SELEC ")  # "SELEC SELECT ..." no longer parses
        await wait_for(pilot, lambda: re.search(r"✗ line \d+, col \d+: SQL syntax error", screen_text(app)),
                       what="the inline problem")
        assert "● modified" in screen_text(app)
        editor.cursor_location = (0, 0)
        screen.check.delay = 60  # still typing: the last result is stale until the next check
        await pilot.press(*["delete"] * 6)
        await wait_for(pilot, lambda: "… checking" in screen_text(app), what="the stale result to be withdrawn")
        assert "✗" not in screen_text(app)
        screen.check.now()
        await wait_for(pilot, lambda: "✓ valid" in screen_text(app))

    drive(app, scenario, size)


def test_editor_shows_config_errors_in_yaml_and_goes_to_them(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        screen = await _open_editor(pilot, app, "pipeline.yaml")
        editor = screen.query_one(TextArea)
        assert editor.language == "yaml" and editor.is_syntax_aware
        text = editor.text
        line = text.splitlines().index("    kind: extract") + 1
        editor.text = text.replace("    kind: extract", "    kind: extrakt", 1)
        await wait_for(pilot, lambda: f"✗ line {line}, col 11: unknown step kind `extrakt`" in screen_text(app)
                       and "did you mean `extract`" in screen_text(app), what="the problem and its hint")
        editor.cursor_location = (0, 0)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: editor.cursor_location == (line - 1, 10), what="the cursor at the problem")

    drive(app, scenario, (120, 40))


def test_saving_an_invalid_file_is_refused_unless_forced_and_keeps_a_backup(workspace: Workspace,
                                                                          project_dir: Path) -> None:
    sql_file = project_dir / "pipelines" / "daily_sales" / "sales.sql"
    original = sql_file.read_text()
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        screen = await _open_editor(pilot, app, "sales.sql")
        editor = screen.query_one(TextArea)
        editor.text = "SELECT FROM WHERE"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the refusal")
        await pilot.press("n")
        await pilot.pause(0.3)
        assert sql_file.read_text() == original  # refused
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")  # forced
        await wait_for(pilot, lambda: sql_file.read_text() == "SELECT FROM WHERE")
        backups = list((workspace.project.runtime_dir / "backups").glob("daily_sales.sales.sql.*.bak"))
        assert [backup.read_text() for backup in backups] == [original]
        editor.text = original
        await pilot.press("ctrl+s")  # valid: saved at once
        await wait_for(pilot, lambda: sql_file.read_text() == original)
        await wait_for(pilot, lambda: "saved" in screen_text(app))

    drive(app, scenario)


def test_leaving_the_editor_with_unsaved_changes_asks_first(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        screen = await _open_editor(pilot, app, "sales.sql")
        screen.query_one(TextArea).insert("-- note\n", (0, 0))
        await pilot.press("f9")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, EditorScreen))
        await pilot.press("f9")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: not isinstance(app.screen, (EditorScreen, ConfirmDialog)))

    drive(app, scenario)


def test_preview_shows_the_first_rows_of_the_pipelines_result_table(workspace: Workspace) -> None:
    finished_run(workspace)
    expected = workspace.query("SELECT count(*) FROM daily_sales").rows[0][0]
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: app.screen.query_one("#pipeline-table", DataTable).row_count == 2)
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, PreviewScreen))
        grid = app.screen.query_one("#preview-table", DataTable)
        await wait_for(pilot, lambda: grid.row_count > 0, what="the rows")
        assert app.screen.table == "daily_sales"
        assert [str(column.label) for column in grid.columns.values()][:2] == ["order_date", "country"]
        assert grid.row_count == min(expected, app.preview_rows)
        assert "on duckdb" in screen_text(app)  # the engine the rows were read on
        await pilot.press("n")  # the next table of the pipeline
        await wait_for(pilot, lambda: app.screen.table == "raw_orders")

    drive(app, scenario)


HOLD_LOCK = textwrap.dedent("""
    import sys, time, duckdb
    connection = duckdb.connect(sys.argv[1])
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
""")


@pytest.mark.slow
def test_preview_waits_while_a_run_holds_the_warehouse_and_names_the_holder_without_the_raw_error(
        workspace: Workspace) -> None:
    finished_run(workspace)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(workspace.project.warehouse_path), "20"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("colon", *"preview daily_sales", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PreviewScreen))
        await wait_for(pilot, lambda: "busy" in screen_text(app), what="the waiting message")
        text = screen_text(app)
        assert f"process {holder.pid}" in text and "waiting" in text
        assert "Conflicting lock" not in text and "Could not set lock" not in text
        await pilot.press("2")  # the console stays usable while the preview waits
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        assert holder.poll() is None  # ...and it was still waiting then
        await pilot.press("escape")  # back to the preview, still waiting
        await wait_for(pilot, lambda: isinstance(app.screen, PreviewScreen))
        holder.kill()  # the run lets go: the rows arrive
        grid = app.screen.query_one("#preview-table", DataTable)
        await wait_for(pilot, lambda: grid.row_count > 0, what="the rows after the lock is released")

    try:
        drive(app, scenario)
    finally:
        holder.kill()
        holder.wait()
