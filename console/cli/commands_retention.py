"""Commands about keeping the ledger small: prune."""

from __future__ import annotations

from typing import Annotated

import typer

from flowdeck.console.cli.app import app, workspace
from flowdeck.console.cli.output import err, out, print_json


@app.command()
def prune(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be removed; remove nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts and cutoffs as JSON.")] = False,
) -> None:
    """Remove runs, events, lineage, audit entries and temporary folders older than the retention policies.

    The policies are `retention:` in flowdeck.yaml. Needs the admin role; a dry run, which changes
    nothing, any role.

    Example: `flowdeck prune --dry-run`
    """
    report = workspace(ctx).prune(dry_run=dry_run)
    if as_json:
        print_json(report.to_json())
        return
    verb = "would remove" if dry_run else "removed"
    parts = [f"{count:,} {kind.replace('_', ' ')}" for kind, count in report.removed.items() if count]
    out().print(f"{verb} {', '.join(parts)}" if parts else f"nothing to remove ({'dry run' if dry_run else 'all within policy'})")
    for note in report.notes:
        err().print(f"note: {note}")
