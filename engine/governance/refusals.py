"""Refusals of users who may only read the ledger (viewers): left as files in a drop folder, folded into the
audit log by the service user, as ``denied`` entries of each file's owner.

The folder (``.flowdeck/refusals``, in a runtime folder shared with a group) belongs to the
runtime folder's owner, the service user, with mode 1733: anyone may add a file, nobody else may
list, read or remove one. What a file says is only the action and its target: who was refused is
the file's owner, so nobody can record a refusal in someone else's name, and a link or an
oversized file is dropped unread.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import stat
import time
from pathlib import Path
from typing import Any

from flowdeck.engine.project.sharing import group_shared
from flowdeck.state import Ledger
from flowdeck.state.records import iso

FOLDER = "refusals"
MODE = 0o1733
MAX_BYTES = 4096


def refusals_folder(runtime_dir: Path) -> Path:
    """Where refusals wait to be audited."""
    return runtime_dir / FOLDER


def prepare_folder(runtime_dir: Path) -> None:
    """Create the folder in a runtime folder shared with a group, when this process is its owner (the service
    user: only the folder's owner may fold refusals in)."""
    folder = refusals_folder(runtime_dir)
    try:
        if os.stat(runtime_dir).st_uid != os.geteuid() or not group_shared(runtime_dir):
            return
        folder.mkdir(mode=0o700, exist_ok=True)
        if stat.S_IMODE(folder.stat().st_mode) != MODE:
            os.chmod(folder, MODE)  # mkdir's mode passes through the umask
    except OSError:
        pass


def leave_refusal(runtime_dir: Path, *, source: str, action: str, target: str | None,
                  details: dict[str, Any] | None) -> bool:
    """Leave a refusal to be audited later; False when there is no folder for it."""
    text = json.dumps({"ts": time.time(), "source": source, "action": action, "target": target,
                       "details": details or {}}, default=str)
    if len(text.encode()) > MAX_BYTES:
        text = json.dumps({"ts": time.time(), "source": source, "action": action, "target": (target or "")[:200]})
    name = refusals_folder(runtime_dir) / f"{time.time_ns()}-{os.getpid()}-{secrets.token_hex(4)}.json"
    try:
        descriptor = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        os.fchmod(descriptor, 0o644)  # whatever this user's umask: the folder's owner reads it (nobody else can list it)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError:
        return False
    return True


def collect_refusals(ledger: Ledger, runtime_dir: Path) -> int:
    """Fold the refusals left so far into the audit log (the folder's owner only, creating the folder
    first when it is missing); return how many."""
    prepare_folder(runtime_dir)
    folder = refusals_folder(runtime_dir)
    try:
        if os.stat(folder).st_uid != os.geteuid():
            return 0
        names = sorted(entry.name for entry in os.scandir(folder) if entry.name.endswith(".json"))
    except OSError:
        return 0
    count = 0
    for name in names:
        path = folder / name
        entry = _read(path)
        if entry is not None:
            owner, data = entry
            ledger.append_audit(actor=owner, source=str(data.get("source") or "cli")[:32],
                                action=str(data.get("action") or "?")[:64],
                                target=None if data.get("target") is None else str(data["target"])[:500],
                                outcome="denied",
                                details={**(data["details"] if isinstance(data.get("details"), dict) else {}),
                                         "refused_at": iso(float(data["ts"])) if isinstance(data.get("ts"), (int, float))
                                         else None, "recorded": "later, from the refusals folder"})
            count += 1
        try:
            path.unlink()
        except OSError:
            pass
    return count


def _read(path: Path) -> tuple[str, dict[str, Any]] | None:
    """The owner's name and the content of one refusal file; None for a link, a non-file, or junk."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_BYTES:
            return None
        data = json.loads(os.read(descriptor, MAX_BYTES + 1).decode("utf-8"))
    except (OSError, ValueError):
        return None
    finally:
        os.close(descriptor)
    if not isinstance(data, dict):
        return None
    try:
        owner = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        owner = str(info.st_uid)
    return owner, data
