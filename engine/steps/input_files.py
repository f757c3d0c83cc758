"""Input files of extract steps: which files a source names, their size and content hash.

A file's sha256 is computed once per (path, size, modification time): the ledger remembers
it, so an unchanged file is never read twice just to learn that it is unchanged.
"""

from __future__ import annotations

import glob
import hashlib
from pathlib import Path

from flowdeck.engine.errors import StepFailed
from flowdeck.state import Ledger
from flowdeck.state.records import InputFile

CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def matching_files(path: Path, step: str) -> list[Path]:
    """The files a source path (a file or a glob) names, sorted; none is an error."""
    if not glob.has_magic(str(path)):
        if not path.exists():
            raise StepFailed(
                f"step `{step}`: the source file {path} does not exist",
                hint="check `source.path` in pipeline.yaml; paths are relative to the project",
            )
        return [path]
    found = sorted(Path(name) for name in glob.glob(str(path), recursive=True) if Path(name).is_file())
    if not found:
        raise StepFailed(
            f"step `{step}`: no file matches {path}",
            hint="check `source.path` in pipeline.yaml, or wait for files to arrive",
        )
    return found


def fingerprint(path: Path, root: Path, ledger: Ledger, step: str) -> InputFile:
    """Path (relative to the project when inside it), size, modification time and sha256 of a file."""
    shown = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    try:
        stat = path.stat()
        known = ledger.known_sha256(shown, stat.st_size, stat.st_mtime_ns)
        return InputFile(path=shown, size=stat.st_size, mtime_ns=stat.st_mtime_ns, sha256=known or sha256_of(path))
    except OSError as error:  # moved or replaced while we looked: the next try may see it whole
        raise StepFailed(f"step `{step}`: cannot read {shown}: {error.strerror or error}", transient=True) from None
