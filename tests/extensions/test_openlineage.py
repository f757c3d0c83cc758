"""OpenLineage: every run sends START, then COMPLETE, FAIL or ABORT, for the pipeline and each
step (a child job), with datasets, schemas and column lineage; events wait in the ledger's
outbox while the catalog is down. Real runs of the CLI, a real HTTP receiver on 127.0.0.1, and
every event checked against the OpenLineage specification as the pinned client holds it
(tests/extensions/openlineage_spec.py)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import clean_env, ledger_rows, run_flowdeck
from tests.extensions.openlineage_spec import assert_valid


class Catalog:
    """An OpenLineage HTTP endpoint on 127.0.0.1 that keeps what it is sent (201), or answers ``answer``
    when it is set to something else (503: down; 400: refused)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.bodies: list[str] = []  # every request as received (a secret would show here)
        self.authorizations: set[str] = set()
        self.answer = 201
        catalog = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                catalog.bodies.append(body.decode())
                catalog.authorizations.add(self.headers.get("Authorization", ""))
                if catalog.answer != 201:
                    self.send_response(catalog.answer)
                else:
                    catalog.events.append(json.loads(body))
                    catalog.paths.append(self.path)
                    self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def of(self, job: str) -> list[str]:
        """The event types the catalog received for ``job``, in order."""
        return [event["eventType"] for event in self.events if event["job"]["name"] == job]


@pytest.fixture
def catalog(project: Path) -> Any:
    """A catalog on 127.0.0.1 and the example project sending it its lineage."""
    receiver = Catalog()
    config = project / "flowdeck.yaml"
    config.write_text(config.read_text() + f"\nlineage:\n  openlineage:\n    url: {receiver.url}\n    namespace: shop\n")
    yield receiver
    receiver.close()


def test_a_run_sends_start_and_complete_for_the_pipeline_and_each_step(project: Path, catalog: Catalog) -> None:
    assert run_flowdeck("run", "daily_sales", project=project).returncode == 0
    assert catalog.events and set(catalog.paths) == {"/api/v1/lineage"}
    for event in catalog.events:
        assert_valid(event)
    assert catalog.of("example-shop.daily_sales") == ["START", "COMPLETE"]
    steps = {event["job"]["name"] for event in catalog.events} - {"example-shop.daily_sales"}
    assert steps == {f"example-shop.daily_sales.{step}" for step in (
        "raw_orders", "raw_customers", "raw_products", "orders_clean", "sales", "daily_sales",
        "check_orders_reference_customers", "export_daily_sales")}
    parent_run = catalog.events[0]["run"]["runId"]
    for event in catalog.events[1:-1]:
        assert event["run"]["facets"]["parent"]["run"]["runId"] == parent_run
        assert event["job"]["namespace"] == "shop"
    assert all(sum(1 for e in catalog.events if e["job"]["name"] == job) == 2 for job in steps)


def test_outputs_carry_their_schema_and_the_column_lineage_of_the_sql(project: Path, catalog: Catalog) -> None:
    assert run_flowdeck("run", "daily_sales", project=project).returncode == 0
    done = next(e for e in catalog.events if e["job"]["name"].endswith(".orders_clean") and e["eventType"] == "COMPLETE")
    assert [(d["name"], d["namespace"].startswith("duckdb://")) for d in done["inputs"]] == [("raw_orders", True)]
    output = done["outputs"][0]
    assert output["name"] == "orders_clean"
    assert {field["name"] for field in output["facets"]["schema"]["fields"]} >= {"order_id", "customer_id", "order_date"}
    fields = output["facets"]["columnLineage"]["fields"]
    assert [(f["name"], f["field"]) for f in fields["order_id"]["inputFields"]] == [("raw_orders", "order_id")]
    export = next(e for e in catalog.events if e["job"]["name"].endswith(".export_daily_sales"))
    assert export["outputs"][0]["namespace"] == "file" and export["outputs"][0]["name"].endswith("daily_sales.parquet")


def test_a_failed_run_sends_fail_with_the_error(project: Path, catalog: Catalog) -> None:
    (project / "pipelines" / "daily_sales" / "daily_sales.sql").write_text("SELECT no_such_column FROM sales\n")
    assert run_flowdeck("run", "daily_sales", project=project).returncode == 1
    for event in catalog.events:
        assert_valid(event)
    assert catalog.of("example-shop.daily_sales") == ["START", "FAIL"]
    assert catalog.of("example-shop.daily_sales.daily_sales") == ["START", "FAIL"]
    failed = [e for e in catalog.events if e["eventType"] == "FAIL"]
    assert all("no_such_column" in e["run"]["facets"]["errorMessage"]["message"] for e in failed)


def test_a_canceled_run_sends_abort(project: Path, catalog: Catalog) -> None:
    import subprocess
    import time

    from tests.conftest import FLOWDECK

    folder = project / "pipelines" / "slow"
    folder.mkdir()
    (folder / "pipeline.yaml").write_text("steps:\n  - {name: waits, kind: python, function: slow:waits}\n"
                                          "  - {name: after, kind: python, function: slow:after, inputs: [waits]}\n")
    (folder / "slow.py").write_text("import time\nimport pyarrow as pa\n\n\ndef waits():\n    time.sleep(4)\n"
                                    "    return pa.table({'x': [1]})\n\n\ndef after(waits):\n    return waits\n")
    running = subprocess.Popen([str(FLOWDECK), "--project", str(project), "run", "slow"], env=clean_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        rows: list[dict[str, Any]] = []
        for _ in range(300):
            try:
                rows = ledger_rows(project, "SELECT run_id FROM steps WHERE step = 'waits' AND status = 'running'")
            except Exception:  # noqa: BLE001 - the ledger is not there, or not migrated yet
                rows = []
            if rows:
                break
            time.sleep(0.05)
        assert rows, "the run never started its first step"
        assert run_flowdeck("cancel", rows[0]["run_id"], project=project).returncode == 0
        running.wait(timeout=60)
    finally:
        running.kill()
    assert catalog.of("example-shop.slow") == ["START", "ABORT"]
    for event in catalog.events:
        assert_valid(event)


def test_events_wait_in_the_outbox_while_the_catalog_is_down(project: Path, catalog: Catalog) -> None:
    catalog.answer = 503
    assert run_flowdeck("run", "daily_sales", project=project).returncode == 0  # a catalog down fails no run
    assert catalog.events == []
    waiting = ledger_rows(project, "SELECT state, attempts, last_error FROM lineage_outbox ORDER BY id")
    assert len(waiting) == 18 and {row["state"] for row in waiting} == {"pending"}
    assert "503" in waiting[0]["last_error"]
    catalog.answer = 201
    assert _deliver_now(project) == 18
    assert len(catalog.events) == 18
    assert catalog.of("example-shop.daily_sales") == ["START", "COMPLETE"]  # in the order they happened
    assert {row["state"] for row in ledger_rows(project, "SELECT state FROM lineage_outbox")} == {"sent"}


def test_the_daemons_sender_delivers_what_waited_once_the_catalog_is_back(project: Path, catalog: Catalog) -> None:
    import time

    from flowdeck.engine.alerts.sender import SenderThread
    from flowdeck.engine.workspace import Workspace

    catalog.answer = 503
    assert run_flowdeck("run", "daily_sales", project=project).returncode == 0
    catalog.answer = 201
    workspace = Workspace.open(project, source="daemon")
    sender = SenderThread(workspace.project, workspace.ledger, poll_seconds=0.1)
    sender.start()
    try:
        deadline = time.monotonic() + 60
        while len(catalog.events) < 18 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        sender.stop()
        workspace.close()
    assert len(catalog.events) == 18 and sender.last_error is None
    assert catalog.of("example-shop.daily_sales") == ["START", "COMPLETE"]


def test_an_event_the_catalog_refuses_is_given_up_at_once_and_holds_up_nothing(project: Path, catalog: Catalog) -> None:
    catalog.answer = 400
    assert run_flowdeck("run", "daily_sales", project=project).returncode == 0
    rows = ledger_rows(project, "SELECT state, attempts, last_error FROM lineage_outbox ORDER BY id")
    assert len(rows) == 18 and {(row["state"], row["attempts"]) for row in rows} == {("failed", 1)}
    assert all("400" in row["last_error"] for row in rows)
    catalog.answer = 201
    assert _deliver_now(project) == 0  # given up: never sent behind the operator's back


def test_a_run_whose_process_died_gets_its_fail_from_the_next_sender(project: Path, catalog: Catalog) -> None:
    from flowdeck.engine.openlineage.emitter import LineageEmitter
    from flowdeck.engine.openlineage.sender import deliver_lineage
    from flowdeck.engine.workspace import Workspace

    workspace = Workspace.open(project)
    try:
        run, _ = workspace.ledger.create_run("daily_sales", trigger_kind="manual")
        assert workspace.ledger.claim_run(run.run_id)
        LineageEmitter(workspace.project, workspace.ledger).run_started(run.run_id)  # then the process dies
        assert workspace.ledger.finish_run(run.run_id, "abandoned", "its process died")  # as the janitor finds it
        report = deliver_lineage(workspace.project, workspace.ledger)
        assert [event.event_type for event in report.sent] == ["START", "FAIL"]
        assert catalog.of("example-shop.daily_sales") == ["START", "FAIL"]
        assert catalog.events[-1]["run"]["facets"]["errorMessage"]["message"] == "its process died"
        for event in catalog.events:
            assert_valid(event)
        assert deliver_lineage(workspace.project, workspace.ledger).sent == []  # queued once, sent once
    finally:
        workspace.close()


def test_a_dev_run_is_never_reported_as_prods_jobs_or_datasets(project: Path, catalog: Catalog) -> None:
    """A run in environment dev: its jobs in ``shop.dev`` (tagged environment=dev), what it builds in dev's
    warehouse namespace, what it reads from prod (without building it) as prod's dataset."""
    assert run_flowdeck("run", "daily_sales", project=project).returncode == 0
    prod_events = list(catalog.events)
    sql = project / "pipelines/daily_sales/daily_sales.sql"
    sql.write_text(sql.read_text().replace("AS revenue", "AS revenue, 1 AS one", 1))
    assert run_flowdeck("run", "daily_sales", "--env", "dev", project=project).returncode == 0
    dev_events = catalog.events[len(prod_events):]
    prod_warehouse = f"duckdb://{project / '.flowdeck' / 'warehouse.duckdb'}"
    dev_warehouse = f"duckdb://{project / '.flowdeck' / 'envs' / 'dev' / 'warehouse.duckdb'}"
    for event in catalog.events:
        assert_valid(event)
    assert {event["job"]["namespace"] for event in prod_events} == {"shop"}  # prod's events as they were
    assert not any("tags" in event["run"]["facets"] for event in prod_events)
    assert {event["job"]["namespace"] for event in dev_events} == {"shop.dev"}
    assert all(event["run"]["facets"]["tags"]["tags"] == [{"key": "environment", "value": "dev", "source": "FLOWDECK"}]
               for event in dev_events)
    assert [event["job"]["name"] for event in dev_events] == ["example-shop.daily_sales"] + \
        ["example-shop.daily_sales.daily_sales"] * 2 + ["example-shop.daily_sales"]  # only what dev built
    step = dev_events[2]
    assert step["run"]["facets"]["parent"]["job"]["namespace"] == "shop.dev"
    # built in dev: dev's dataset, never prod's; read from prod (sales was not built in dev): prod's dataset
    assert [(d["namespace"], d["name"]) for d in step["outputs"]] == [(dev_warehouse, "daily_sales")]
    assert [(d["namespace"], d["name"]) for d in step["inputs"]] == [(prod_warehouse, "sales")]
    assert {f["namespace"] for fields in step["outputs"][0]["facets"]["columnLineage"]["fields"].values()
            for f in fields["inputFields"]} == {prod_warehouse}
    prod_outputs = {(d["namespace"], d["name"]) for event in prod_events for d in event.get("outputs", [])}
    assert (prod_warehouse, "daily_sales") in prod_outputs and (dev_warehouse, "daily_sales") not in prod_outputs


def test_a_dead_dev_runs_fail_from_the_daemons_sender_is_in_the_environments_namespace(project: Path,
                                                                                        catalog: Catalog) -> None:
    """The sender works on prod's project; the end it queues for an abandoned dev run is still dev's."""
    from flowdeck.engine.openlineage.emitter import LineageEmitter
    from flowdeck.engine.openlineage.sender import deliver_lineage
    from flowdeck.engine.workspace import Workspace

    workspace = Workspace.open(project)
    try:
        run, _ = workspace.ledger.create_run("daily_sales", trigger_kind="manual", environment="dev")
        assert workspace.ledger.claim_run(run.run_id)
        LineageEmitter(workspace.project, workspace.ledger).run_started(run.run_id)  # then the process dies
        assert workspace.ledger.finish_run(run.run_id, "abandoned", "its process died")
        assert [event.event_type for event in deliver_lineage(workspace.project, workspace.ledger).sent] == \
            ["START", "FAIL"]
    finally:
        workspace.close()
    assert [(e["job"]["namespace"], e["eventType"]) for e in catalog.events] == [("shop.dev", "START"),
                                                                                 ("shop.dev", "FAIL")]
    for event in catalog.events:
        assert_valid(event)


def test_a_second_run_and_a_second_delivery_send_nothing_twice(project: Path, catalog: Catalog) -> None:
    assert run_flowdeck("run", "daily_sales", project=project).returncode == 0
    first = len(catalog.events)
    # --force: the second run does the same work (unchanged, its steps would send no step events)
    assert run_flowdeck("run", "daily_sales", "--force", project=project).returncode == 0
    assert _deliver_now(project) == 0  # the runs' ends sent everything; nothing is sent again
    sent = [(event["run"]["runId"], event["job"]["name"], event["eventType"]) for event in catalog.events]
    assert len(sent) == len(set(sent)) and len(sent) >= 2 * 2  # each event of each run once
    assert catalog.of("example-shop.daily_sales") == ["START", "COMPLETE", "START", "COMPLETE"]
    runs = [event["run"]["runId"] for event in catalog.events if event["job"]["name"] == "example-shop.daily_sales"]
    assert runs[0] == runs[1] != runs[2] == runs[3]  # one OpenLineage run a flowdeck run
    assert len(catalog.events) - first == first
    assert {row["state"] for row in ledger_rows(project, "SELECT state FROM lineage_outbox")} == {"sent"}


def test_no_secret_reaches_an_event(project: Path, catalog: Catalog) -> None:
    token, key = "tok-5ecret-value-8841", "catalog-api-key-3317"
    config = project / "flowdeck.yaml"
    config.write_text(config.read_text() + "    api_key: ${secret:CATALOG_KEY}\n")
    folder = project / "pipelines" / "leaky"
    folder.mkdir()
    (folder / "pipeline.yaml").write_text("params:\n  token: {type: string, default: '${secret:LEAK_TOKEN}'}\n"
                                          "steps:\n  - {name: parse, kind: transform, sql: parse.sql}\n")
    (folder / "parse.sql").write_text("SELECT CAST($token AS INTEGER) AS n\n")  # fails, quoting the value
    env = clean_env(FLOWDECK_SECRET_LEAK_TOKEN=token, FLOWDECK_SECRET_CATALOG_KEY=key)
    assert run_flowdeck("run", "leaky", project=project, env=env).returncode == 1
    assert catalog.of("example-shop.leaky.parse") == ["START", "FAIL"]
    failed = next(e for e in catalog.events if e["job"]["name"] == "example-shop.leaky.parse" and e["eventType"] == "FAIL")
    assert "***" in failed["run"]["facets"]["errorMessage"]["message"]  # the error is there, its secret masked
    assert not any(token in body for body in catalog.bodies)
    assert not any(key in body for body in catalog.bodies)
    assert catalog.authorizations == {f"Bearer {key}"}  # the catalog's key goes in a header, never in an event
    outbox = ledger_rows(project, "SELECT payload_json FROM lineage_outbox")
    assert outbox and not any(token in row["payload_json"] for row in outbox)


def test_the_file_transport_appends_one_event_a_line(project: Path) -> None:
    config = project / "flowdeck.yaml"
    config.write_text(config.read_text() + "\nlineage:\n  openlineage:\n    transport: file\n"
                      "    path: lineage/events.jsonl\n")
    assert run_flowdeck("run", "daily_sales", project=project).returncode == 0
    events = [json.loads(line) for line in (project / "lineage" / "events.jsonl").read_text().splitlines()]
    assert len(events) == 18
    for event in events:
        assert_valid(event)
    assert [e["eventType"] for e in events if e["job"]["name"] == "example-shop.daily_sales"] == ["START", "COMPLETE"]


def test_the_console_transport_prints_one_event_a_line_on_stderr(project: Path) -> None:
    config = project / "flowdeck.yaml"
    config.write_text(config.read_text() + "\nlineage:\n  openlineage:\n    transport: console\n")
    result = run_flowdeck("run", "daily_sales", project=project)
    assert result.returncode == 0
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert len(events) == 18 and not any(line.startswith("{") for line in result.stdout.splitlines())
    for event in events:
        assert_valid(event)


def test_validate_refuses_an_http_transport_without_its_url(project: Path) -> None:
    config = project / "flowdeck.yaml"
    config.write_text(config.read_text() + "\nlineage:\n  openlineage:\n    transport: http\n")
    result = run_flowdeck("validate", project=project)
    assert result.returncode == 2 and "Traceback" not in result.output
    assert "flowdeck.yaml:" in result.output and "the http transport needs `url:`" in result.output


def test_without_lineage_configured_the_client_is_never_imported(project: Path) -> None:
    from tests.unit.test_boundaries import _modules_after

    loaded = _modules_after(
        "from flowdeck.console.cli.main import app\n"
        "try:\n"
        f"    app(['--project', {str(project)!r}, 'run', 'daily_sales'])\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
    )
    assert "openlineage" not in {name.split(".")[0] for name in loaded}


def _deliver_now(project: Path) -> int:
    """What the daemon's sender does on its next pass, done now (the events are due after their
    backoff); how many events it sent."""
    import subprocess
    import sys

    script = (
        "from flowdeck.engine.openlineage.sender import deliver_lineage\n"
        "from flowdeck.engine.workspace import Workspace\n"
        f"ws = Workspace.open({str(project)!r})\n"
        "ws.ledger._db.execute(\"UPDATE lineage_outbox SET next_attempt_at = 0 WHERE state = 'pending'\")  # no backoff\n"
        "report = deliver_lineage(ws.project, ws.ledger)\n"
        "assert not report.retrying and not report.given_up, report\n"
        "print(len(report.sent))\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    return int(completed.stdout.strip().splitlines()[-1])
