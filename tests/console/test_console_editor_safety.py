"""Pilot tests: the editor never loses an edit, says what Esc did, and takes keys in the order typed."""

from __future__ import annotations

from pathlib import Path

from textual import events
from textual.widgets import TextArea

from conftest import drive, make_app, screen_text, wait_for
from flowdeck.console.tui.screens.dialogs import ConfirmDialog
from flowdeck.console.tui.screens.editor import EditorScreen
from flowdeck.console.tui.screens.pipelines import PipelinesScreen
from flowdeck.engine.workspace import Workspace


async def _edit_second_file(pilot, app) -> EditorScreen:  # type: ignore[no-untyped-def]
    """`e` on daily_sales, ^n to its next file, type a line: as the operator did."""
    await pilot.press("e")
    await wait_for(pilot, lambda: isinstance(app.screen, EditorScreen) and app.screen.current is not None,
                   what="the editor")
    screen: EditorScreen = app.screen
    first = screen.current
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: screen.current != first, what="the next file")
    await pilot.press(*"-- kept")
    await wait_for(pilot, lambda: "-- kept" in screen.query_one(TextArea).text, what="the typed text")
    return screen


def _footer(app: object) -> str:
    return screen_text(app).splitlines()[-1]


def test_q_after_esc_with_an_unsaved_edit_asks_before_quitting_and_no_keeps_the_edit(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        screen = await _edit_second_file(pilot, app)
        await pilot.press("escape")  # leaves the text: letters are commands now, and the screen says so
        await wait_for(pilot, lambda: "keys: i type" in screen_text(app), what="the editor to say Esc left the text")
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question before quitting")
        assert "Discard them and quit?" in screen_text(app) and screen.current is not None
        assert screen.current.name in screen_text(app)
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is screen, what="the editor again")
        assert app.is_running and "-- kept" in screen.query_one(TextArea).text
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.is_running, what="the console to quit")

    drive(app, scenario)


def test_ctrl_q_while_typing_asks_before_quitting(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await _edit_second_file(pilot, app)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question before quitting")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, EditorScreen))
        assert app.is_running

    drive(app, scenario)


def test_an_edit_left_open_under_another_screen_still_stops_a_quit(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await _edit_second_file(pilot, app)
        await pilot.press("f3")  # the runs screen; the editor stays open under the pipelines
        await wait_for(pilot, lambda: not isinstance(app.screen, EditorScreen))
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question before quitting")

    drive(app, scenario)


def test_while_typing_the_footer_shows_keys_that_act_there_not_letters_that_type(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await _edit_second_file(pilot, app)
        await wait_for(pilot, lambda: "^q Quit" in _footer(app), what="^q in the footer while typing")
        footer = _footer(app)
        assert "q Quit" not in footer.replace("^q Quit", "") and "? Help" not in footer
        assert "^s Save" in footer and "typing · Esc: keys" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: " s Save" in _footer(app), what="letters in the footer once Esc left the text")

    drive(app, scenario)


def test_letters_command_the_editor_after_esc_and_i_types_again(workspace: Workspace, project_dir: Path) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        screen = await _edit_second_file(pilot, app)
        path = screen.current
        assert path is not None
        await pilot.press("escape", "s")
        await wait_for(pilot, lambda: "-- kept" in path.read_text(), what="s to save the file")
        await pilot.press("i", *"X")
        await wait_for(pilot, lambda: "X" in screen.query_one(TextArea).text, what="i to type again")

    drive(app, scenario)


def test_keys_sent_in_a_burst_take_effect_in_the_order_typed(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EditorScreen) and app.screen.current is not None)
        area = app.screen.query_one(TextArea)
        lines = area.text.splitlines()
        for key in ["down"] * 10 + ["end"]:  # as tmux delivers them to a busy console: all at once
            app.post_message(events.Key(key, None))
        app.post_message(events.Key("Z", "Z"))
        await wait_for(pilot, lambda: "Z" in area.text, what="the Z")
        assert area.text.splitlines()[10] == lines[10] + "Z"  # End took effect before Z, as typed

    drive(app, scenario)


def test_f9_from_the_editor_without_edits_goes_back_at_once(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EditorScreen) and app.screen.current is not None)
        await pilot.press("f9")
        await wait_for(pilot, lambda: isinstance(app.screen, PipelinesScreen))

    drive(app, scenario)


def test_a_number_key_back_to_a_list_with_an_unsaved_editor_over_it_asks_first(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        screen = await _edit_second_file(pilot, app)
        await pilot.press("f3")  # the runs; the editor stays open over the pipelines
        await wait_for(pilot, lambda: app.current_mode == "runs")
        await pilot.press("1")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the question before closing it")
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is screen, what="the editor, still open with its edit")
        assert "-- kept" in screen.query_one(TextArea).text
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, PipelinesScreen), what="the pipeline list")

    drive(app, scenario)
