"""Commands that keep a project's state safe: backup."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flowdeck.console.cli.app import app, workspace
from flowdeck.console.cli.output import err, out, plain, print_json


@app.command()
def backup(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(help="A new (or empty) folder to write the copies into.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Copy the ledger, the warehouse and the secrets file into FOLDER, consistently, while the daemon runs.

    The ledger is copied with SQLite's backup API; the warehouse while flowdeck holds its lock
    (a run that holds it is waited for, like any writer). FOLDER gets SHA256SUMS and
    manifest.json beside the copies. Needs the admin role. Restoring: docs/operations.md.

    Example: `flowdeck backup /var/backups/flowdeck/$(date +%F)`
    """
    report = workspace(ctx).backup(folder.absolute(), on_wait=lambda message: err().print(plain(message)))
    if as_json:
        print_json(report.to_json())
        return
    for name, entry in report.files.items():
        out().print(f"{name:<20} {entry['bytes']:>14,} bytes  sha256 {entry['sha256'][:16]}…", markup=False, highlight=False)
    err().print(plain(f"backed up {report.runs:,} runs (ledger schema {report.schema_version}) and "
                      f"{len(report.tables)} tables into {report.folder}"))
