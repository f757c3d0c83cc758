"""Plain unit tests of the console's pieces: the action registry, themes, filters, and the engine helpers it uses."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from flowdeck.console.tui.actions import ACTIONS, GLOBAL, SCOPE_TITLES, command_specs, help_sections, is_refused
from flowdeck.console.tui.screens.runs import RunFilter
from flowdeck.console.tui.themes import load_theme_file
from flowdeck.engine.workspace import Workspace
from flowdeck.engine.errors import ConfigError, NotFound
from flowdeck.engine.plan.slots import next_scheduled_at
from flowdeck.engine.project.config.pipeline import Schedule

REPO = Path(__file__).resolve().parents[2]


NAVIGATION_KEYS = {"enter", "up", "down", "home", "end", "pageup", "pagedown"}  # reach every terminal, act in fields


def test_every_bound_action_has_a_ctrl_letter_or_function_key_alias() -> None:
    for spec in ACTIONS:
        if spec.keys and not NAVIGATION_KEYS & set(spec.keys):
            assert any(key.startswith("ctrl+") or key[:1] == "f" and key[1:].isdigit() for key in spec.keys), spec.id


def test_no_two_actions_share_a_key_within_a_screen_or_with_the_global_keys() -> None:
    for scope in SCOPE_TITLES:
        seen: dict[str, str] = {}
        scoped = [spec for spec in ACTIONS if spec.scope == scope]
        for spec in scoped:
            for key in spec.keys:
                assert key not in seen, f"{key} bound to {seen[key]} and {spec.id}"
                seen[key] = spec.id
        if scope == GLOBAL:
            continue
        global_keys = {key for spec in ACTIONS if spec.scope == GLOBAL for key in spec.keys}
        overridden = {key for key in seen if key in global_keys} - {"escape", "f9"}  # screens may refine "back"
        assert not overridden, f"{scope} shadows global keys {overridden}"


def test_binding_ids_and_colon_verbs_are_unique() -> None:
    ids = [spec.id for spec in ACTIONS]
    assert len(ids) == len(set(ids))
    verbs = [verb for spec in ACTIONS if spec.command for verb in (spec.command, *spec.aliases)]
    assert len(verbs) == len(set(verbs))
    assert {"run", "runs", "theme", "pipelines", "alerts", "cancel", "quit"} <= set(command_specs())


def test_read_only_refuses_exactly_the_actions_that_change_something() -> None:
    for spec in ACTIONS:
        assert is_refused(spec.action_name, read_only=True) == spec.mutates
        assert not is_refused(spec.action_name, read_only=False)
    listed = {row[2] for _, rows in help_sections(read_only=True) for row in rows}
    assert not any("changes things" in description for description in listed)


def test_docs_console_page_carries_the_generated_key_reference() -> None:
    sys.path.insert(0, str(REPO / "docs"))  # the generator is a developer tool in docs/, not part of the package
    try:
        from gen_console_keys import keys_markdown
    finally:
        sys.path.remove(str(REPO / "docs"))

    page = (REPO / "docs" / "console.md").read_text()
    assert keys_markdown() in page, "docs/console.md is stale: run `python docs/gen_console_keys.py`"


@pytest.mark.parametrize(("line", "expected"), [
    ("failed", RunFilter(status="failed")),
    ("daily_sales failed", RunFilter(status="failed", pipeline="daily_sales")),
    ("status:running pipeline:other oops", RunFilter(status="running", pipeline="other", text="oops")),
    ("disk full", RunFilter(text="disk full")),
    ("", RunFilter()),
])
def test_run_filter_reads_status_pipeline_and_text_in_any_order(line: str, expected: RunFilter) -> None:
    assert RunFilter.parse(line, ["daily_sales", "ingest_orders"]) == expected


def test_console_page_describes_every_screen_of_the_registry() -> None:
    from flowdeck.console.tui.actions import GLOBAL, SCOPE_TITLES

    page = (REPO / "docs" / "console.md").read_text()
    screens = page.split("## Screens", 1)[1].split("\n## ", 1)[0]
    for scope, title in SCOPE_TITLES.items():
        if scope != GLOBAL:
            assert f"- **{title}**" in screens, f"docs/console.md does not describe the {title} screen"



def test_theme_files_are_validated_with_readable_reasons(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("name: good\nprimary: '#336699'\ndark: false\n")
    assert load_theme_file(good).name == "good"
    cases = {
        "colour.yaml": ("name: x\nprimary: '#zzzzzz'\n", "#zzzzzz"),
        "key.yaml": ("name: x\nprimary: red\nforegrund: red\n", "foregrund"),
        "name.yaml": ("name: Bad Name\nprimary: red\n", "name"),
        "list.yaml": ("- a\n- b\n", "mapping"),
        "yaml.yaml": ("name: [unclosed\n", "cannot read"),
    }
    for file_name, (text, reason) in cases.items():
        path = tmp_path / file_name
        path.write_text(text)
        with pytest.raises(ValueError) as caught:
            load_theme_file(path)
        assert reason in str(caught.value), (file_name, caught.value)


def test_next_scheduled_time_follows_the_cron_in_its_time_zone_and_intervals_from_the_epoch() -> None:
    now = datetime(2026, 11, 27, 12, 5, tzinfo=timezone.utc).timestamp()
    paris_six = next_scheduled_at(Schedule(cron="0 6 * * *", timezone="Europe/Paris"), now)
    assert paris_six == datetime(2026, 11, 28, 5, 0, tzinfo=timezone.utc).timestamp()  # 06:00 CET = 05:00 UTC
    quarter = next_scheduled_at(Schedule(interval=900), now)  # the daemon aligns interval slots to the epoch
    assert quarter == datetime(2026, 11, 27, 12, 15, tzinfo=timezone.utc).timestamp()


def test_save_keeps_the_previous_version_refuses_invalid_text_and_is_audited(workspace: Workspace,
                                                                            project_dir: Path) -> None:
    folder = project_dir / "pipelines" / "daily_sales"
    target = folder / "sales.sql"
    original = target.read_text()
    backups = workspace.project.runtime_dir / "backups"
    with pytest.raises(ConfigError, match="not saved: sales.sql has 1 problem"):
        workspace.save_file(target, "SELECT FROM")
    assert target.read_text() == original and not backups.exists()
    first = workspace.save_file(target, "SELECT 2 AS two\n")
    second = workspace.save_file(target, "SELECT FROM", force=True)
    assert target.read_text() == "SELECT FROM" and second.problems == 1
    assert first.backup is not None and first.backup.read_text() == original
    assert second.backup is not None and second.backup.read_text() == "SELECT 2 AS two\n"
    assert not [path.name for path in folder.iterdir() if path.name.startswith(".")]  # no temporary file left
    edits = workspace.audit_entries(action="edit")
    assert [entry.target for entry in edits] == ["pipelines/daily_sales/sales.sql"] * 2
    with pytest.raises(NotFound):
        workspace.save_file(project_dir / "flowdeck.yaml", "name: x\n")  # the editor edits pipelines only


def test_alerts_come_from_failed_runs_and_checks_and_acknowledgements_persist(workspace: Workspace) -> None:
    ledger = workspace.ledger
    failed, _ = ledger.create_run("daily_sales", trigger_kind="schedule")
    ledger.claim_run(failed.run_id)
    ledger.finish_run(failed.run_id, "failed", "boom\nwith detail")
    fine, _ = ledger.create_run("daily_sales", trigger_kind="manual")
    ledger.claim_run(fine.run_id)
    ledger.record_check(fine.run_id, "orders_clean", "unique(order_id)", severity="warn", status="warned",
                        failing_rows=2)
    ledger.record_check(fine.run_id, "orders_clean", "not_null(order_id)", severity="error", status="passed",
                        failing_rows=0)
    ledger.finish_run(fine.run_id, "succeeded")  # resolves the failure, not the warning
    alerts = workspace.alerts()
    assert [(alert.kind, alert.status, alert.run_id) for alert in alerts] == [
        ("check_warned", "firing", fine.run_id), ("run_failed", "resolved", failed.run_id)]
    assert alerts[1].detail == "boom" and alerts[0].severity == "warning" and alerts[1].severity == "critical"
    assert workspace.acknowledge_alert(alerts[0].alert_id) is True
    assert workspace.acknowledge_alert(alerts[0].alert_id) is False  # the first acknowledgement stays
    assert workspace.acknowledge_alert(alerts[1].alert_id) is False  # resolved: nothing to acknowledge
    reopened = Workspace.open(workspace.project.root)
    try:
        again = {alert.alert_id: alert for alert in reopened.alerts()}
        assert again[alerts[0].alert_id].acknowledged and again[alerts[0].alert_id].acknowledged_by
        assert [a.alert_id for a in reopened.alerts(include_acknowledged=False)] == [alerts[1].alert_id]
        assert any(event.kind == "alert.acknowledged" for event in reopened.ledger.events(run_id=fine.run_id))
    finally:
        reopened.close()


def test_pipeline_summaries_include_invalid_pipelines_with_their_error(workspace: Workspace, project_dir: Path) -> None:
    broken = project_dir / "pipelines" / "broken"
    broken.mkdir()
    (broken / "pipeline.yaml").write_text("steps:\n  - name: x\n    kind: nope\n")
    summaries = {summary.name: summary for summary in workspace.pipeline_summaries(now=time.time())}
    assert not summaries["broken"].valid and "unknown step kind `nope`" in (summaries["broken"].error or "")
    assert summaries["daily_sales"].params == {"since": "2026-01-01"}


def test_a_step_line_given_a_state_before_its_parts_exist_draws_the_newest_once_they_do() -> None:
    # a run's next state can reach the run view right after it mounted the step lines
    from textual.app import App
    from textual.widgets import Static

    from flowdeck.console.tui.widgets.step_progress import StepProgress
    from flowdeck.state import StepRecord

    pending = StepRecord(run_id="r1", step="orders", kind="transform", output="orders", position=0, status="pending",
                         attempts=1, started_at=None, ended_at=None, rows_out=None, error=None)
    done = dataclasses.replace(pending, status="succeeded", started_at=100.0, ended_at=103.0, rows_out=1200)
    app: App[None] = App()

    async def scenario() -> str:
        async with app.run_test() as pilot:
            line = StepProgress(pending)
            app.screen.mount(line)  # not awaited, as the run view mounts
            line.show(done)
            line.tick()
            await pilot.pause()
            return " ".join(str(part.render()) for part in line.query(Static))

    drawn = asyncio.run(scenario())
    assert "succeeded" in drawn and "1,200 rows" in drawn and "3.00s" in drawn and "pending" not in drawn, drawn


def test_with_no_color_statuses_and_problem_lines_use_attributes_never_shades(monkeypatch: pytest.MonkeyPatch) -> None:
    from flowdeck.console.tui.widgets.status import CONSOLE_STATUS_STYLE, status_text, tone

    monkeypatch.setenv("NO_COLOR", "1")
    for status in ("failed", "abandoned", "invalid", "error", "critical"):
        style = str(status_text(status).style)
        assert "bold" in style and "reverse" in style, (status, style)
    for status in ("warned", "warning", "new"):
        assert "underline" in str(status_text(status).style), status
    colours = ("red", "green", "yellow", "cyan", "blue", "magenta", "white", "dim")
    for status in CONSOLE_STATUS_STYLE:
        assert not any(colour in str(status_text(status).style) for colour in colours), status
    assert tone("red") == "bold" and tone("dim") == "" and tone("green") == ""
    monkeypatch.delenv("NO_COLOR")
    assert str(status_text("failed").style) == "red" and tone("dim") == "dim"


@pytest.mark.parametrize(("line", "expected"), [
    ("ru", ("run", ("run", "runs"))),
    ("runs fa", ("runs failed ", ())),
    ("theme", ("theme ", ())),
    ("zz", ("zz", ())),
    ("run daily_sales ", ("run daily_sales since=", ())),
])
def test_completion_extends_to_what_every_candidate_shares(line: str, expected: tuple[str, tuple[str, ...]]) -> None:
    from flowdeck.console.tui.completion import complete

    def arguments(verb: str, before: list[str]) -> list[str]:
        if verb == "runs":
            return ["failed", "running", "daily_sales"]
        return ["since="] if verb == "run" and before else []

    done = complete(line, ["run", "runs", "theme", "rerun"], arguments)
    assert (done.line, done.candidates) == expected


def test_every_action_has_a_plain_key_path_besides_ctrl_and_function_keys() -> None:
    from flowdeck.console.tui.actions import plain_path

    missing = [spec.id for spec in ACTIONS if not plain_path(spec)]
    assert not missing, f"reachable only by ctrl or F-keys (GNU screen takes ^a, terminals F1/F10): {missing}"
