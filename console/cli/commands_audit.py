"""Commands about who does what: audit (list), audit verify, whoami."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from flowdeck.console.cli.app import app, workspace
from flowdeck.console.cli.output import err, format_time, out, plain, print_json

audit_app = typer.Typer(
    help="The append-only, hash-chained audit log: who did what, from where, and how it ended.",
    invoke_without_command=True,
)
app.add_typer(audit_app, name="audit")


@audit_app.callback()
def audit_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many entries, newest first.")] = 50,
    action: Annotated[Optional[str], typer.Option("--action", help="Only actions starting with this (run, secret, edit ...).")] = None,
    actor: Annotated[Optional[str], typer.Option("--actor", help="Only entries of this OS user.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list (see docs/security.md).")] = False,
) -> None:
    """List the audit log, newest first. Needs the operator role.

    Example: `flowdeck audit --action secret --json`
    """
    if ctx.invoked_subcommand is not None:
        return
    entries = workspace(ctx).audit_entries(limit=limit, action=action, actor=actor)
    if as_json:
        print_json([entry.to_json() for entry in entries])
        return
    if not entries:
        err().print("the audit log is empty")
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("ID", "WHEN", "WHO", "FROM", "ACTION", "TARGET", "OUTCOME"):
        table.add_column(column, no_wrap=column != "TARGET")
    for entry in entries:
        style = {"denied": "red", "failed": "yellow"}.get(entry.outcome, "green")
        table.add_row(str(entry.entry_id), format_time(entry.ts), entry.actor, entry.source, entry.action,
                      plain(entry.target or ""), f"[{style}]{entry.outcome}[/]")
    out().print(table)


@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check the audit log's hash chain and its anchors; exit code 1 when an entry was changed or removed.

    Anchors (sealed with the audit key, and kept by the daemon outside the ledger) show entries
    removed at either end; what no anchor covers is listed as not proven.

    Example: `flowdeck audit verify`
    """
    result = workspace(ctx).verify_audit()
    if as_json:
        print_json(result.to_json())
    else:
        if result.intact:
            out().print(f"[green]✓[/] audit log intact: {result.checked} entries; head {result.head or '(empty)'}")
        else:
            out().print(f"[red]✗[/] audit log tampered with ({len(result.problems)} problems in {result.checked} "
                        "entries):")
            for problem in result.problems:
                out().print(f"  {problem}")
        if result.anchored_through is not None:
            sealed = "sealed with the audit key" if result.keyed else "seals not checked"
            out().print(f"anchored through entry {result.anchored_through} at {format_time(result.anchored_at)} "
                        f"({sealed}; {result.outside_anchors} anchors outside the ledger)")
        out().print("not proven:")
        for line in result.unproven:
            out().print(f"  - {line}")
    if not result.intact:
        raise typer.Exit(1)


@app.command()
def whoami(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print user, groups, role and allowed actions as JSON.")] = False,
) -> None:
    """Show your OS user, your role in this project and what it allows.

    Example: `flowdeck whoami`
    """
    from flowdeck.engine.governance.roles import ACTIONS

    ws = workspace(ctx)
    allowed = [action for action in ACTIONS if ws.can(action)]
    if as_json:
        print_json({"user": ws.user, "groups": sorted(ws.identity.groups), "role": ws.role, "allowed": allowed})
        return
    out().print(f"{ws.user} is [bold]{ws.role}[/] in {ws.project.config.name}")
    out().print("may: " + ", ".join(allowed))
