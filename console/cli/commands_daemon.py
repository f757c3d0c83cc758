"""Commands of headless mode: daemon, status."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from flowdeck.console.cli.app import app, workspace
from flowdeck.console.cli.output import err, out, plain, print_json, status_text

if TYPE_CHECKING:
    from flowdeck.engine.daemon.http_runs import RunRequest, SubmitAs
    from flowdeck.engine.governance.roles import Identity
    from flowdeck.engine.project.project import Project
    from flowdeck.state import RunRecord

EXIT_UNHEALTHY = 1


@app.command()
def daemon(
    ctx: typer.Context,
    port: Annotated[
        Optional[int],
        typer.Option("--port", help="HTTP port on the configured host (default: daemon.http.port in flowdeck.yaml; 0 picks a free one).",
                     show_default=False),
    ] = None,
    log_format: Annotated[
        Optional[str],
        typer.Option("--log-format", help="text, or json: one JSON object a line, for the daemon and its workers "
                     "(default: logging.format in flowdeck.yaml).", show_default=False),
    ] = None,
) -> None:
    """Run schedules, file triggers and queued runs in the foreground until SIGTERM or Ctrl-C.

    Logs to stderr and to .flowdeck/logs/daemon.log (and to journald or syslog: `logging:` in
    flowdeck.yaml, docs/operations.md). One daemon per project: a second one
    exits with code 4 naming the first. On SIGTERM it starts nothing new, lets running steps
    finish (up to daemon.shutdown_grace), and exits 0. See docs/daemon.md.

    Example: `flowdeck daemon` (or under systemd: docs/flowdeck.service)
    """
    from flowdeck.engine.daemon.daemon import Daemon
    from flowdeck.engine.errors import FlowdeckError
    from flowdeck.engine.project.config.logs import LOG_FORMATS

    if log_format is not None and log_format not in LOG_FORMATS:
        raise FlowdeckError(f"unknown log format {log_format!r}", hint=f"use one of {', '.join(LOG_FORMATS)}")
    ws = workspace(ctx, source="daemon")  # its runs are role-checked and audited as the daemon's
    raise typer.Exit(Daemon(ws.project, ws.ledger, submit=ws.submit, resume=ws.resume, port=port,
                            log_format=log_format, submit_as=http_submitter(ws.project)).run())


def http_submitter(project: Project) -> SubmitAs:
    """The front door's submit for whoever a daemon token stands for (POST /runs): each request
    opens the project's ledger as that identity, from ``http``, so it is role-checked and audited
    like a CLI run, and its environment passes the CLI's gate of environment names."""
    from flowdeck.engine.workspace import Workspace

    def submit_as(identity: Identity, asked: RunRequest) -> tuple[RunRecord, bool]:
        door = Workspace(project, source="http", identity=identity)
        try:
            record, created = door.submit(asked.pipeline, asked.params, request_id=asked.request_id,
                                          select=asked.select, exclude=asked.exclude,
                                          environment=asked.environment)
            return record, created
        finally:
            door.close()

    return submit_as


@app.command()
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON (see docs/daemon.md).")] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 unless the daemon is running and ready (for cron and monitoring).")
    ] = False,
) -> None:
    """Show whether the daemon runs, its HTTP address, schedules, watchers, runs and problems.

    Read from the ledger (and the daemon's /readyz when it runs); works without a daemon.

    Example: `flowdeck status --check || systemctl restart flowdeck`
    """
    from flowdeck.engine.daemon.daemon import last_errors

    from flowdeck.engine.daemon.http_auth import client_token

    ws = workspace(ctx)
    ws.reap_orphans()  # a run whose process died is reported abandoned, not running
    state = ws.daemon_state()
    report = state.lease.report if state.lease and state.running else {}
    ready, reasons = (_probe_ready(state.to_json()["http"], client_token(ws.project), report) if state.running
                      else (False, [state.reason]))
    ledger = ws.ledger
    document: dict[str, Any] = {
        "daemon": {**state.to_json(), "ready": ready, "reasons": reasons},
        "healthy": state.running and ready,
        "schedules": report.get("schedules", []),
        "watchers": report.get("watchers", []),
        "followers": report.get("followers", []),
        "connections": report.get("connections", []),
        "problems": report.get("problems", []),
        "running": [run.to_json() for run in ledger.runs_in_status("running")],
        "queued": [run.to_json() for run in ledger.runs_in_status("queued")],
        "last_errors": last_errors(ws.ledger),
    }
    if as_json:
        print_json(document)
    else:
        _print_status(document)
    if check and not document["healthy"]:
        if not as_json:
            err().print("unhealthy: " + "; ".join(reasons or ["daemon not running"]))
        raise typer.Exit(EXIT_UNHEALTHY)


def _probe_ready(address: str | None, token: str | None, report: dict[str, Any]) -> tuple[bool, list[str]]:
    """Ask the daemon's /readyz (with the HTTP token when this user can read it); an endpoint that does
    not answer is itself a reason. Without the token, /healthz (which needs none) says the daemon is
    alive and its last report in the lease (renewed every 5 s) says whether it is ready."""
    if not address:
        return False, ["the daemon recorded no HTTP address"]
    code, body = _get(f"{address}/readyz", token)
    if code == 401:
        code, body = _get(f"{address}/healthz", None)
        if code == 200:
            return bool(report.get("ready")), list(report.get("reasons", []))
    if code is None:
        return False, [f"the daemon's HTTP endpoint {address} does not answer: {body.get('error')}"]
    return bool(body.get("ok")) and code == 200, list(body.get("reasons", [f"/readyz answered {code}"]))


def _get(url: str, token: str | None) -> tuple[int | None, dict[str, Any]]:
    """GET a JSON probe: (status code, body); (None, {"error": ...}) when nothing answers."""
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            code, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        code, raw = error.code, error.read()
    except OSError as error:
        return None, {"error": str(error)}
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        body = {}
    return code, body if isinstance(body, dict) else {}


def _print_status(document: dict[str, Any]) -> None:

    console = out()
    daemon = document["daemon"]
    if daemon["running"]:
        health = "[green]ready[/]" if daemon["ready"] else "[red]not ready[/]"
        console.print(f"daemon [green]running[/], {health}: pid {daemon['pid']} on {daemon['host']} since "
                      f"{daemon['since']}, {daemon['http']}")
    else:
        console.print(f"daemon [red]not running[/] ({plain(daemon['state'])})")
    for reason in daemon["reasons"]:
        if reason != daemon["state"]:
            console.print(f"  [red]✗[/] {plain(reason)}")
    for schedule in document["schedules"]:
        console.print(f"schedule {schedule['pipeline']}: {plain(schedule['schedule'])}, next {schedule['next_fire_time']}")
    for watcher in document["watchers"]:
        state = "[red]" + plain(watcher["problem"]) + "[/]" if watcher["problem"] else "watching"
        environment = watcher.get("environment", "prod")  # a daemon from before environments reports none
        shown = plain(watcher["pipeline"] if environment == "prod" else f"{watcher['pipeline']} [{environment}]")
        console.print(f"watch {shown}: {plain(watcher['folder'])} {', '.join(watcher['patterns'])} {state}")
    for follower in document["followers"]:
        waiting = f"waiting for {', '.join(follower['waiting_for'])}" if follower["waiting_for"] else "due"
        console.print(f"follow {follower['pipeline']}: after {', '.join(follower['pipelines'])}, {waiting}")
    for connection in document["connections"]:
        if connection["ok"] is None:
            state = "[dim]not checked yet[/]"
        elif connection["ok"]:
            state = f"[green]✓ reachable[/] (checked {connection['checked_at']})"
        else:
            state = f"[red]✗ {plain(connection['message'] or 'unreachable')}[/] (checked {connection['checked_at']})"
        console.print(f"connection {plain(connection['name'])}: {state}")
    console.print(f"runs: {len(document['running'])} running, {len(document['queued'])} queued")
    for run in document["running"] + document["queued"]:
        console.print(f"  {run['run_id']}  {run['pipeline']}  {status_text(run['status'])}")
    if document["last_errors"]:
        console.print("last errors:")
        for run in document["last_errors"]:
            first_line = (run["error"] or "").splitlines()[0] if run["error"] else ""
            console.print(f"  {run['run_id']}  {run['pipeline']}  {status_text(run['status'])}  {plain(first_line)}")


