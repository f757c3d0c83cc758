"""Each run's private temporary folder: readable by its owner only, removed when the run ends, even after a failure."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from flowdeck.engine.project.sharing import group_shared

PREFIX = "run-"


def _name(run_id: str) -> str:
    return PREFIX + re.sub(r"[^A-Za-z0-9_-]", "_", run_id)


def run_temp_path(base: Path, run_id: str) -> Path:
    """Where the run's temporary folder is (``run_temp_dir`` makes it); the run monitor measures it."""
    return base / _name(run_id)


@contextmanager
def run_temp_dir(base: Path, run_id: str) -> Iterator[Path]:
    """A fresh ``base/run-<id>`` folder (mode 0700, and ``base`` too) that is deleted on the way out."""
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not group_shared(base.parent):  # a shared runtime folder shares this one too (ensure_runtime_dirs)
        os.chmod(base, 0o700)  # an older base folder may have been created with the umask's mode
    folder = run_temp_path(base, run_id)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sweep(base: Path, live_run_ids: Iterable[str], *, dry_run: bool = False) -> list[Path]:
    """Remove the temporary folders of runs that are no longer live (their process was killed); return them."""
    keep = {_name(run_id) for run_id in live_run_ids}
    if not base.is_dir():
        return []
    stale = [entry for entry in base.iterdir() if entry.name.startswith(PREFIX) and entry.name not in keep]
    if not dry_run:
        for entry in stale:
            shutil.rmtree(entry, ignore_errors=True)
    return stale
