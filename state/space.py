"""Disk space for the ledger: telling a full disk from other failures, and the reserve that lets a run's end be recorded on one."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

MIN_FREE_BYTES = 32 * 1024 * 1024  # what flowdeck asks to be free beside its ledger; doctor checks it too
RESERVE_BYTES = 2 * 1024 * 1024  # far more than recording a run's end takes (a few pages of WAL and its index)
RESERVE_FILE = "space.reserve"
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


def free_bytes(folder: Path) -> int | None:
    """Bytes free to this user on the disk holding ``folder`` (or its nearest existing parent); None if unknown."""
    probe = Path(folder)
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free
    except OSError:
        return None


def is_disk_full(error: BaseException, folder: Path) -> bool:
    """Whether ``error`` (from SQLite or the OS) means the disk holding ``folder`` is full.

    SQLite says SQLITE_FULL when a write does not fit, but an I/O error when it cannot even grow
    its shared-memory index (``-shm``) on a full disk, so an I/O error counts when little is free.
    """
    if isinstance(error, OSError) and error.errno in _FULL_ERRNOS:
        return True
    name = getattr(error, "sqlite_errorname", "") or ""
    if name == "SQLITE_FULL":
        return True
    if name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")):
        free = free_bytes(folder)
        return free is not None and free < MIN_FREE_BYTES
    return False


def size_text(count: int) -> str:
    """A byte count as people read it: 0 bytes, 812 KB, 3.5 MB, 32 MB."""
    if count < 1024:
        return f"{count} bytes"
    value, unit = count / 1024, "KB"
    for larger in ("MB", "GB", "TB"):
        if value < 1024:
            break
        value, unit = value / 1024, larger
    return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"


def full_disk_message(folder: Path, doing: str) -> str:
    """What to say when ``doing`` failed because the disk holding ``folder`` is full: where, how much is free, what is needed."""
    free = free_bytes(folder)
    left = f"{size_text(free)} free" if free is not None else "no space left"
    return (f"the disk holding {folder} is full ({left}): {doing} needs space there; "
            f"free at least {size_text(MIN_FREE_BYTES)} on that disk and try again")


class SpaceReserve:
    """A file of ``RESERVE_BYTES`` kept beside the ledger while space allows, released when the disk
    is full so the ledger can still record why a run ended (then kept again once there is room)."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / RESERVE_FILE

    def keep(self) -> None:
        """Make sure the reserve exists; quietly do nothing when the folder is read-only or the disk too full."""
        if self.path.exists():
            return
        partial = self.path.with_name(f".{RESERVE_FILE}.{os.getpid()}")
        try:
            free = free_bytes(self.path.parent)
            if free is not None and free < MIN_FREE_BYTES:
                return  # taking the last space would only make the full disk fuller
            handle = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.posix_fallocate(handle, 0, RESERVE_BYTES)  # blocks really taken: a sparse file frees nothing
            finally:
                os.close(handle)
            os.replace(partial, self.path)
        except OSError:
            try:
                partial.unlink()
            except OSError:
                pass

    def release(self) -> bool:
        """Give the reserved space back to the disk; False if there was none to give."""
        try:
            self.path.unlink()
        except OSError:
            return False
        return True
