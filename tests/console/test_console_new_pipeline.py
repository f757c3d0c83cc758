"""Pilot tests of the new-pipeline form: the assistant of `flowdeck new pipeline`, in the console."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Input, Static

from conftest import drive, make_app, notifications, screen_text, wait_for
from flowdeck.console.tui.commands import ConsoleCommands
from flowdeck.console.tui.screens.new_pipeline import NewPipelineScreen
from flowdeck.engine.workspace import Workspace
from tests.conftest import run_flowdeck


async def _type(pilot, app, field: str, text: str) -> None:  # type: ignore[no-untyped-def]
    widget = app.screen.query_one(f"#{field}", Input)
    widget.focus()
    widget.value = ""
    await pilot.press(*text) if text else None


async def _fill(pilot, app, **answers: str) -> None:  # type: ignore[no-untyped-def]
    for field, text in answers.items():
        await _type(pilot, app, field, text)


def _status(app) -> str:  # type: ignore[no-untyped-def]
    return str(app.screen.query_one("#new-problems", Static).render())


async def _open_form(pilot, app) -> None:  # type: ignore[no-untyped-def]
    await wait_for(pilot, lambda: app.screen.query("#pipeline-table")
                   and app.screen.query_one("#pipeline-table", DataTable).row_count == 2, what="the pipelines")
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(app.screen, NewPipelineScreen), what="the new-pipeline form")


def test_filled_form_previews_validates_and_writes_a_pipeline_that_validates(workspace: Workspace,
                                                                            project_dir: Path) -> None:
    app = make_app(workspace)
    folder = project_dir / "pipelines" / "orders_copy"

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await _open_form(pilot, app)
        await _fill(pilot, app, name="orders_copy", source="data/sample/customers.csv", not_null="customer_id",
                    unique="customer_id", export="exports/customers_copy.parquet")
        await wait_for(pilot, lambda: "✓ valid" in _status(app), what="the answers to validate")
        preview = str(app.screen.query_one("#preview", Static).render())
        assert "pipelines/orders_copy/pipeline.yaml" in preview and 'cron: "0 6 * * *"' in preview
        assert "unique: [customer_id]" in preview
        assert not folder.exists()  # previewing writes nothing
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, NewPipelineScreen), what="the form to close")
        await wait_for(pilot, lambda: any("orders_copy created" in toast for toast in notifications(app)),
                       what="the toast")  # a toast is a message the app handles after the form closed
        assert "orders_copy" in app.pipeline_names

    drive(app, scenario, (120, 40))
    assert sorted(path.name for path in folder.iterdir()) == ["orders_copy.sql", "pipeline.yaml"]
    validated = run_flowdeck("validate", "orders_copy", project=project_dir)
    assert validated.returncode == 0, validated
    entries = workspace.audit_entries(action="edit")
    assert {entry.target for entry in entries} >= {"pipelines/orders_copy/pipeline.yaml"}


def test_answers_typed_since_the_last_check_are_neither_called_valid_nor_saved(workspace: Workspace,
                                                                               project_dir: Path) -> None:
    app = make_app(workspace)
    folder = project_dir / "pipelines" / "orders_copy"

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await _open_form(pilot, app)
        await _fill(pilot, app, name="orders_copy", source="data/sample/customers.csv")
        await wait_for(pilot, lambda: "✓ valid" in _status(app), what="the answers to validate")
        screen: NewPipelineScreen = app.screen
        screen.check.delay = 60  # the operator is still typing: no check starts meanwhile
        await _type(pilot, app, "unique", "customer_id")
        assert "checking" in _status(app) and "✓ valid" not in _status(app)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any("still checking" in toast for toast in notifications(app)),
                       what="the save to wait for the check")
        assert not folder.exists()
        screen.check.now()  # typing paused
        await wait_for(pilot, lambda: "✓ valid" in _status(app), what="the new answers to validate")
        assert "unique: [customer_id]" in str(screen.query_one("#preview", Static).render())
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, NewPipelineScreen), what="the form to close")

    drive(app, scenario, (120, 40))
    assert "unique: [customer_id]" in (folder / "pipeline.yaml").read_text()


def test_a_bad_cron_is_marked_beside_its_input_and_nothing_is_written(workspace: Workspace, project_dir: Path) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await _open_form(pilot, app)
        await _fill(pilot, app, name="broken", source="data/sample/customers.csv", cron="61 * * * *")
        await wait_for(pilot, lambda: "61" in str(app.screen.query_one("#error-cron", Static).render()),
                       what="the inline cron error")
        error = str(app.screen.query_one("#error-cron", Static).render())
        assert "invalid cron expression" in error and "59" in error
        assert app.screen.query_one("#cron", Input).has_class("-invalid")
        assert "fix: cron" in _status(app)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any("not saved" in toast for toast in notifications(app)), what="the refusal")
        assert isinstance(app.screen, NewPipelineScreen)  # still open, nothing written
        assert "invalid cron expression" in screen_text(app)

    drive(app, scenario, (120, 40))
    assert not (project_dir / "pipelines" / "broken").exists()


def test_a_name_taken_by_a_pipeline_is_refused_inline(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await _open_form(pilot, app)
        await _type(pilot, app, "name", "daily_sales")
        await wait_for(pilot, lambda: "already has a pipeline" in str(app.screen.query_one("#error-name", Static).render()),
                       what="the name to be refused")

    drive(app, scenario, (120, 40))


def test_colon_new_opens_the_form_with_the_name_and_the_palette_offers_it(workspace: Workspace) -> None:
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("colon")
        await pilot.press(*"new weekly_report")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, NewPipelineScreen), what="the form")
        assert app.screen.query_one("#name", Input).value == "weekly_report"
        titles = [title for title, _, _ in ConsoleCommands(app.screen)._entries()]
        assert "New pipeline (assistant)" in titles
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, NewPipelineScreen), what="the form to close")

    drive(app, scenario)


def test_read_only_console_hides_and_refuses_the_assistant(workspace: Workspace) -> None:
    app = make_app(workspace, read_only=True)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: app.screen.query("#pipeline-table"), what="the pipelines")
        await pilot.press("n")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, NewPipelineScreen)
        titles = [title for title, _, _ in ConsoleCommands(app.screen)._entries()]
        assert "New pipeline (assistant)" not in titles

    drive(app, scenario)


def test_with_connections_the_form_reads_a_database_table(tmp_path: Path) -> None:
    from textual.widgets import Select

    from flowdeck.engine.operations.scaffold import init_project

    root = init_project(tmp_path / "db", "database_export").root
    workspace = Workspace.open(root)
    app = make_app(workspace)

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: app.screen.query("#pipeline-table")
                       and app.screen.query_one("#pipeline-table", DataTable).row_count == 1, what="the pipelines")
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NewPipelineScreen), what="the form")
        assert not app.screen.query_one("#group-source_table").display  # files until a connection is chosen
        app.screen.query_one("#connection", Select).value = "shop"
        await wait_for(pilot, lambda: app.screen.query_one("#group-source_table").display
                       and not app.screen.query_one("#group-source").display, what="the table question instead of files")
        await _fill(pilot, app, name="customers_nightly", source_table="customers")
        await wait_for(pilot, lambda: "✓ valid" in _status(app), what="the answers to validate")
        assert "connection: shop" in str(app.screen.query_one("#preview", Static).render())
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, NewPipelineScreen), what="the form to close")

    try:
        drive(app, scenario, (120, 40))
    finally:
        workspace.close()
    result = run_flowdeck("run", "customers_nightly", project=root)
    assert result.returncode == 0, result
