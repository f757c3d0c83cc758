"""Content checksums of the files a project reads, cached in the ledger by (path, size, modification time).

A file whose size and modification time are those recorded is not read again: its recorded
sha256 is trusted. When either differs, the file is read and hashed, and the new sha256 is
remembered for its new size and time, so touching a file costs one read, once, and a file whose
bytes did not change keeps its checksum.
"""

from __future__ import annotations

import glob
import hashlib
from pathlib import Path

from flowdeck.state import Ledger, LedgerError
from flowdeck.state.records import InputFile

CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def files_matching(path: Path) -> list[Path]:
    """The files a path or a glob names, sorted; empty when none (a path that is not there)."""
    if not glob.has_magic(str(path)):
        return [path] if path.exists() else []
    return sorted(Path(name) for name in glob.glob(str(path), recursive=True) if Path(name).is_file())


def shown_path(path: Path, root: Path) -> str:
    """How a file is named in the ledger: relative to the project when inside it, else absolute."""
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def checksum_of(path: Path, root: Path, ledger: Ledger) -> InputFile:
    """Path, size, modification time and sha256 of a file, read only when the ledger has no sha256 for
    its size and time (then remembered). Raises ``OSError`` when the file cannot be read."""
    shown = shown_path(path, root)
    stat = path.stat()
    known = ledger.known_sha256(shown, stat.st_size, stat.st_mtime_ns)
    if known is None:
        known = sha256_of(path)
        try:
            ledger.remember_sha256(shown, stat.st_size, stat.st_mtime_ns, known)
        except LedgerError:  # a read-only ledger (a viewer's `flowdeck plan`): the next look reads it again
            pass
    return InputFile(path=shown, size=stat.st_size, mtime_ns=stat.st_mtime_ns, sha256=known)
