"""An encrypted file of secrets under ``.flowdeck/``, for servers without a keyring backend.

The file holds one AES-256-GCM encrypted JSON object (name → value). Its key is derived
with scrypt from the master key (``FLOWDECK_MASTER_KEY``, from the environment or a systemd
credential) and a random salt kept in the file. Nothing in it is readable without the master
key, not even the names. Writes are atomic (a new file renamed into place) and serialised
with a lock file, so two ``flowdeck secrets set`` at once lose nothing.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import secrets as random
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.project.sharing import file_mode

FORMAT = "flowdeck-secrets"
VERSION = 1
_AAD = b"flowdeck-secrets-v1"
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}


class SecretsError(FlowdeckError):
    """Secrets cannot be stored or read: no backend, a wrong or missing master key, a bad file."""


@lru_cache(maxsize=8)
def _derive(master_key: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(master_key.encode())


class FileKeyring:
    """Secrets in one encrypted file, opened with a master key."""

    def __init__(self, path: Path, master_key: str) -> None:
        self.path = path
        self._master_key = master_key

    # -- reading -----------------------------------------------------------------------------

    def read_all(self) -> dict[str, str]:
        """Every secret; an empty mapping when the file does not exist yet."""
        try:
            envelope = json.loads(self.path.read_text(encoding="ascii"))
        except FileNotFoundError:
            return {}
        except PermissionError:
            raise SecretsError(f"this user cannot read the secrets file {self.path}",
                               hint="share the runtime folder with a group that holds this user (docs/security.md, "
                               "\"File permissions\"), then have an admin set the secret again") from None
        except (OSError, ValueError) as error:
            raise SecretsError(f"cannot read the secrets file {self.path}: {error}",
                               hint="restore it from a backup, or remove it and set the secrets again") from None
        if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
            raise SecretsError(f"{self.path} is not a flowdeck secrets file")
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        kdf = envelope["kdf"]
        key = _derive(self._master_key, base64.b64decode(kdf["salt"]), kdf["n"], kdf["r"], kdf["p"])
        try:
            plain = AESGCM(key).decrypt(base64.b64decode(envelope["nonce"]), base64.b64decode(envelope["ciphertext"]), _AAD)
        except InvalidTag:
            raise SecretsError(
                f"the master key does not open {self.path}",
                hint="FLOWDECK_MASTER_KEY must be the key the file was created with; "
                "a lost master key cannot be recovered: remove the file and set the secrets again",
            ) from None
        return dict(json.loads(plain))

    def get(self, name: str) -> str | None:
        """One secret, or ``None``."""
        return self.read_all().get(name)

    def names(self) -> list[str]:
        """Names of the stored secrets, sorted."""
        return sorted(self.read_all())

    # -- writing -----------------------------------------------------------------------------

    def set(self, name: str, value: str) -> None:
        """Store or replace one secret."""
        with self._locked():
            values = self.read_all()
            values[name] = value
            self._write(values)

    def delete(self, name: str) -> bool:
        """Remove one secret; ``False`` if there was none by that name."""
        with self._locked():
            values = self.read_all()
            if name not in values:
                return False
            del values[name]
            self._write(values)
            return True

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, file_mode(self.path.parent))
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)

    def _write(self, values: dict[str, str]) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        salt = random.token_bytes(16)  # a fresh salt and nonce on every write
        nonce = random.token_bytes(12)
        key = _derive(self._master_key, salt, _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"])
        ciphertext = AESGCM(key).encrypt(nonce, json.dumps(values, sort_keys=True).encode(), _AAD)
        envelope = {
            "format": FORMAT,
            "version": VERSION,
            "cipher": "AES-256-GCM",
            "kdf": {"name": "scrypt", "salt": base64.b64encode(salt).decode(), **_SCRYPT},
            "nonce": base64.b64encode(nonce).decode(),
            "ciphertext": base64.b64encode(ciphertext).decode(),
        }
        partial = self.path.with_name(f".{self.path.name}.partial-{os.getpid()}")
        # 0600, or 0660 in a runtime folder shared with a group: the daemon reads what an admin stored
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, file_mode(self.path.parent))
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                json.dump(envelope, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, self.path)
        finally:
            partial.unlink(missing_ok=True)
