"""Who may talk to the daemon's HTTP endpoint: the address allowlist (daemon.http.allow), checked
before any token, against a real daemon bound to 127.0.0.2 and clients connecting from other
loopback addresses."""

from __future__ import annotations

import http.client
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from daemonkit import Daemon, make_project, write

pytestmark = pytest.mark.slow

TOKEN = "daemon-http-token-8675309"


def request(address: str, method: str, path: str, *, source: str = "127.0.0.1", token: str | None = None,
            body: object = None, content_type: list[str] | None = None) -> tuple[int, bytes]:
    """One request from the loopback address ``source``; (status, body). A ``bytes`` body is sent as it
    is, anything else as JSON; ``content_type`` receives the answer's Content-Type."""
    host, port = address.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=30, source_address=(source, 0))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    payload = None
    if body is not None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        if content_type is not None:
            content_type.append(response.getheader("Content-Type") or "")
        return response.status, response.read()
    finally:
        connection.close()


def allowlisted_project(root: Path, allow: list[str], *, token: bool) -> Path:
    make_project(root)
    token_line = "\n    token: ${env:DAEMON_HTTP_TOKEN}" if token else ""
    write(root / "flowdeck.yaml", (root / "flowdeck.yaml").read_text().replace(
        "  http: {port: 0}\n", f"  http:\n    host: 127.0.0.2\n    port: 0\n    allow: {json.dumps(allow)}{token_line}\n"))
    return root


def test_an_address_outside_the_allowlist_gets_403_before_its_token_is_looked_at(tmp_path: Path) -> None:
    project = allowlisted_project(tmp_path / "project", ["127.0.0.3/32", "10.20.0.0/16"], token=True)
    daemon = Daemon(project, env={"DAEMON_HTTP_TOKEN": TOKEN})
    try:
        address = daemon.address()
        assert address.startswith("http://127.0.0.2:")
        # from 127.0.0.1: refused whatever it sends, the open /healthz included
        assert request(address, "GET", "/healthz")[0] == 403
        assert request(address, "GET", "/status", token=TOKEN)[0] == 403
        assert request(address, "GET", "/metrics", token="wrong")[0] == 403
        # from 127.0.0.3, in the list: the token rule as usual
        assert request(address, "GET", "/healthz", source="127.0.0.3")[0] == 200
        assert request(address, "GET", "/status", source="127.0.0.3")[0] == 401
        assert request(address, "GET", "/status", source="127.0.0.3", token=TOKEN)[0] == 200
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()


def test_an_allowlist_entry_that_is_not_a_network_is_a_config_error_naming_it(tmp_path: Path) -> None:
    from daemonkit import flowdeck

    project = allowlisted_project(tmp_path / "project", ["10.20.0.0/16", "10.20.0.0/33"], token=False)
    result = flowdeck(project, "validate")
    assert result.returncode != 0
    assert "daemon.http.allow" in result.stdout + result.stderr
    assert "'10.20.0.0/33' is not an address or a network" in result.stdout + result.stderr


OPERATOR_TOKEN = "ci-runs-token-2236067977"
VIEWER_TOKEN = "readers-token-1732050807"
TOKENS_ENV = {"DAEMON_HTTP_TOKEN": TOKEN, "CI_RUNS_TOKEN": OPERATOR_TOKEN, "READERS_TOKEN": VIEWER_TOKEN}


def runs_project(root: Path, *, allow: list[str] | None = None) -> Path:
    """A project whose daemon (on 127.0.0.2) knows a read token and two named tokens; a pipeline with an
    integer parameter, so that a run shows which parameters it was given."""
    make_project(root)
    allow_line = f"\n    allow: {json.dumps(allow)}" if allow is not None else ""
    write(root / "flowdeck.yaml", (root / "flowdeck.yaml").read_text().replace("  http: {port: 0}\n", f"""  http:
    host: 127.0.0.2
    port: 0
    token: ${{env:DAEMON_HTTP_TOKEN}}{allow_line}
    tokens:
      ci: {{token: "${{env:CI_RUNS_TOKEN}}", role: operator}}
      readers: {{token: "${{env:READERS_TOKEN}}", role: viewer}}
"""))
    write(root / "pipelines" / "counted" / "pipeline.yaml", """
        params:
          above: {type: integer, default: 0}
        steps:
          - name: counted_raw
            kind: extract
            source: {path: data/numbers.csv}
          - name: counted_total
            kind: transform
            sql: total.sql
        """)
    write(root / "pipelines" / "counted" / "total.sql", "SELECT count(*) AS rows_seen FROM counted_raw WHERE n > $above\n")
    return root


def audit_entries(root: Path) -> list[tuple[str, str, str, str]]:
    from daemonkit import query

    return [tuple(row) for row in query(root, "SELECT actor, source, action, outcome FROM audit_log WHERE action = 'run' "
                                              "ORDER BY entry_id")]


def test_post_runs_queues_a_run_as_the_token_and_a_repeated_request_id_returns_the_first(tmp_path: Path) -> None:
    from daemonkit import query, runs, wait_for

    project = runs_project(tmp_path / "project")
    daemon = Daemon(project, env=TOKENS_ENV)
    try:
        address = daemon.address()
        ask = {"pipeline": "counted", "params": {"above": 40}, "request_id": "deploy-4711"}
        # no token, the read-only token, a viewer's: refused, nothing queued
        assert request(address, "POST", "/runs", body=ask)[0] == 401
        code, body = request(address, "POST", "/runs", body=ask, token=TOKEN)
        assert code == 403 and "carries no role" in json.loads(body)["error"]
        code, body = request(address, "POST", "/runs", body=ask, token=VIEWER_TOKEN)
        assert code == 403 and "token:readers is a viewer" in json.loads(body)["error"]
        assert runs(project) == []

        code, body = request(address, "POST", "/runs", body=ask, token=OPERATOR_TOKEN)
        assert code == 201, body
        first = json.loads(body)
        assert (first["pipeline"], first["params"], first["requested_by"], first["created"]) == \
            ("counted", {"above": "40"}, "token:ci", True)
        code, body = request(address, "POST", "/runs", body=ask, token=OPERATOR_TOKEN)  # the same request again
        assert code == 200 and json.loads(body)["run_id"] == first["run_id"] and not json.loads(body)["created"]

        run_url = first["url"]
        finished = wait_for(lambda: (lambda r: r if r[0] == 200 and json.loads(r[1])["status"] == "succeeded" else None)(
            request(address, "GET", run_url, token=VIEWER_TOKEN)), 120, what="the run to succeed", alive=daemon.process)
        run = json.loads(finished[1])
        assert [step["step"] for step in run["steps"]] == ["counted_raw", "counted_total"]
        assert request(address, "GET", run_url)[0] == 401  # reading needs a token too (daemon.http.token is set)
        assert request(address, "GET", "/runs/20991231-000000-ffffff", token=TOKEN)[0] == 404
        # the parameter reached the SQL: 10 numbers of 1..50 are above 40
        assert query(project, "SELECT rows_out FROM steps WHERE run_id = ? AND step = 'counted_total'",
                     (first["run_id"],)) == [(1,)]
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
    assert [run["run_id"] for run in runs(project)] == [first["run_id"]]
    assert audit_entries(project) == [("token:readers", "http", "run", "denied"), ("token:ci", "http", "run", "ok"),
                                      ("token:ci", "http", "run", "ok")]


def test_post_runs_with_a_selection_runs_only_the_selected_steps(tmp_path: Path) -> None:
    from daemonkit import wait_for

    project = runs_project(tmp_path / "project")
    daemon = Daemon(project, env=TOKENS_ENV)
    try:
        address = daemon.address()
        code, body = request(address, "POST", "/runs", token=OPERATOR_TOKEN,
                             body={"pipeline": "counted", "select": "+counted_total", "exclude": "counted_total"})
        assert code == 201, body
        asked = json.loads(body)
        assert asked["options"]["selected_steps"] == ["counted_raw"]
        finished = wait_for(lambda: (lambda r: r if json.loads(r[1])["status"] == "succeeded" else None)(
            request(address, "GET", asked["url"], token=TOKEN)), 120, what="the run to succeed", alive=daemon.process)
        assert [step["step"] for step in json.loads(finished[1])["steps"]] == ["counted_raw"]
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()


def test_post_runs_says_what_is_wrong_with_a_request_and_queues_nothing(tmp_path: Path) -> None:
    from daemonkit import runs

    project = runs_project(tmp_path / "project")
    daemon = Daemon(project, env=TOKENS_ENV)
    try:
        address = daemon.address()

        def post(body: object) -> tuple[int, dict[str, str]]:
            kind: list[str] = []
            code, answer = request(address, "POST", "/runs", body=body, token=OPERATOR_TOKEN, content_type=kind)
            assert kind == ["application/json"], (code, answer)  # every refusal is a plain JSON error
            document = json.loads(answer)
            assert set(document) == {"error", "hint"} and "Traceback" not in document["error"], document
            return code, document

        code, answer = post({"pipeline": "countd"})
        assert code == 404 and "counted" in (answer["hint"] or "")  # did you mean
        # names that would be paths never reach the file system: the one gate of pipeline names
        for hostile in ("../x", "../../etc/passwd", "/etc", "counted/../counted", "counted\x00"):
            code, answer = post({"pipeline": hostile})
            assert code == 404 and "is not a pipeline name" in answer["error"], (hostile, answer)
        code, answer = post({"pipeline": "counted", "params": {"../above": "1"}})
        assert code == 400 and "has no parameter `../above`" in answer["error"]
        code, answer = post({"pipeline": "counted", "params": {"above": {"$gt": 1}}})
        assert code == 400 and "`params` must be an object" in answer["error"]
        code, answer = post(b"pipeline=counted")
        assert code == 400 and "not JSON" in answer["error"]
        code, answer = post(["counted"])
        assert code == 400 and "must be a JSON object" in answer["error"]
        code, answer = post({"pipeline": "counted", "request_id": "r" * 201})
        assert code == 400 and "at most 200" in answer["error"]
        code, answer = post({"pipeline": "counted", "params": {"above": "many"}})
        assert code == 400 and "above" in answer["error"]
        code, answer = post({"pipeline": "counted", "param": {}})
        assert code == 400 and "unknown field(s) param" in answer["error"]
        code, answer = post({"pipeline": "counted", "request_id": ""})
        assert code == 400 and "request_id" in answer["error"]
        code, answer = post({"pipeline": "counted", "select": "counted_totl+"})  # a selection, checked by submit
        assert code == 400 and "has no step `counted_totl`" in answer["error"] and "`counted_total`" in answer["hint"]
        code, answer = post({"pipeline": "counted", "exclude": 3})
        assert code == 400 and "`exclude` must be a selection expression" in answer["error"]
        assert request(address, "POST", "/status", token=OPERATOR_TOKEN)[0] == 404
        # bodies the endpoint will not read: too large, chunked, a length that is not one; each a JSON error
        ask = json.dumps({"pipeline": "counted", "request_id": "x" * 70_000}).encode()
        code, answer = post(ask)
        assert code == 413 and "larger than 64 KiB" in answer["error"]
        for head in (b"Transfer-Encoding: chunked\r\n", b"Content-Length: -5\r\n", b"Content-Length: many\r\n"):
            status, raw = raw_post(address, head, b"")
            assert status == 400 and "Content-Length" in json.loads(raw)["error"], (head, raw)
        # a body that stalls halfway is dropped without an answer once the request's time is up
        stalled = raw_connection(address)
        stalled.sendall(b"POST /runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + OPERATOR_TOKEN.encode()
                        + b"\r\nContent-Length: 100\r\n\r\n" + b'{"pipeline": "coun')
        began = time.monotonic()
        assert request(address, "GET", "/healthz")[0] == 200  # meanwhile the endpoint answers others
        assert stalled.recv(1024) == b"" and time.monotonic() - began < 15
        stalled.close()
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
    assert runs(project) == []


def raw_connection(address: str) -> socket.socket:
    host, port = address.removeprefix("http://").rsplit(":", 1)
    connection = socket.create_connection((host, int(port)), timeout=20, source_address=("127.0.0.1", 0))
    return connection


def raw_post(address: str, extra_headers: bytes, body: bytes) -> tuple[int, bytes]:
    """POST /runs with the operator's token, written by hand (headers http.client would not send); (status, body)."""
    connection = raw_connection(address)
    try:
        connection.sendall(b"POST /runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + OPERATOR_TOKEN.encode()
                           + b"\r\n" + extra_headers + b"\r\n" + body)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    finally:
        connection.close()
    head, _, content = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), content


def test_post_runs_from_an_address_outside_the_allowlist_is_refused_before_its_token(tmp_path: Path) -> None:
    from daemonkit import runs

    project = runs_project(tmp_path / "project", allow=["127.0.0.3/32"])
    daemon = Daemon(project, env=TOKENS_ENV)
    try:
        address = daemon.address()
        ask = {"pipeline": "counted", "request_id": "from-afar"}
        code, body = request(address, "POST", "/runs", body=ask, token=OPERATOR_TOKEN)
        assert code == 403 and b"this address may not connect" in body
        assert request(address, "POST", "/runs", body=ask, token=OPERATOR_TOKEN, source="127.0.0.3")[0] == 201
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
    assert len(runs(project)) == 1
    assert audit_entries(project) == [("token:ci", "http", "run", "ok")]  # the refused request reached nothing


def test_concurrent_retries_of_one_request_start_one_run(tmp_path: Path) -> None:
    """A client that times out and retries while its first POST is still being answered: the ledger's
    trigger key makes every copy of the request the same run, whichever thread gets there first."""
    from concurrent.futures import ThreadPoolExecutor

    from daemonkit import runs

    project = runs_project(tmp_path / "project")
    daemon = Daemon(project, env=TOKENS_ENV)
    try:
        address = daemon.address()
        ask = {"pipeline": "counted", "params": {"above": 7}, "request_id": "nightly-retry-9"}
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda _: request(address, "POST", "/runs", body=ask, token=OPERATOR_TOKEN),
                                    range(8)))
        codes = sorted(code for code, _ in answers)
        assert codes == [200] * 7 + [201], answers
        assert len({json.loads(body)["run_id"] for _, body in answers}) == 1
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
    assert len(runs(project)) == 1


def test_post_runs_with_env_runs_in_that_environment_and_refuses_a_name_that_is_a_path(tmp_path: Path) -> None:
    """``env`` asks for an environment as `flowdeck run --env` does: the run writes dev's own warehouse, a
    name that is not an identifier is a 400 saying so (nothing queued, no folder made), a viewer is
    refused as for prod, and one request id is one run per environment, never the other's."""
    from daemonkit import runs, wait_for

    project = runs_project(tmp_path / "project")
    daemon = Daemon(project, env=TOKENS_ENV)
    try:
        address = daemon.address()

        def post(body: object, token: str = OPERATOR_TOKEN) -> tuple[int, dict[str, Any]]:
            code, answer = request(address, "POST", "/runs", body=body, token=token)
            return code, json.loads(answer)

        for hostile in ("../prod", "../../etc", "/tmp/x", "dev/../prod", "dev\x00", "", 7, None, ["dev"]):
            code, answer = post({"pipeline": "counted", "env": hostile})
            assert code == 400, (hostile, answer)
            assert ("is not an environment name" in answer["error"] or "`env` must be the name of an environment"
                    in answer["error"]), (hostile, answer)
            assert "Traceback" not in answer["error"]
        code, answer = post({"pipeline": "counted", "env": "../prod"})
        assert answer["error"].startswith("`../prod` is not an environment name") and "not a path" in answer["error"]
        code, answer = post({"pipeline": "counted", "env": "dev"}, token=VIEWER_TOKEN)  # the CLI's role rule
        assert code == 403 and "token:readers is a viewer" in answer["error"]
        assert runs(project) == [] and not (project / ".flowdeck" / "envs").exists()

        ask = {"pipeline": "counted", "params": {"above": 40}, "request_id": "deploy-99"}
        code, in_dev = post({**ask, "env": "dev"})
        assert code == 201 and in_dev["environment"] == "dev", in_dev
        code, in_prod = post(ask)  # the same request id, for prod: a run of its own, not dev's
        assert code == 201 and in_prod["environment"] == "prod" and in_prod["run_id"] != in_dev["run_id"]
        code, again = post({**ask, "env": "dev"})
        assert code == 200 and again["run_id"] == in_dev["run_id"] and not again["created"]
        code, again = post({**ask, "env": "prod"})
        assert code == 200 and again["run_id"] == in_prod["run_id"]

        for run in (in_dev, in_prod):
            wait_for(lambda run=run: (lambda r: r if json.loads(r[1])["status"] == "succeeded" else None)(
                request(address, "GET", run["url"], token=TOKEN)), 120, what="the runs to succeed", alive=daemon.process)
        assert daemon.terminate() == 0
    finally:
        daemon.stop_quietly()
    by_id = {run["run_id"]: run for run in runs(project)}
    assert set(by_id) == {in_dev["run_id"], in_prod["run_id"]}
    assert (by_id[in_dev["run_id"]]["environment"], by_id[in_dev["run_id"]]["trigger_key"]) == \
        ("dev", "manual:counted@dev:deploy-99")
    assert (by_id[in_prod["run_id"]]["environment"], by_id[in_prod["run_id"]]["trigger_key"]) == \
        ("prod", "manual:counted:deploy-99")
    assert (project / ".flowdeck" / "envs" / "dev" / "warehouse.duckdb").is_file()  # dev wrote its own file
    assert audit_entries(project)[0] == ("token:readers", "http", "run", "denied")
