"""Where a warm server listens, who may talk to it, and how: the standard library only, since a command
imports this module before anything else to ask whether a warm server can run it (docs/operations.md,
"Warm start").

One server per OS user and flowdeck installation (the interpreter and the package folder): its socket
is ``$XDG_RUNTIME_DIR/flowdeck-warm/<installation>.sock`` (else under ``/tmp/flowdeck-warm-<uid>/``), in
a folder only that user can enter. Both sides check the other's user on the socket itself
(``SO_PEERCRED``): a command never runs in another user's process, and a server serves only its own user.

Every message is a frame: four bytes of length, then JSON. A client's command request carries its
standard input, output and error as file descriptors (``SCM_RIGHTS``) with the frame.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import struct
import sys
import zlib
from typing import Any

# os.path rather than pathlib, zlib rather than hashlib: each is a few milliseconds of every command's start
# console/cli/warm/protocol.py: three folders up is the flowdeck package (a checkout's root, or site-packages/flowdeck)
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__)))))
MAX_SOCKET_PATH = 107  # bytes: a Unix socket's address holds 108, its terminating NUL included
MAX_FRAME = 1 << 20  # a command's argv, folder and environment: far less than this
_LENGTH = struct.Struct("!I")
_PEER = struct.Struct("3i")  # struct ucred: pid, uid, gid


class ProtocolError(Exception):
    """A frame that is not one (the other side is gone, or is not a flowdeck warm server or client)."""


def installation() -> str:
    """The installation a server serves: this interpreter with this flowdeck package (two virtualenvs, or a
    checkout beside an installed wheel, never share a server; a server checks a client's, see ``key``)."""
    return f"{sys.executable}\0{PACKAGE_ROOT}"


def key() -> str:
    """A short name for ``installation()``, for its socket's file name."""
    return f"{zlib.crc32(installation().encode()):08x}"


def socket_folder() -> str:
    """This user's folder of warm servers: under ``$XDG_RUNTIME_DIR`` (the login's own, removed at logout),
    else (or when a socket path there would be too long for the kernel) under ``/tmp``, named for the user."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        folder = os.path.join(runtime, "flowdeck-warm")
        if len(os.fsencode(os.path.join(folder, f"{key()}.sock"))) <= MAX_SOCKET_PATH:
            return folder
    return f"/tmp/flowdeck-warm-{os.getuid()}"


def socket_path() -> str:
    """Where this installation's warm server for this user listens."""
    return os.path.join(socket_folder(), f"{key()}.sock")


def private_folder(folder: str) -> bool:
    """Whether ``folder`` is a real folder of this user's that no one else may enter or write: the only kind a
    client trusts a socket in (anyone may create a folder under /tmp, with a socket of theirs in it)."""
    try:
        status = os.lstat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(status.st_mode) and status.st_uid == os.getuid() and stat.S_IMODE(status.st_mode) & 0o077 == 0


def peer_uid(connection: socket.socket) -> int:
    """The user of the process at the other end of a Unix socket, as the kernel knows it."""
    _pid, uid, _gid = _PEER.unpack(connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEER.size))
    return int(uid)


def send(connection: socket.socket, message: dict[str, Any], fds: tuple[int, ...] = ()) -> None:
    """Send one frame (with ``fds`` alongside its first bytes)."""
    body = json.dumps(message).encode()
    frame = _LENGTH.pack(len(body)) + body
    sent = socket.send_fds(connection, [frame], list(fds)) if fds else 0
    if sent < len(frame):
        connection.sendall(frame[sent:])


class Frames:
    """The frames arriving on one connection, in order (one read may bring several, or part of one)."""

    def __init__(self, connection: socket.socket) -> None:
        self.connection = connection
        self._buffer = b""

    def receive(self, *, max_fds: int = 0) -> tuple[dict[str, Any], list[int]]:
        """The next frame and the file descriptors sent with its first bytes (the caller's to close);
        ``ProtocolError`` when the other side closed the connection or sent something that is not a frame."""
        fds: list[int] = []
        try:
            while len(self._buffer) < _LENGTH.size or len(self._buffer) < _LENGTH.size + self._length():
                fds += self._read(max_fds if not fds else 0)
            end = _LENGTH.size + self._length()
            body, self._buffer = self._buffer[_LENGTH.size:end], self._buffer[end:]
            message = json.loads(body)
            if not isinstance(message, dict):
                raise ProtocolError("a frame that is not a JSON object")
            return message, fds
        except (ProtocolError, ValueError, OSError) as error:
            for fd in fds:
                os.close(fd)
            if isinstance(error, ValueError):
                raise ProtocolError("a frame that is not JSON") from None
            raise

    def _length(self) -> int:
        length = int(_LENGTH.unpack_from(self._buffer)[0])
        if length > MAX_FRAME:
            raise ProtocolError(f"a frame of {length} bytes")
        return length

    def _read(self, max_fds: int) -> list[int]:
        if max_fds:
            data, fds, _flags, _address = socket.recv_fds(self.connection, 65536, max_fds)
        else:
            data, fds = self.connection.recv(65536), []
        if not data:
            for fd in fds:
                os.close(fd)
            raise ProtocolError("the other side closed the connection")
        self._buffer += data
        return list(fds)
