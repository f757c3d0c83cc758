"""A local Spark warehouse's commit markers and id, read and written by flowdeck as files (no Spark job).

Both are folders holding JSON lines, the layout Spark's JSON writer gives (``<folder>/part-….json``),
so a warehouse written either way reads either way: a warehouse on a cluster's storage still goes
through Spark. Asking Spark to write one marker was a whole job (planning, a task, an output
commit) per published step, and reading them back another at every backend's start. Here a
marker is written into a hidden folder, made durable, then renamed to its number: the marker
appears whole or not at all, and a number another process took first is refused by the rename.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from flowdeck.engine.backends.files import fsync_directory

PART_FILE = "part-00000.json"


def read_rows(folder: Path, columns: list[str]) -> list[dict[str, Any]]:
    """The JSON rows of a marker (or info) folder, each with every one of ``columns`` (None when absent:
    Spark's writer leaves NULL fields out); files Spark keeps to itself (``_SUCCESS``, ``.crc``) are skipped."""
    rows: list[dict[str, Any]] = []
    try:
        files = sorted(path for path in folder.iterdir() if not path.name.startswith(("_", ".")) and path.is_file())
    except FileNotFoundError:
        return rows
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                found = json.loads(line)
                rows.append({column: found.get(column) for column in columns})
    return rows


def write_rows(folder: Path, rows: list[dict[str, Any]]) -> bool:
    """Create ``folder`` holding ``rows`` as JSON lines, atomically; False when it exists already (another
    writer took that name first), in which case nothing is left behind."""
    partial = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:12]}")
    partial.mkdir(parents=True)
    try:
        with open(partial / PART_FILE, "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, default=str) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if folder.exists():  # rename would replace an empty folder (a crashed Spark writer's): refuse as Spark did
            return False
        try:
            os.rename(partial, folder)
        except OSError as error:
            if error.errno in (errno.EEXIST, errno.ENOTEMPTY):
                return False
            raise
        fsync_directory(folder.parent)
        return True
    finally:
        shutil.rmtree(partial, ignore_errors=True)
