"""Commands for recovering tables and the warehouse: versions, rollback, cleanup."""

from __future__ import annotations

from typing import Annotated

import typer

from flowdeck.console.cli.app import app, workspace
from flowdeck.console.cli.output import err, format_rows, format_time, out, print_json


@app.command()
def versions(
    ctx: typer.Context,
    table: Annotated[str, typer.Argument(help="A published table.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list, newest first (see docs/rerunning.md).")] = False,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait while a run holds the warehouse.")] = 10.0,
) -> None:
    """List the versions of a table kept for rollback: the current one first, then older ones.

    Example: `flowdeck versions daily_sales`
    """
    found = workspace(ctx).versions(table, wait=wait, on_wait=lambda message: err().print(message))
    if as_json:
        print_json([{"run_id": v.run_id, "current": v.current, "table": v.table, "rows": v.rows,
                     "checksum": v.checksum, "published_at": _iso(v.published_at)} for v in found])
        return
    from rich.table import Table

    listing = Table(box=None, pad_edge=False)
    for column in ("RUN", "", "ROWS", "CHECKSUM", "PUBLISHED"):
        listing.add_column(column, justify="right" if column == "ROWS" else "left")
    for version in found:
        listing.add_row(version.run_id, "[green]current[/]" if version.current else "", format_rows(version.rows),
                        (version.checksum or "")[:20], format_time(version.published_at))
    out().print(listing)
    if len(found) == 1:
        err().print("no older version is kept (see `versions:` in docs/rerunning.md)")


@app.command()
def rollback(
    ctx: typer.Context,
    table: Annotated[str, typer.Argument(help="A published table.")],
    to: Annotated[str, typer.Option("--to", metavar="RUN_ID", help="The run whose version to restore (or a unique prefix).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the recorded rollback as JSON.")] = False,
) -> None:
    """Restore a kept version of a table; the replaced version is kept, and the rollback is recorded.

    Tables that read this one are not rebuilt: rerun them with `flowdeck run PIPELINE --from STEP`.

    Example: `flowdeck rollback daily_sales --to 20261127-104512-3fa9c2`
    """
    record = workspace(ctx).rollback(table, to, on_wait=lambda message: err().print(message))
    if as_json:
        print_json(record.to_json())
        return
    out().print(f"table {record.output} now holds the data of run {record.data_run_id} "
                f"({format_rows(record.rows)} rows, commit {record.seq})")


@app.command()
def cleanup(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was removed as JSON (see docs/rerunning.md).")] = False,
) -> None:
    """Mark dead runs abandoned, reconcile the ledger with the warehouse, and remove what dead runs left behind.

    Removes staging tables, half-written export files and temporary files of runs that are no
    longer running, and reports each. Runs do the same for themselves when they start.

    Example: `flowdeck cleanup`
    """
    report = workspace(ctx).cleanup(on_wait=lambda message: err().print(message))
    if as_json:
        print_json(report.to_json())
        return
    sections = (
        ("runs marked abandoned", report.abandoned),
        ("commits recovered from the warehouse's markers", report.reconciled),
        ("staging tables dropped", report.staging_tables),
        ("half-written export files removed", report.partial_files),
        ("temporary files removed", report.temp_files),
    )
    for title, items in sections:
        if items:
            out().print(f"{title} ({len(items)}):")
            for item in items:
                out().print(f"  {item}")
    for problem in report.problems:
        err().print(f"[yellow]could not remove[/] {problem}")
    if not report.removed_anything and not report.problems:
        out().print("nothing to clean up")


def _iso(ts: float | None) -> str | None:
    from flowdeck.state.records import iso

    return iso(ts)
