"""Consistent online backups of a project's runtime state: the ledger, the warehouse, the secrets file.

Both are copied while flowdeck holds the warehouse's lock, so no run publishes during the copy
(a run that wants the warehouse meanwhile waits, as for any other writer): the warehouse after
a checkpoint, so its file holds every committed change; the ledger with SQLite's backup API,
a snapshot taken while the daemon goes on recording events. The encrypted secrets file is copied as it is.
A ``SHA256SUMS`` file (``sha256sum -c`` reads it) and a ``manifest.json`` describe the copy.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowdeck.engine.errors import ParamError
from flowdeck.engine.steps.input_files import sha256_of
from flowdeck.state.records import iso

if TYPE_CHECKING:
    from flowdeck.engine.project.project import Project
    from flowdeck.state import Ledger

LEDGER_FILE = "ledger.sqlite"
MANIFEST = "manifest.json"
CHECKSUMS = "SHA256SUMS"


@dataclass
class BackupReport:
    """What a backup holds: each file with its size and sha256, and what the ledger and warehouse held."""

    folder: Path
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    schema_version: int = 0
    runs: int = 0
    tables: list[str] = field(default_factory=list)  # the published tables and views, flowdeck's own left out
    waited_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The manifest written beside the files (and `flowdeck backup --json`)."""
        return {"folder": str(self.folder), "flowdeck": version("flowdeck"), "created_at": iso(time.time()),
                "ledger_schema_version": self.schema_version, "runs": self.runs, "tables": self.tables,
                "files": self.files, "waited_seconds": round(self.waited_seconds, 3)}


def back_up(project: Project, ledger: Ledger, folder: Path,
            on_wait: Callable[[int | None, float], None] | None = None) -> BackupReport:
    """Copy the ledger, the warehouse and the secrets file of ``project`` into ``folder`` (new or empty).

    Waits, like a run, up to ``warehouse.lock_timeout`` for a run holding the warehouse.
    """
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ParamError(f"{folder} already exists and is not an empty folder",
                         hint="back up into a new folder, e.g. one named after the date: /var/backups/flowdeck/$(date +%F)")
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)  # the copy holds everything the project holds
    report = BackupReport(folder=folder)

    def copy_ledger() -> None:
        ledger.backup_to(folder / LEDGER_FILE)
        report.schema_version = ledger.schema_version
        report.runs = sum(count for *_, count in ledger.run_counts())

    if project.warehouse_path.exists():
        # the warehouse first, and held while the ledger is copied too: no run publishes between the two
        # copies, so the ledger's record of what was published matches the warehouse's commit markers
        from flowdeck.engine.backends.duckdb.warehouse import open_warehouse

        started = time.monotonic()
        connection = open_warehouse(project, on_wait=on_wait)
        report.waited_seconds = time.monotonic() - started
        try:
            connection.execute("CHECKPOINT")  # every committed change into the file itself, the WAL emptied
            report.tables = [row[0] for row in connection.execute(
                "SELECT DISTINCT table_name FROM information_schema.tables "
                "WHERE table_schema = 'main' AND table_name NOT LIKE '\\_\\_fd\\_%' ESCAPE '\\' ORDER BY 1").fetchall()]
            copy_ledger()
            shutil.copy2(project.warehouse_path, folder / project.warehouse_path.name)
        finally:
            connection.close()
    else:
        copy_ledger()
    secrets_file = project.runtime_dir / "secrets.enc"
    if secrets_file.exists():
        shutil.copy2(secrets_file, folder / secrets_file.name)
    for path in sorted(folder.iterdir()):
        report.files[path.name] = {"bytes": path.stat().st_size, "sha256": sha256_of(path)}
        os.chmod(path, 0o600)
    (folder / CHECKSUMS).write_text("".join(f"{entry['sha256']}  {name}\n" for name, entry in report.files.items()))
    (folder / MANIFEST).write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return report

