"""Runs asked for over HTTP: ``POST /runs`` queues one as the token's holder, ``GET /runs/{id}`` reads one.

``POST /runs`` takes ``{"pipeline": ..., "params": {...}, "request_id": ..., "select": ..., "exclude": ...,
"env": ...}`` (``select``/``exclude``: selection expressions, as `flowdeck run --select/--exclude` takes;
``env``: the environment it writes, as `flowdeck run --env` takes, default prod) with a token of
``daemon.http.tokens`` whose role may run; the front door's submit (handed in, so a request is
role-checked and audited as ``token:<name>`` from ``http``, exactly like a CLI run) validates and
queues it, and the daemon's worker pool picks it up. A repeated ``request_id`` returns the run
the first request started in the same environment (200) instead of a new one (201). This module turns requests into
calls and answers; the HTTP server (``http.py``) only moves bytes, and calls these in threads of
its own (never on its event loop), on the daemon's HTTP ledger connection.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flowdeck.engine.daemon.http_auth import TokenHolder
from flowdeck.engine.errors import FlowdeckError, Forbidden, NotFound
from flowdeck.engine.governance.roles import Identity
from flowdeck.state import Ledger, RunRecord

MAX_BODY_BYTES = 64 * 1024
MAX_REQUEST_ID = 200  # it becomes part of the run's trigger key, stored and shown
MAX_SELECTION = 2000  # stored in the run's options and shown
RUN_PATH = re.compile(r"^/runs/(?P<run_id>[A-Za-z0-9_-]{1,64})$")
MAX_ENVIRONMENT = 64  # an identifier (Project.in_environment checks it): a longer one is no environment
FIELDS = ("pipeline", "params", "request_id", "select", "exclude", "env")


@dataclass(frozen=True)
class RunRequest:
    """What a ``POST /runs`` body asks for, read and checked for shape (submit checks the rest)."""

    pipeline: str
    params: dict[str, str] = field(default_factory=dict)
    request_id: str | None = None
    select: str | None = None
    exclude: str | None = None
    environment: str = "prod"  # checked by the one gate of environment names (Project.in_environment) in submit


# the front door's submit, for one identity: (identity, request) -> (run, created)
SubmitAs = Callable[[Identity, RunRequest], tuple[RunRecord, bool]]
Answer = tuple[int, dict[str, Any]]


def identity_of(holder: TokenHolder) -> Identity:
    """Who a token's requests act as: ``token:<name>``, with the token's role."""
    return Identity(user=f"token:{holder.name}", role=holder.role)


class HttpRuns:
    """``POST /runs`` and ``GET /runs/{id}`` of one daemon."""

    def __init__(self, ledger: Ledger, submit_as: SubmitAs) -> None:
        self.ledger = ledger
        self.submit_as = submit_as

    def post(self, holder: TokenHolder | None, body: bytes) -> Answer:
        """Queue the run a request asks for, as ``holder``; the status code and the JSON answer."""
        if holder is None:
            return 401, _error("POST /runs needs a token: send Authorization: Bearer <token>",
                               "a token of daemon.http.tokens whose role may run (docs/daemon.md)")
        if holder.role is None:
            return 403, _error("daemon.http.token reads the endpoints but carries no role, so it cannot run pipelines",
                               "use a token of daemon.http.tokens with role operator or admin")
        try:
            asked = parse_request(body)
        except ValueError as problem:
            return 400, _error(str(problem), 'send {"pipeline": "NAME", "params": {"NAME": "VALUE"}, '
                                             '"request_id": "ID"} as JSON, and "select"/"exclude"/"env" if you like')
        try:  # the front door checks the token's role (a viewer is refused) and audits the request either way
            record, created = self.submit_as(identity_of(holder), asked)
        except Forbidden as refused:
            return 403, _error(refused.what, refused.hint)
        except NotFound as missing:
            return 404, _error(missing.what, missing.hint)
        except FlowdeckError as problem:  # invalid pipeline, bad parameters, no environment name: nothing was queued
            return 400, _error(problem.what, problem.hint)
        return (201 if created else 200), {**describe(record), "created": created}

    def get(self, path: str) -> Answer:
        """``GET /runs/{id}`` (any path under /runs/): the run and its steps; 404 for an unknown run."""
        match = RUN_PATH.match(path)
        record = self.ledger.get_run(match["run_id"]) if match is not None else None
        if record is None:
            return 404, _error(f"no run {path.removeprefix('/runs/')[:64]!r}",
                               "POST /runs answers with the run_id to ask for")
        return 200, {**describe(record), "steps": [step.to_json() for step in self.ledger.steps_of(record.run_id)]}


def parse_request(body: bytes) -> RunRequest:
    """The run a request body asks for; ValueError saying what is wrong."""
    if len(body) > MAX_BODY_BYTES:
        raise ValueError(f"the request body is larger than {MAX_BODY_BYTES // 1024} KiB")
    try:
        document = json.loads(body or b"null")
    except ValueError as error:
        raise ValueError(f"the request body is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise ValueError("the request body must be a JSON object")
    unknown = sorted(set(document) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}: the fields are {', '.join(FIELDS[:-1])} and {FIELDS[-1]}")
    pipeline = document.get("pipeline")
    if not isinstance(pipeline, str) or not pipeline:
        raise ValueError("`pipeline` must be the name of a pipeline")
    params = document.get("params") or {}
    if not isinstance(params, dict) or not all(isinstance(value, (str, int, float, bool)) for value in params.values()):
        raise ValueError("`params` must be an object of names to strings, numbers or booleans")
    request_id = document.get("request_id")
    if request_id is not None and (not isinstance(request_id, str) or not request_id.strip()
                                   or len(request_id) > MAX_REQUEST_ID or not request_id.isprintable()):
        raise ValueError(f"`request_id` must be a non-empty string of at most {MAX_REQUEST_ID} printable "
                         "characters, unique to this request")
    selection = {key: document.get(key) for key in ("select", "exclude")}
    for key, value in selection.items():  # their grammar is checked by submit, against the pipeline's steps
        if value is not None and (not isinstance(value, str) or len(value) > MAX_SELECTION or not value.isprintable()):
            raise ValueError(f"`{key}` must be a selection expression (a string of at most {MAX_SELECTION} "
                             "printable characters), such as \"orders_clean+\" or \"tag:daily\"")
    environment = document.get("env", "prod")
    if not isinstance(environment, str) or not environment or len(environment) > MAX_ENVIRONMENT:
        raise ValueError("`env` must be the name of an environment (prod, or a development one such as \"dev\")")
    # parameters arrive as the CLI's do, as text, and are checked against their declared types by submit
    text = {str(name): (str(value).lower() if isinstance(value, bool) else str(value)) for name, value in params.items()}
    return RunRequest(pipeline, text, request_id, select=selection["select"], exclude=selection["exclude"],
                      environment=environment)


def describe(record: RunRecord) -> dict[str, Any]:
    """What POST and GET answer about a run: its documented JSON and where to ask for it again."""
    return {**record.to_json(), "url": f"/runs/{record.run_id}"}


def _error(what: str, hint: str | None) -> dict[str, Any]:
    return {"error": what, "hint": hint}
