"""Input files of extract steps: which files a source names, their size and content hash.

A file's sha256 is computed once per (path, size, modification time): the ledger remembers
it (engine/project/checksums.py), so an unchanged file is never read twice just to learn that
it is unchanged.
"""

from __future__ import annotations

import glob
from pathlib import Path

from flowdeck.engine.errors import StepFailed
from flowdeck.engine.project.checksums import checksum_of, files_matching, sha256_of, shown_path
from flowdeck.state import Ledger
from flowdeck.state.records import InputFile

__all__ = ["fingerprint", "matching_files", "sha256_of"]


def matching_files(path: Path, step: str) -> list[Path]:
    """The files a source path (a file or a glob) names, sorted; none is an error."""
    found = files_matching(path)
    if found:
        return found
    if not glob.has_magic(str(path)):
        raise StepFailed(
            f"step `{step}`: the source file {path} does not exist",
            hint="check `source.path` in pipeline.yaml; paths are relative to the project",
        )
    raise StepFailed(
        f"step `{step}`: no file matches {path}",
        hint="check `source.path` in pipeline.yaml, or wait for files to arrive",
    )


def fingerprint(path: Path, root: Path, ledger: Ledger, step: str) -> InputFile:
    """Path (relative to the project when inside it), size, modification time and sha256 of a file."""
    try:
        return checksum_of(path, root, ledger)
    except OSError as error:  # moved or replaced while we looked: the next try may see it whole
        raise StepFailed(f"step `{step}`: cannot read {shown_path(path, root)}: {error.strerror or error}",
                         transient=True) from None
