"""Commands about runs: run, runs, show, logs, cancel."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from flowdeck.console.cli.app import EnvOption, app, workspace
from flowdeck.console.cli.output import (
    err,
    format_duration,
    format_rows,
    format_time,
    out,
    plain,
    print_json,
    status_text,
)
from flowdeck.engine.startup import nothing_left_to_close, resume_collection

if TYPE_CHECKING:
    from flowdeck.engine.run.executor import RunUpdate
    from flowdeck.engine.run.submit import Submitted
    from flowdeck.engine.workspace import Workspace


def parse_params(pairs: list[str]) -> dict[str, str]:
    """``["day=2026-11-01"]`` → ``{"day": "2026-11-01"}``; a malformed pair is bad input."""
    from flowdeck.engine.errors import ParamError

    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ParamError(f"--param expects NAME=VALUE, got {pair!r}", hint="for example --param day=2026-11-01")
        params[name.strip()] = value
    return params


def run_options(*, engine: str | None, force: bool) -> dict[str, object] | None:
    """The options a run is submitted with from the command line (None: the defaults)."""
    options: dict[str, object] = {}
    if engine:
        options["engine"] = engine
    if force:
        options["force"] = True
    return options or None


@app.command()
def run(
    ctx: typer.Context,
    pipeline: Annotated[
        Optional[str], typer.Argument(help="The pipeline to run (a folder under pipelines/); omit with --resume.")
    ] = None,
    param: Annotated[
        Optional[list[str]], typer.Option("--param", "-P", metavar="NAME=VALUE", help="A run parameter; repeatable.")
    ] = None,
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Queue the run and return; the daemon (if running) or a background worker executes it.")
    ] = False,
    resume: Annotated[
        Optional[str],
        typer.Option("--resume", metavar="RUN_ID",
                     help="Continue a failed, abandoned or canceled run from its first unfinished step."),
    ] = None,
    from_step: Annotated[
        Optional[str], typer.Option("--from", metavar="STEP",
                                    help="Run only this step and everything downstream of it (--select STEP+).")
    ] = None,
    select: Annotated[
        Optional[list[str]],
        typer.Option("--select", "-s", metavar="EXPR",
                     help="Run only the steps this selects: STEP, STEP+ (and downstream), +STEP (and upstream), "
                          "tag:NAME, state:modified+; a space means either, a comma both; repeatable (either)."),
    ] = None,
    exclude: Annotated[
        Optional[list[str]],
        typer.Option("--exclude", metavar="EXPR", help="Leave out the steps this selects (same forms); repeatable."),
    ] = None,
    request_id: Annotated[
        Optional[str],
        typer.Option("--request-id", metavar="ID",
                     help="Make the request idempotent: a second request with the same id starts no second run."),
    ] = None,
    reprocess: Annotated[
        bool, typer.Option("--reprocess", help="Incremental steps read all their input again and rebuild their tables.")
    ] = False,
    engine: Annotated[
        Optional[str],
        typer.Option("--engine", "-e", help="Run on duckdb or spark (default: `engine:` in flowdeck.yaml, else duckdb)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Run every step, even those whose fingerprint says nothing changed.")
    ] = False,
    env: EnvOption = "prod",
) -> None:
    """Run a pipeline and show its progress step by step.

    Steps whose fingerprint equals their current output's are `unchanged`: reused, not run
    (`flowdeck plan` shows what would run and why; docs/plans.md).

    With `--env dev` the run writes into environment dev's own warehouse, never prod's: steps whose
    fingerprint equals prod's current version are read from prod (`unchanged (prod)`), the others
    are built there (docs/environments.md).

    Prints the run id. Exit code 0 when the run succeeds, 1 when it fails, 2 on bad input
    (including SQL the Spark lint refuses, with `--engine spark`), 4 when the warehouse stayed
    busy longer than `warehouse.lock_timeout`.

    Example: `flowdeck run daily_sales --param since=2026-11-01 --engine spark`

    Example: `flowdeck run --resume 20261127-104512-3fa9c2`

    Example: `flowdeck run daily_sales --from orders_clean --request-id nightly-2026-11-27`

    Example: `flowdeck run daily_sales --select '+daily_sales' --exclude export_daily_sales`

    Example: `flowdeck run daily_sales --env dev`
    """
    from flowdeck.engine.errors import ParamError

    if engine is not None and engine not in ("duckdb", "spark"):
        raise ParamError(f"unknown engine {engine!r}", hint="use duckdb or spark")
    ws = workspace(ctx)
    if resume is not None:
        if param or from_step or select or exclude or request_id or reprocess or engine or force or env != "prod":
            raise ParamError("--resume continues a run as it was (on the same engine, in the same environment); it "
                             "takes no --param, --from, --select, --exclude, --request-id, --reprocess, --engine, "
                             "--force or --env",
                             hint="drop those options, or start a new run instead")
        submitted = ws.resume(resume, here=not detach)
        record, new = submitted
        if pipeline is not None and pipeline != record.pipeline:
            raise ParamError(f"run {resume} is a run of `{record.pipeline}`, not `{pipeline}`",
                             hint=f"flowdeck run --resume {resume}")
        if new:
            err().print(f"resuming run {record.parent_run_id} as run {record.run_id}")
    else:
        if pipeline is None:
            raise ParamError("which pipeline? give its name, or --resume RUN_ID",
                             hint="for example `flowdeck run daily_sales`; list them with `flowdeck pipelines`")
        submitted = ws.submit(pipeline, parse_params(param or []), request_id=request_id, from_step=from_step,
                              reprocess=reprocess, options=run_options(engine=engine, force=force),
                              select=" ".join(select) if select else None,  # repeated: a union, as a space is
                              exclude=" ".join(exclude) if exclude else None, environment=env,
                              here=not detach)  # claimed as it is created: a daemon cannot take it first
        record, new = submitted
    if not new and record.status != "queued":
        err().print(f"run {record.run_id} was already started for this request ({record.status}); "
                    "not starting another")
        if not record.finished:
            err().print(f"follow it with: flowdeck logs {record.run_id} --follow")
        raise typer.Exit(0 if record.status in ("succeeded", "running") else 1)
    if detach:
        out().print(f"run {record.run_id} queued; {ws.hand_off(record.run_id)}")
        err().print(f"follow it with: flowdeck logs {record.run_id} --follow")
        return
    _execute_in_foreground(ws, submitted)


def _execute_in_foreground(ws: Workspace, submitted: Submitted) -> None:
    """Execute a queued run here, with the live step table; exit with the run's outcome.

    The plan submit built is the table's and the execution's: a run is planned once.
    """
    from flowdeck.console.cli.progress import RunProgress
    from flowdeck.engine.plan.selection import selection_of
    from flowdeck.state.status import RunStatus

    run_id, pipeline, prepared = submitted.record.run_id, submitted.record.pipeline, submitted.prepared
    claimed = submitted.record.status == RunStatus.RUNNING  # created claimed for this process (``here``)
    assert prepared is not None, "a queued run comes back from submit prepared"
    progress = RunProgress(run_id, pipeline, prepared.plan, selected=selection_of(submitted.record.options))
    outcome: dict[str, object] = {}

    def observe(update: RunUpdate) -> None:
        if update.kind == "run.finished":
            outcome["exit_code"] = update.exit_code
        progress.update(update)

    finished = threading.Event()

    def execute() -> None:
        try:
            outcome["status"] = ws.execute(run_id, observer=observe, prepared=prepared, claimed=claimed)
        except Exception as error:  # reported below; the run itself is recorded by the executor
            outcome["error"] = str(error)
        finally:
            finished.set()

    worker = threading.Thread(target=execute, name="run", daemon=True)
    resume_collection()  # held since the process started (engine/startup.py): the run's own work begins here
    with progress.live():
        worker.start()
        interrupts = 0
        # an Event, not worker.join(): Python 3.11's join, cut short by Ctrl-C, marks the thread ended although it
        # runs on (its tstate lock released in passing), and the run would be reported, and its ledger closed, mid-run
        while not finished.is_set():
            try:
                finished.wait(timeout=0.2)
            except KeyboardInterrupt:
                interrupts += 1
                if interrupts > 1:
                    err().print("stopping now; the run will be marked abandoned")
                    raise typer.Exit(130) from None
                err().print("canceling the run (press Ctrl-C again to stop at once)…")
                ws.ledger.request_cancel(run_id, requested_by=f"{ws.user} (ctrl-c)")
    final = ws.ledger.get_run(run_id)
    assert final is not None
    progress.summary(final)
    _say_what_was_not_notified(ws, run_id)
    # closed here, not left to the exit: the ledger was opened before collection resumed, so it is frozen
    # (engine/startup.py) and no collection at exit would close it and checkpoint its write-ahead log
    ws.close()
    nothing_left_to_close()  # the run closed its warehouse; the process may end without the teardown
    if outcome.get("error"):
        from flowdeck.engine.masking import mask

        err().print(mask(str(outcome["error"])), markup=False)
    if final.status == "succeeded":
        raise typer.Exit(0)
    code = outcome.get("exit_code")
    raise typer.Exit(code if isinstance(code, int) and code else 1)


def _say_what_was_not_notified(ws: Workspace, run_id: str) -> None:
    """Once, after the run: the notifications it raised that the end of the run could not deliver
    (a channel down: the daemon or `alerts send` retries; misconfigured: a person fixes it first)."""
    for notification in ws.notifications_of_run(run_id):
        error = plain(notification.last_error or "")
        if notification.state == "failed":
            err().print(f"[red]✗[/] notification to {plain(notification.channel)} not sent, and not retried: "
                        f"{error}; fix it, then `flowdeck alerts send --retry-failed`")
        elif notification.state == "pending" and notification.attempts:
            err().print(f"[yellow]![/] notification to {plain(notification.channel)} not delivered yet: {error}; "
                        "the daemon (or `flowdeck alerts send`) tries again")


@app.command()
def runs(
    ctx: typer.Context,
    pipeline: Annotated[Optional[str], typer.Option("--pipeline", help="Only runs of this pipeline.")] = None,
    status: Annotated[
        # the words of RunStatus, spelled out: importing the ledger package would slow `flowdeck --help`
        Optional[str], typer.Option("--status", help="Only runs in this state: queued, running, succeeded, failed, "
                                    "canceled, abandoned.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many runs, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list (see docs/cli.md).")] = False,
    env: Annotated[Optional[str], typer.Option("--env", metavar="NAME",
                                               help="Only runs in this environment (prod, dev, ...).")] = None,
) -> None:
    """List runs, newest first. A run in a development environment shows it beside its pipeline (`daily_sales [dev]`).

    Example: `flowdeck runs --pipeline daily_sales --status failed --limit 5`

    Example: `flowdeck runs --env dev`
    """
    from flowdeck.engine.errors import FlowdeckError
    from flowdeck.state.status import RunStatus

    if status is not None and status not in tuple(RunStatus):
        raise FlowdeckError(f"unknown status {status!r}", hint=f"use one of {', '.join(RunStatus)}")
    ws = workspace(ctx)
    ws.reap_orphans()  # a run whose process died is listed abandoned, not running
    if env is not None:
        ws.project.in_environment(env)  # the one gate of an environment name: a path is refused in words
    records = ws.ledger.list_runs(pipeline=pipeline, status=status, limit=limit, environment=env)
    if as_json:
        print_json([record.to_json() for record in records])
        return
    if not records:
        err().print("no runs yet; start one with `flowdeck run PIPELINE`")
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False, collapse_padding=True)
    # a run id is for copying: never cut it (nor the status); the start time gives way first at 80 columns
    table.add_column("RUN", no_wrap=True, min_width=22)
    table.add_column("PIPELINE", no_wrap=True, min_width=8)
    table.add_column("STATUS", no_wrap=True, min_width=12)
    table.add_column("TRIGGER", no_wrap=True)
    table.add_column("STARTED", no_wrap=True)
    table.add_column("DURATION", no_wrap=True)
    for record in records:
        shown = record.pipeline if record.environment == "prod" else f"{record.pipeline} [{record.environment}]"
        table.add_row(record.run_id, plain(shown), status_text(record.status), record.trigger_kind,
                      format_time(record.started_at or record.created_at, short=True), format_duration(record.duration))
    out().print(table)


@app.command()
def show(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="A run id, a unique prefix of one, or `last`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the run, its steps and checks as JSON.")] = False,
    engine_sql: Annotated[bool, typer.Option("--sql", help="Also print the SQL each step ran on its engine "
                                             "(the Spark SQL flowdeck generated; a failed step's error shows it).")] = False,
    step: Annotated[Optional[str], typer.Option("--step", help="Show one step in full: its whole error, log "
                                                "lines, checks with failing rows, and the SQL it ran.", metavar="STEP")] = None,
) -> None:
    """Show one run: status, timings, each step's status, rows in and out, bytes, throughput, attempts and
    errors, files written, live query progress of running steps, the run process's CPU and memory, and
    once it has ended, performance hints (docs/tuning.md) when something stood out.

    Example: `flowdeck show last`, `flowdeck show last --step orders_clean`
    """
    ws = workspace(ctx)
    ws.reap_orphans()  # a run whose process died is shown abandoned, not running
    if step is not None:
        _show_step(ws, run_id, step, as_json)
        return
    metrics = ws.run_metrics(run_id)
    record = metrics.run
    ledger = ws.ledger
    steps = [view.record for view in metrics.steps]
    checks = metrics.checks
    attempts = ledger.attempts_of(record.run_id)
    exports = ledger.exports_of(record.run_id)
    commits = ledger.commits_of_run(record.run_id)
    children = ledger.children_of(record.run_id)
    hints = ws.run_hints(metrics)
    if as_json:
        by_step: dict[str, list[dict[str, object]]] = {}
        for attempt in attempts:
            by_step.setdefault(attempt.step, []).append(attempt.to_json())
        print_json({
            **record.to_json(),
            "steps": [{**view.to_json(), "attempt_history": by_step.get(view.record.step, [])}
                      for view in metrics.steps],
            "checks": [c.to_json() for c in checks],
            "exports": [e.to_json() for e in exports],
            "commits": [c.to_json() for c in commits],
            "resumed_by": [child.run_id for child in children],
            "resources": metrics.to_json()["resources"],
            "hints": [hint.to_json() for hint in hints],
        })
        return
    from rich.table import Table

    from flowdeck.console.cli.charts import format_bytes, format_rate
    from flowdeck.console.cli.commands_monitor import _print_hints, _print_resources
    from flowdeck.engine.plan.selection import selection_of
    from flowdeck.state.status import StepStatus

    console = out()
    console.print(f"[bold]run {record.run_id}[/]  {record.pipeline}  {status_text(record.status)}"
                  + (f"  in environment [bold]{plain(record.environment)}[/]" if record.environment != "prod" else ""))
    console.print(f"trigger {record.trigger_kind} ({plain(record.trigger_key)})  by {record.requested_by or '?'}")
    if record.parent_run_id:
        console.print(f"resumes run {record.parent_run_id}")
    for child in children:
        console.print(f"resumed by run {child.run_id} ({status_text(child.status)})")
    console.print(f"started {format_time(record.started_at)}  ended {format_time(record.ended_at)}  "
                  f"took {format_duration(record.duration)}")
    if record.params:
        console.print("params " + ", ".join(f"{k}={v}" for k, v in record.params.items()))
    selected = selection_of(record.options)
    if selected:
        console.print(f"selected {plain(selected)}")
    chosen = ["reprocessing all input" if record.options.get("reprocess") else "",
              "forced (every step run)" if record.options.get("force") else ""]
    if any(chosen):
        console.print("options " + ", ".join(item for item in chosen if item))
    engines = sorted({step.engine for step in steps if step.engine})
    if engines:
        console.print("engine " + ", ".join(engines))
    table = Table(box=None, pad_edge=False)
    numeric = ("ROWS IN", "ROWS OUT", "BYTES", "TIME", "ROWS/S", "ATTEMPTS")
    for column in ("STEP", "KIND", "STATUS", *numeric, "ENGINE"):
        table.add_column(column, justify="right" if column in numeric else "left")
    for view in metrics.steps:
        step = view.record
        status = status_text(step.shown_status if step.unchanged else "reused") + \
            (f" [dim](prod, {step.reused_from})[/]" if step.from_prod else f" [dim]({step.reused_from})[/]") \
            if step.reused_from else status_text(step.status)
        if view.progress is not None:
            status += f" {view.progress:.0f}%"
        moved = (view.bytes_in or 0) + (view.bytes_out or 0)
        table.add_row(step.step, step.kind, status, format_rows(view.rows_in), format_rows(step.rows_out),
                      format_bytes(moved) if moved else "", "" if step.reused_from else format_duration(step.duration),
                      format_rate(view.rows_per_second, "rows"), str(step.attempts), step.engine or "")
    console.print(table)
    _print_resources(metrics)
    retried = [a for a in attempts if a.status == StepStatus.FAILED and a.retry_in is not None]
    for attempt in retried:
        console.print(f"\n[yellow]{attempt.step}[/] attempt {attempt.attempt} failed (transient), retried after "
                      f"{attempt.retry_in:g}s: {plain(attempt.error or '')}")
    for step in steps:
        if step.error and step.status == StepStatus.FAILED:
            console.print(f"\n[red]{step.step}[/]: {plain(step.error)}")
    if engine_sql:
        for event in ledger.events(run_id=record.run_id, limit=100_000):
            if event.kind == "step.succeeded" and event.payload and event.payload.get("engine_sql"):
                console.print(f"\n[bold]{event.step}[/] ran:")
                console.print(f"  {event.payload['engine_sql']}", markup=False, highlight=False, soft_wrap=True)
    for commit in commits:
        if commit.reconciled:
            console.print(f"\n[yellow]{commit.step}[/] published {commit.output} (commit {commit.seq}); the ledger "
                          "learned it from the warehouse's commit marker after the run's process stopped")
    for export in exports:
        console.print(f"\nwrote {plain(export.path)} ({export.rows:,} rows, {export.bytes:,} bytes, "
                      f"sha256 {export.sha256[:16]}…)")
    for check in checks:
        if check.status != "passed":
            console.print(f"\n{status_text(check.status)} {plain(check.message or '')}")
            for row in check.sample:
                console.print(f"    {plain(str(row))}")
    if record.error and not any(step.error for step in steps):
        console.print(f"\n[red]error[/]: {plain(record.error)}")
    _print_hints(hints)


def _show_step(ws: Workspace, run_id: str, step: str, as_json: bool) -> None:
    """`show RUN --step STEP`: everything about one step, the same as the console's step view."""
    from flowdeck.console.cli.charts import format_bytes

    detail = ws.step_detail(run_id, step)
    if as_json:
        print_json(detail.to_json())
        return
    console = out()
    record, view, run = detail.record, detail.view, detail.run
    console.print(f"[bold]step {record.step}[/] ({record.kind}) of run {run.run_id}  {run.pipeline}  "
                  f"{status_text('reused') if record.reused_from else status_text(record.status)}")
    took = "" if record.reused_from else f"  took {format_duration(record.duration)}"
    console.print(f"started {format_time(record.started_at)}  ended {format_time(record.ended_at)}{took}  "
                  f"attempts {record.attempts}  engine {record.engine or '-'}")
    if record.reused_from:
        console.print(f"reused: published by run {record.reused_from}, not run again")
    if run.params:
        console.print("params " + ", ".join(f"{k}={v}" for k, v in run.params.items()))
    console.print(f"rows in {format_rows(view.rows_in) or '-'}  rows out {format_rows(view.rows_out) or '-'}  "
                  f"bytes in {format_bytes(view.bytes_in) or '-'}  bytes out {format_bytes(view.bytes_out) or '-'}")
    if record.error:
        console.print(f"\n[red]error[/]\n{plain(record.error)}")
    for check in detail.checks:
        console.print(f"\n{status_text(check.status)} {plain(check.message or check.check_name)}")
        for row in check.sample:
            console.print(f"    {plain(str(row))}")
    for statement in detail.last_statements:
        console.print(f"\n[bold]sql[/] ({statement.purpose}, {statement.engine}, attempt {statement.attempt})")
        console.print(plain(statement.sql.rstrip()))
    if detail.events:
        console.print("\n[bold]log[/]")
        for event in detail.events:
            console.print(f"[dim]{format_time(event.ts)}[/] {event.level:<7} {plain(event.message)}")
    console.print(f"\nplan reason: {plain(detail.plan_reason) if detail.plan_reason else 'not recorded'}")


@app.command()
def logs(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="A run id, a unique prefix of one, or `last`.")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines until the run ends.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Print a run's event log.

    With --follow, wait for the run to end and exit with its outcome: 0 when it succeeded, 1 otherwise.

    Example: `flowdeck logs last --follow`
    """
    import json

    from flowdeck.console.cli.output import json_default
    from flowdeck.engine.errors import EXIT_RUN_FAILED
    from flowdeck.state.status import RunStatus

    ws = workspace(ctx)
    ws.reap_orphans()  # a run whose process died is over: its log is not followed forever
    record = ws.resolve_run(run_id)
    cursor = 0
    while True:
        events = ws.ledger.events(run_id=record.run_id, after=cursor)
        for event in events:
            cursor = event.event_id
            if as_json:
                typer.echo(json.dumps(event.to_json(), default=json_default))
            else:
                level = {"error": "red", "warning": "yellow"}.get(event.level, "dim")
                step = plain(f" [{event.step}]") if event.step else ""
                out().print(f"[dim]{format_time(event.ts)}[/] [{level}]{event.level:<7}[/]{step} {plain(event.message)}")
        if not follow:
            return
        current = ws.ledger.get_run(record.run_id)
        if current is None:
            return
        if current.finished and not events:  # followed to its end: say how it ended, as `flowdeck run` does
            raise typer.Exit(0 if current.status == RunStatus.SUCCEEDED else EXIT_RUN_FAILED)
        time.sleep(0.3)


@app.command()
def cancel(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="A run id, a unique prefix of one, or `last`.")],
) -> None:
    """Cancel a queued run, or ask a running one to stop at its next chance.

    Example: `flowdeck cancel 20261127-104512-3fa9c2`
    """
    from flowdeck.state.status import RunStatus

    record = workspace(ctx).cancel(run_id)
    out().print(f"run {record.run_id}: {status_text(record.status)}"
                + (" (cancel requested)" if record.status == RunStatus.RUNNING else ""))
