"""Commands about alerts: list them, test a channel, acknowledge, silence, deliver or drop notifications."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from flowdeck.console.cli.app import app, workspace
from flowdeck.console.cli.output import err, format_time, out, plain, print_json

alerts_app = typer.Typer(
    help="Alerts raised by runs, checks, schedules and the daemon, and the notifications sent about them.",
    no_args_is_help=False,
    rich_markup_mode="markdown",
)
app.add_typer(alerts_app, name="alerts")

SEVERITY_STYLE = {"critical": ("‼", "red"), "warning": ("!", "yellow"), "info": ("i", "cyan")}


def severity_text(severity: str) -> str:
    """``‼ critical`` in the severity's colour (rich markup)."""
    symbol, style = SEVERITY_STYLE.get(severity, ("?", "white"))
    return f"[{style}]{symbol} {severity}[/]"


def parse_duration(text: str) -> float:
    """``2h`` → 7200.0; bad input is a clear error."""
    from flowdeck.engine.errors import ParamError
    from flowdeck.engine.project.config.fields import parse_duration as parse

    try:
        return float(parse(text).total_seconds())
    except ValueError:
        raise ParamError(f"--for expects a duration such as 30m, 2h or 1d, got {text!r}",
                         hint="a number with a unit: s, m, h, d or w (e.g. --for 2h)") from None


@alerts_app.callback(invoke_without_command=True)
def alerts(
    ctx: typer.Context,
    show_all: Annotated[bool, typer.Option("--all", "-a", help="Also resolved alerts and delivered notifications.")] = False,
    pipeline: Annotated[Optional[str], typer.Option("--pipeline", help="Only alerts of this pipeline.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print alerts, silences and notifications as JSON (docs/alerting.md).")] = False,
) -> None:
    """List firing alerts (and, with --all, resolved ones), active silences, and notifications not delivered yet.

    Notifications that failed are shown with their last error; `flowdeck alerts send` retries now.

    Example: `flowdeck alerts --json`
    """
    if ctx.invoked_subcommand is not None:
        return
    ws = workspace(ctx)
    ws.evaluate_alerts()
    records = ws.alerts(status=None if show_all else "firing", pipeline=pipeline, limit=500)
    states = ("pending", "sending", "failed", "sent") if show_all else ("pending", "sending", "failed")
    notifications = ws.notifications(states=states, limit=200)
    silences = ws.silences()
    if as_json:
        print_json({"alerts": [record.to_json() for record in records],
                    "silences": [silence.to_json() for silence in silences],
                    "notifications": [notification.to_json() for notification in notifications]})
        return
    from rich.table import Table

    console = out()
    if not records:
        console.print("no alerts firing" if not show_all else "no alerts yet")
    else:
        table = Table(box=None, pad_edge=False)
        for column in ("ID", "STATE", "SEVERITY", "RULE", "PIPELINE", "SINCE", "SUMMARY"):
            table.add_column(column, no_wrap=column != "SUMMARY")
        for record in records:
            state = record.status
            if record.acknowledged:
                state += " (ack)"
            if record.silenced_until:
                state += " (silenced)"
            table.add_row(record.fingerprint[:8], state, severity_text(record.severity), record.rule,
                          record.pipeline or "", format_time(record.starts_at), plain(record.summary))
        console.print(table)
    if silences:
        console.print()
        for silence in silences:
            console.print(f"silenced: {silence.pipeline} until {format_time(silence.ends_at)}"
                          + (f" by {silence.created_by}" if silence.created_by else "")
                          + (f" ({plain(silence.comment)})" if silence.comment else ""))
    undelivered = [n for n in notifications if n.state != "sent"]
    if notifications:
        console.print()
        table = Table(box=None, pad_edge=False, title="notifications" if show_all else "notifications not delivered",
                      title_justify="left")
        for column in ("#", "CHANNEL", "KIND", "STATE", "TRIES", "NEXT TRY", "LAST ERROR"):
            table.add_column(column, no_wrap=column != "LAST ERROR")
        for notification in notifications:
            style = {"failed": "red", "pending": "yellow", "sending": "cyan", "sent": "green"}[notification.state]
            table.add_row(str(notification.id), notification.channel, notification.kind,
                          f"[{style}]{notification.state}[/]", str(notification.attempts),
                          format_time(notification.next_attempt_at) if notification.state == "pending" else "",
                          plain(notification.last_error or ""))
        console.print(table)
    given_up = [n for n in undelivered if n.state == "failed"]
    if any(n.kind != "test" for n in given_up):
        err().print("some notifications were given up: fix the channel, then `flowdeck alerts send --retry-failed` "
                    "(or drop one: `flowdeck alerts drop ID`)")
    failed_tests = [str(n.id) for n in given_up if n.kind == "test"]
    if failed_tests:
        err().print(f"failed tests stay listed until dropped: `flowdeck alerts drop {' '.join(failed_tests)}`")


@alerts_app.command("test")
def test(
    ctx: typer.Context,
    channel: Annotated[str, typer.Argument(help="A channel name from alerts.channels in flowdeck.yaml (or `console`).")],
) -> None:
    """Send a test notification on one channel now, and say whether the channel took it (exit 1 if not,
    with what to check). A test is sent once: it is not retried later.

    Example: `flowdeck alerts test ops_email`
    """
    from flowdeck.engine.alerts.channels import channel_named, delivery_hint

    ws = workspace(ctx)
    notification, error = ws.test_channel(channel)
    if error:
        settings = channel_named(ws.project, channel)
        err().print(f"[red]✗[/] {plain(channel)}: {plain(error)}")
        if settings is not None and settings.type != "console":
            err().print(f"hint: {plain(delivery_hint(channel, settings))}")
        err().print(f"the failed test is listed by `flowdeck alerts` until dropped: "
                    f"`flowdeck alerts drop {notification.id}`")
        raise typer.Exit(1)
    out().print(f"[green]✓[/] test notification {notification.dedup_key} delivered to {plain(channel)}")


@alerts_app.command("ack")
def ack(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(help="An alert id (or a unique prefix), as `flowdeck alerts` lists it.")],
) -> None:
    """Acknowledge a firing alert: no more reminders until it resolves and fires again.

    Example: `flowdeck alerts ack 3fa9c2d1`
    """
    ws = workspace(ctx)
    record = ws.resolve_alert(alert_id)
    if record.status != "firing":
        out().print(f"alert {record.fingerprint[:8]} is {record.status}; nothing to acknowledge")
        return
    newly = ws.acknowledge_alert(record.fingerprint)
    out().print(f"alert {record.fingerprint[:8]} ({record.summary}) "
                + ("acknowledged" if newly else f"was already acknowledged by {record.acknowledged_by}"))


@alerts_app.command("silence")
def silence(
    ctx: typer.Context,
    pipeline: Annotated[str, typer.Argument(help="The pipeline whose alerts are not notified (`*`: all of them).")],
    duration: Annotated[str, typer.Option("--for", help="How long: 30m, 2h, 1d.")] = "1h",
    comment: Annotated[Optional[str], typer.Option("--comment", "-m", help="Why (shown in `flowdeck alerts`).")] = None,
) -> None:
    """Stop notifications about a pipeline for a while; its alerts still fire and resolve.

    Example: `flowdeck alerts silence daily_sales --for 2h -m "supplier feed late, known"`
    """
    record = workspace(ctx).silence(pipeline, parse_duration(duration), comment)
    out().print(f"alerts of {record.pipeline} silenced until {format_time(record.ends_at)}")


@alerts_app.command("unsilence")
def unsilence(
    ctx: typer.Context,
    pipeline: Annotated[str, typer.Argument(help="The pipeline (or `*`) whose silences end now.")],
) -> None:
    """End a pipeline's silences now.

    Example: `flowdeck alerts unsilence daily_sales`
    """
    count = workspace(ctx).unsilence(pipeline)
    out().print(f"{count} silence(s) of {pipeline} ended" if count else f"{pipeline} was not silenced")


@alerts_app.command("drop")
def drop(
    ctx: typer.Context,
    ids: Annotated[list[int], typer.Argument(help="Notification numbers, as `flowdeck alerts` lists them (#).",
                                             metavar="ID...")],
) -> None:
    """Drop notifications not delivered yet from the outbox: a failed test, or a message you decided not to send.

    Needs the operator role; each drop is in the audit log. A delivered notification, or one being
    sent right now, is not dropped (exit 2).

    Example: `flowdeck alerts drop 7`
    """
    ws = workspace(ctx)
    for outbox_id in ids:
        notification = ws.drop_notification(outbox_id)
        out().print(f"dropped notification {outbox_id} ({notification.kind} to {plain(notification.channel)}, "
                    f"{notification.state})")


@alerts_app.command("send")
def send(
    ctx: typer.Context,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Also retry notifications given up on.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was sent and what failed as JSON.")] = False,
) -> None:
    """Evaluate the alert rules and deliver the notifications due now (what the daemon does on its own).

    Without a daemon, run it from cron to be told of stale data and of a dead daemon. Exit 1 if a
    notification could not be delivered.

    Example: `*/5 * * * * flowdeck --project /srv/etl alerts send`
    """
    ws = workspace(ctx)
    if retry_failed:
        ws.retry_failed_notifications()
    ws.evaluate_alerts()
    report = ws.deliver_notifications()
    failures: list[dict[str, Any]] = [
        {"id": n.id, "channel": n.channel, "error": message, "given_up": given_up}
        for given_up, items in ((False, report.retrying), (True, report.given_up)) for n, message in items]
    if as_json:
        print_json({"sent": [n.id for n in report.sent], "failed": failures})
    else:
        out().print(f"{len(report.sent)} sent, {len(failures)} failed")
        for failure in failures:
            err().print(f"[red]✗[/] #{failure['id']} {failure['channel']}: {failure['error']}"
                        + (" (given up)" if failure["given_up"] else " (will retry)"))
    if failures:
        raise typer.Exit(1)
