"""The warehouse's seal: what a run knew of the DuckDB file when it closed it, while the file is untouched since.

A run that reuses every step (all ``unchanged``) reads nothing from the warehouse but whether its
output tables are still there, under which warehouse id, and that the ledger knows every commit in
it. Opening DuckDB to ask costs a tenth of a second (importing it, connecting, reading the meta
schema), so a writer leaves a seal beside the file as it closes it: the file's identity (device,
inode, size, modification time, and a hash of its headers, which every DuckDB checkpoint rewrites),
the warehouse id, its last commit marker and the tables and views it holds. While the file still
matches (no write-ahead log beside it: nothing written since, nothing being written) and no process
holds it open, those facts are true without opening it; any change, by flowdeck or anything else,
breaks the seal, and the next run opens the warehouse as always (waiting for a holder as always).
This module never imports DuckDB.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

from flowdeck.engine.project.project import wal_path
from flowdeck.engine.project.sharing import file_mode

HEAD_BYTES = 12288  # DuckDB's main header and both database headers (the checkpoint's iteration is in them)
_FLOCK = "hhqqi4x"  # Linux's struct flock: type, whence, start, length, pid (and padding)


@dataclass(frozen=True)
class WarehouseFacts:
    """What the warehouse holds, read before it is closed (``Backend.seal_facts``)."""

    warehouse_id: str
    last_seq: int  # the last commit marker's number (0: none)
    tables: frozenset[str]  # the tables and views in the main schema


@dataclass(frozen=True)
class Seal:
    """Facts about the warehouse file, true while the file is as it was when they were sealed."""

    facts: WarehouseFacts
    identity: tuple[int, int, int, int, str]  # device, inode, size, mtime (ns), sha256 of its headers


def seal_path(warehouse: Path) -> Path:
    """Where the seal of ``warehouse`` is kept: beside it."""
    return warehouse.with_name(warehouse.name + ".seal")


def file_identity(warehouse: Path) -> tuple[int, int, int, int, str] | None:
    """The file as it is now, or None when it cannot be sealed: missing, or a write-ahead log beside it
    (changes not checkpointed yet: a writer is at work, or one stopped without closing)."""
    try:
        if os.path.lexists(wal_path(warehouse)):
            return None
        with open(warehouse, "rb") as handle:
            info = os.fstat(handle.fileno())
            head = hashlib.sha256(handle.read(HEAD_BYTES)).hexdigest()
    except OSError:
        return None
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, head


def write_seal(warehouse: Path, facts: WarehouseFacts) -> None:
    """Seal ``warehouse`` (just closed by this process) with ``facts``; best effort: without a seal the
    next run opens the warehouse, as it always could."""
    identity = file_identity(warehouse)
    path = seal_path(warehouse)
    if identity is None:
        remove_seal(warehouse)
        return
    document = {"identity": list(identity), "warehouse_id": facts.warehouse_id, "last_seq": facts.last_seq,
                "tables": sorted(facts.tables)}
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, file_mode(path.parent))
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(document, handle)
        os.replace(partial, path)
    except OSError:
        partial.unlink(missing_ok=True)
        remove_seal(warehouse)


def remove_seal(warehouse: Path) -> None:
    """Forget the seal of ``warehouse`` (best effort: a stale one is never believed anyway)."""
    try:
        seal_path(warehouse).unlink(missing_ok=True)
    except OSError:
        pass


def held(warehouse: Path) -> bool:
    """Whether a process holds ``warehouse`` open (DuckDB locks the file with ``fcntl``: a writer exclusively,
    a reader shared): then a run goes through the warehouse, waiting for it as always. Asked without taking
    any lock (``F_GETLK``); outside Linux, where ``struct flock`` is laid out otherwise, the answer is yes."""
    if sys.platform != "linux":
        return True
    try:
        descriptor = os.open(warehouse, os.O_RDONLY)
    except OSError:
        return True
    try:
        asked = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)  # could a writer lock all of it?
        answer = struct.unpack(_FLOCK, fcntl.fcntl(descriptor, fcntl.F_GETLK, asked))
    except OSError:
        return True
    finally:
        os.close(descriptor)
    return bool(answer[0] != fcntl.F_UNLCK)


def read_seal(warehouse: Path) -> Seal | None:
    """The seal of ``warehouse`` while the file is exactly as it was sealed and no process holds it; None otherwise."""
    try:
        document = json.loads(seal_path(warehouse).read_text(encoding="utf-8"))
        device, inode, size, mtime, head = document["identity"]
        sealed = (int(device), int(inode), int(size), int(mtime), str(head))
        facts = WarehouseFacts(warehouse_id=str(document["warehouse_id"]), last_seq=int(document["last_seq"]),
                               tables=frozenset(str(name) for name in document["tables"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if file_identity(warehouse) != sealed or held(warehouse):
        return None
    return Seal(facts=facts, identity=sealed)
