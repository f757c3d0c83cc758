"""The same request starts one run: a manual request id, a schedule slot, a file's content."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from flowdeck.engine.workspace import Workspace
from flowdeck.engine.run.trigger_keys import after_key, batch_key, file_key, schedule_key
from tests.conftest import clean_env
from tests.rerun.helpers import flowdeck, ledger_rows, sha256_file, write_csv


def test_same_request_id_twice_starts_one_run(project: Path) -> None:
    first = flowdeck(project, "run", "daily_sales", "--request-id", "nightly-42")
    second = flowdeck(project, "run", "daily_sales", "--request-id", "nightly-42")
    assert first.returncode == 0 and second.returncode == 0
    runs = ledger_rows(project, "SELECT run_id, trigger_key FROM runs")
    assert len(runs) == 1 and runs[0][1] == "manual:daily_sales:nightly-42"
    assert f"run {runs[0][0]} was already started for this request (succeeded)" in second.stderr


def test_different_request_ids_start_different_runs(project: Path) -> None:
    for request in ("a", "b"):
        assert flowdeck(project, "run", "daily_sales", "--request-id", request).returncode == 0
    assert ledger_rows(project, "SELECT count(*) FROM runs") == [(2,)]


def test_concurrent_requests_with_one_id_from_several_processes_make_one_run(project: Path) -> None:
    script = (
        "import sys; from flowdeck.engine.workspace import Workspace\n"
        "ws = Workspace.open(sys.argv[1]); run, new = ws.submit('daily_sales', request_id='same')\n"
        "print(run.run_id, new)\n"
    )
    children = [subprocess.Popen([sys.executable, "-c", script, str(project)], stdout=subprocess.PIPE, text=True,
                                 env=clean_env()) for _ in range(4)]
    answers = [child.communicate(timeout=60)[0].split() for child in children]
    assert len({run_id for run_id, _ in answers}) == 1
    assert sorted(new for _, new in answers) == ["False", "False", "False", "True"]
    assert ledger_rows(project, "SELECT count(*) FROM runs") == [(1,)]


def test_a_schedule_slot_fired_twice_queues_one_run(workspace: Workspace) -> None:
    slot = datetime(2026, 11, 27, 6, 0, tzinfo=timezone(timedelta(hours=1))).timestamp()
    first, created = workspace.submit("daily_sales", trigger_kind="schedule", trigger_key=schedule_key("daily_sales", slot))
    again, created_again = workspace.submit("daily_sales", trigger_kind="schedule",
                                            trigger_key=schedule_key("daily_sales", slot))
    assert created and not created_again and again.run_id == first.run_id
    assert first.trigger_key == "schedule:daily_sales:2026-11-27T05:00:00.000Z"


def test_the_same_file_content_under_two_names_queues_one_run(workspace: Workspace, project: Path) -> None:
    one = write_csv(project / "landing" / "orders" / "a.csv", ["order_id"], [[1], [2]])
    two = write_csv(project / "landing" / "orders" / "b.csv", ["order_id"], [[1], [2]])
    keys = [file_key("ingest_orders", sha256_file(path)) for path in (one, two)]
    runs = [workspace.submit("ingest_orders", trigger_kind="file", trigger_key=key) for key in keys]
    assert runs[0][1] and not runs[1][1] and runs[0][0].run_id == runs[1][0].run_id


def test_a_run_id_drawn_twice_in_one_second_is_drawn_again(workspace: Workspace, monkeypatch) -> None:
    import flowdeck.state.ledger as ledger_module
    draws = iter(["abcdef", "abcdef", "abcdef", "123456"])
    monkeypatch.setattr(ledger_module.secrets, "token_hex", lambda _: next(draws))
    monkeypatch.setattr(ledger_module.time, "time", lambda: 1_800_000_000.0)
    first = workspace.submit("daily_sales")[0]
    second = workspace.submit("daily_sales")[0]
    assert first.run_id.endswith("abcdef") and second.run_id.endswith("123456")


def test_a_trigger_of_dev_and_one_of_prod_firing_for_the_same_slot_file_or_publish_are_two_runs(
        workspace: Workspace) -> None:
    slot = datetime(2026, 11, 27, 6, 0, tzinfo=timezone.utc).timestamp()
    cases = [("schedule", lambda environment: schedule_key("daily_sales", slot, environment)),
             ("file", lambda environment: file_key("daily_sales", "ab" * 32, environment)),
             ("file", lambda environment: batch_key("daily_sales", ["ab" * 32, "cd" * 32], environment)),
             ("after", lambda environment: after_key("daily_sales", {"ingest_orders": "r1"}, environment))]
    for kind, key in cases:
        prod, prod_created = workspace.submit("daily_sales", trigger_kind=kind, trigger_key=key("prod"))
        dev, dev_created = workspace.submit("daily_sales", trigger_kind=kind, trigger_key=key("dev"), environment="dev")
        again, again_created = workspace.submit("daily_sales", trigger_kind=kind, trigger_key=key("dev"),
                                                environment="dev")
        assert prod_created and dev_created and not again_created, kind
        assert (prod.environment, dev.environment) == ("prod", "dev")
        assert again.run_id == dev.run_id != prod.run_id
        assert "@" not in prod.trigger_key and dev.trigger_key.split(":")[1] == "daily_sales@dev"
