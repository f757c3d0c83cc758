"""Sharing the runtime folder with a group: when it is group-writable (the layout of docs/security.md), what
flowdeck creates in it is group-writable too, so the service user, admins and operators can all use it.

A runtime folder flowdeck creates itself stays private (mode 0700): sharing is an admin's choice,
made once with ``chgrp`` and ``chmod 2775`` (or ``2770``) on the folder, and followed from then on.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

SUBFOLDER_MODE = 0o2770  # group members write; the set-group-id bit keeps the group on what is created inside
TEMP_MODE = 0o3770  # and the sticky bit: nobody removes another user's run folder (the folder's owner may)


def group_shared(folder: Path) -> bool:
    """Whether ``folder`` exists and its group may write in it."""
    try:
        return bool(os.stat(folder).st_mode & stat.S_IWGRP)
    except OSError:
        return False


def file_mode(folder: Path, private: int = 0o600) -> int:
    """The mode of a file flowdeck creates in ``folder``: ``private``, plus the same rights for the group when shared."""
    return private | ((private & 0o700) >> 3) if group_shared(folder) else private


def folder_mode(runtime: Path, *, temp: bool = False) -> int:
    """The mode of a subfolder of a shared runtime folder: the group's rights, others' as on ``runtime`` (none for temp)."""
    if temp:
        return TEMP_MODE
    return SUBFOLDER_MODE | (stat.S_IMODE(os.stat(runtime).st_mode) & 0o005)


def share_with_group() -> None:
    """Let the group keep its rights on whatever this process creates from now on (the ledger and its
    -wal, the warehouse, logs, exports): the umask no longer takes them away; others' rights are left as set."""
    current = _umask()
    if current & 0o070:
        os.umask(current & ~0o070)


def share_ledger(path: Path) -> None:
    """Give the group write access to the ledger in a shared runtime folder: create it so when missing
    (SQLite creates files 0644 whatever the umask, and copies the ledger's mode to its -wal and -shm),
    and add it to one this user owns (made before the folder was shared)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o664)  # an empty file is an empty database
        os.close(descriptor)
    except FileExistsError:
        pass
    except OSError:
        return
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            info = os.stat(file)
            if info.st_uid == os.geteuid() and not info.st_mode & stat.S_IWGRP:
                os.chmod(file, stat.S_IMODE(info.st_mode) | stat.S_IRGRP | stat.S_IWGRP)
        except OSError:
            pass  # not there, or another member's: theirs to share


def _umask() -> int:
    try:  # read without changing it (os.umask only sets): another thread may be creating a file right now
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o077)
    os.umask(current)
    return current
