"""Where secrets live and the order they are looked up in.

``flowdeck secrets set`` writes to the OS keyring when this machine has a keyring backend,
else to the encrypted file keyring under ``.flowdeck/`` (unlocked by ``FLOWDECK_MASTER_KEY``);
with neither it refuses and says how to set one up. It never writes plain text.

A ``${secret:NAME}`` is looked up in that store, then in systemd credentials
(``$CREDENTIALS_DIRECTORY/NAME``), then in the environment (``FLOWDECK_SECRET_NAME``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from flowdeck.engine.masking import MIN_SECRET_LENGTH, register_secret
from flowdeck.engine.secrets.filekeyring import FileKeyring, SecretsError
from flowdeck.engine.secrets.references import is_valid_name

if TYPE_CHECKING:
    from flowdeck.engine.project.project import Project

MASTER_KEY_ENV = "FLOWDECK_MASTER_KEY"
SECRET_ENV_PREFIX = "FLOWDECK_SECRET_"
CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"
SECRETS_FILE = "secrets.enc"
MIN_MASTER_KEY_LENGTH = 16
_INDEX = "__flowdeck_index__"  # keyring cannot list entries, so the names are kept in one more entry

SETUP_HINT = (  # lines a terminal shows whole: a hint is read, not scrolled sideways
    "either give flowdeck a master key for its encrypted file keyring under .flowdeck/:\n"
    f'    export {MASTER_KEY_ENV}="$(flowdeck secrets new-master-key)"   # keep a copy somewhere safe\n'
    f"  (for the daemon under systemd: LoadCredential={MASTER_KEY_ENV}:/etc/flowdeck/master-key),\n"
    "  or install and unlock a keyring backend (e.g. the Secret Service in a D-Bus session;\n"
    "  `python -m keyring --list-backends` shows what is available).\n"
    "  flowdeck never keeps secrets in plain text"
)


class SecretStore(Protocol):
    """A place secrets can be written to and read from."""

    where: str

    def get(self, name: str) -> str | None: ...
    def set(self, name: str, value: str) -> None: ...
    def delete(self, name: str) -> bool: ...
    def names(self) -> list[str]: ...


def keyring_service(project: Project) -> str:
    """The keyring service name of a project's secrets."""
    return f"flowdeck/{project.config.name}"


class KeyringStore:
    """Secrets in the OS keyring, under the project's service name."""

    def __init__(self, backend: object, service: str) -> None:
        self._backend = backend
        self.service = service
        self.where = f"the keyring ({type(backend).__name__}, service {service})"

    def get(self, name: str) -> str | None:
        return self._call("get_password", name)

    def set(self, name: str, value: str) -> None:
        self._call("set_password", name, value)
        names = set(self.names()) | {name}
        self._call("set_password", _INDEX, json.dumps(sorted(names)))

    def delete(self, name: str) -> bool:
        import keyring.errors

        try:
            self._call("delete_password", name)
            existed = True
        except keyring.errors.PasswordDeleteError:
            existed = False
        names = set(self.names()) - {name}
        self._call("set_password", _INDEX, json.dumps(sorted(names)))
        return existed

    def names(self) -> list[str]:
        raw = self._call("get_password", _INDEX)
        return sorted(json.loads(raw)) if raw else []

    def _call(self, method: str, *args: str) -> str | None:
        import keyring.errors

        try:
            value: str | None = getattr(self._backend, method)(self.service, *args)  # keyring's calls, by name
            return value
        except keyring.errors.PasswordDeleteError:
            raise
        except keyring.errors.KeyringError as error:
            raise SecretsError(f"the keyring refused: {error}", hint="unlock the keyring, or " + SETUP_HINT) from None


class FileStore:
    """Secrets in the encrypted file keyring."""

    def __init__(self, path: Path, master_key: str) -> None:
        self._file = FileKeyring(path, master_key)
        self.path = path
        self.where = f"the encrypted file keyring {path}"

    def get(self, name: str) -> str | None:
        return self._file.get(name)

    def set(self, name: str, value: str) -> None:
        self._file.set(name, value)

    def delete(self, name: str) -> bool:
        return self._file.delete(name)

    def names(self) -> list[str]:
        return self._file.names()


def os_keyring() -> object | None:
    """The OS keyring backend, or ``None`` when this machine has none (or only a plain-text one)."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:  # pragma: no cover - keyring is a dependency
        return None
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 0) <= 0:
        return None
    if "plaintext" in type(backend).__name__.lower():  # keyrings.alt's PlaintextKeyring: never plain text
        return None
    return backend


def credential_file(name: str) -> str | None:
    """A systemd credential (``$CREDENTIALS_DIRECTORY/NAME``), without its trailing newline."""
    folder = os.environ.get(CREDENTIALS_ENV)
    if not folder:
        return None
    path = Path(folder) / name
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except (FileNotFoundError, IsADirectoryError):
        return None
    except OSError as error:
        raise SecretsError(f"cannot read the systemd credential {path}: {error.strerror}") from None


_handed: str | None = None  # given to this process on a pipe (a worker), never through its environment


def hand_master_key(key: str) -> None:
    """Use ``key`` as the master key in this process (a worker reads it from its parent on stdin)."""
    global _handed
    _handed = key


def withheld_master_key() -> tuple[dict[str, str], str | None]:
    """The environment for a child process, without the master key, and the key to hand it on a pipe.

    A run's SQL executes in the child: what its environment holds, SQL could try to read
    (``/proc/self/environ``), so the key travels on stdin instead (``--master-key-on-stdin``).
    """
    environment = {name: value for name, value in os.environ.items() if name != MASTER_KEY_ENV}
    return environment, _handed or os.environ.get(MASTER_KEY_ENV) or None


def master_key() -> str | None:
    """The master key of the file keyring: handed to this process, from the environment, or a systemd credential."""
    key = _handed or os.environ.get(MASTER_KEY_ENV) or credential_file(MASTER_KEY_ENV)
    if not key:
        return None
    if len(key) < MIN_MASTER_KEY_LENGTH:
        raise SecretsError(
            f"{MASTER_KEY_ENV} is too short ({len(key)} characters; at least {MIN_MASTER_KEY_LENGTH})",
            hint=f'generate a strong one: export {MASTER_KEY_ENV}="$(flowdeck secrets new-master-key)"',
        )
    register_secret(key)
    return key


def secrets_file(project: Project) -> Path:
    """The encrypted file keyring of a project."""
    return project.runtime_dir / SECRETS_FILE


def open_store(project: Project) -> SecretStore:
    """Where this machine keeps the project's secrets; refuses, with setup steps, when nowhere is safe."""
    backend = os_keyring()
    if backend is not None:
        return KeyringStore(backend, keyring_service(project))
    key = master_key()
    if key is not None:
        return FileStore(secrets_file(project), key)
    raise SecretsError(
        f"no keyring backend is available on this machine and {MASTER_KEY_ENV} is not set, "
        "so there is nowhere safe to keep secrets",
        hint=SETUP_HINT,
    )


def check_name(name: str) -> None:
    """Refuse a name that a ``${secret:NAME}`` reference could not spell."""
    if not is_valid_name(name):
        raise SecretsError(f"{name!r} is not a valid secret name",
                           hint="use letters, digits, `_`, `.` and `-`, starting with a letter (e.g. PG_PASSWORD)")


def check_maskable(name: str, value: str) -> None:
    """Refuse a value too short for the masker: it would be shown in clear in logs, errors and the ledger."""
    if len(value) < MIN_SECRET_LENGTH:
        raise SecretsError(
            f"refusing to store `{name}`: its value has {len(value)} characters, and flowdeck masks only values "
            f"of at least {MIN_SECRET_LENGTH} (masking a shorter one would blank that text everywhere), so this "
            "one would appear in clear in logs, error messages and the ledger",
            hint=f"use a longer secret (`flowdeck secrets set {name} --generate` makes one); if the system it "
            "unlocks only takes this one, store it with --allow-short, knowing it will not be masked",
        )


def env_name(name: str) -> str:
    """The environment variable that can hold secret ``name``: ``FLOWDECK_SECRET_PG_PASSWORD``."""
    return SECRET_ENV_PREFIX + name.upper().replace("-", "_").replace(".", "_")


def lookup(project: Project, name: str) -> str:
    """The value of secret ``name``: the store, then systemd credentials, then the environment."""
    looked: list[str] = []
    store: SecretStore | None = None
    try:
        store = open_store(project)
    except SecretsError:
        if secrets_file(project).exists() and not os.environ.get(MASTER_KEY_ENV):
            looked.append(f"the encrypted file keyring {secrets_file(project)} (locked: {MASTER_KEY_ENV} is not set)")
    if store is not None:
        value = store.get(name)
        if value is not None:
            return value
        looked.append(store.where)
    value = credential_file(name)
    if value is not None:
        return value
    looked.append(f"systemd credentials (${CREDENTIALS_ENV}/{name})" if os.environ.get(CREDENTIALS_ENV)
                  else f"systemd credentials (${CREDENTIALS_ENV} is not set)")
    value = os.environ.get(env_name(name))
    if value is not None:
        return value
    looked.append(f"the environment ({env_name(name)})")
    raise SecretsError(
        f"secret `{name}` is not set; looked in " + ", ".join(looked),
        hint=f"store it with `flowdeck secrets set {name}`",
    )


def store_secret(project: Project, name: str, value: str, *, allow_short: bool = False) -> tuple[str, bool]:
    """Store ``value`` as secret ``name`` in the project's store; return where it went and whether the
    masker hides it. The value is registered with the masker first, so no later message can show it.

    A value shorter than the masker's minimum is refused unless ``allow_short``: it could not be
    masked, so it would appear in clear wherever it is printed or logged.
    """
    check_name(name)
    if not value:
        raise SecretsError(f"refusing to store an empty value for `{name}`")
    if not allow_short:
        check_maskable(name, value)
    maskable = register_secret(value)
    store = open_store(project)
    store.set(name, value)
    return store.where, maskable
