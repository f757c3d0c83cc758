"""The one masker: every secret value flowdeck has used, in each of its spellings, becomes ``***``.

Secrets are registered when they are resolved (``engine.secrets.resolve`` does it), so a value
is masked in this process from the moment it exists in memory. Everything that leaves the
process as text passes through ``mask``: ledger events and errors (the ledger's ``redact``),
log records (a log-record factory), DuckDB error text, error messages printed by the CLI and
the worker, alert payloads, console panes.

A value shorter than ``MIN_SECRET_LENGTH`` is not registered: masking a one-letter password
would replace that letter everywhere and make every message unreadable (Airflow #16007).
Besides registered values, a few shapes are always masked: the password of a URL
(``scheme://user:PASSWORD@host``), credential pairs of connection strings (``password=…``,
``PWD=…;``), Authorization values (``Bearer …``) and well-known token formats (AWS keys,
GitHub and Slack tokens, JWTs, PEM private keys). A ``${secret:NAME}`` reference is never masked:
it is how a credential is meant to be written.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import urllib.parse
from collections.abc import Iterable
from typing import Any

from flowdeck.engine.sql import render

MASK = "***"
MIN_SECRET_LENGTH = 5
MAX_DEPTH = 6  # how deep mask_value walks nested payloads

# Keys whose values are credentials whatever they hold (compared lower-case, `-` read as `_`).
SENSITIVE_KEYS = frozenset({
    "access_token", "api_key", "apikey", "authorization", "client_secret", "passphrase", "passwd",
    "password", "private_key", "refresh_token", "secret", "secret_key", "token", "auth_token",
    "master_key", "encryption_key", "pass", "pwd", "credential", "credentials", "secret_access_key",
    "session_token", "signing_key", "bearer",
})
# A word of a key (split on `_`) that makes it a credential wherever it stands (`aws_secret_access_key`,
# `db_credentials`), and endings that do even without a separator (`clientsecret`, `dbpassword`).
_SENSITIVE_WORDS = frozenset({"password", "passwd", "pwd", "passphrase", "secret", "credential", "credentials"})
_SENSITIVE_ENDINGS = ("password", "passwd", "secret", "token", "apikey", "api_key", "_pass", "_pwd", "credentials")
_PAIR_KEYS = ("password", "passwd", "pwd", "pass", "secret", "token", "api_key", "apikey", "access_token",
              "client_secret", "sslpassword")

# The password of scheme://user:password@host. The user part may be a ${env:X} reference, read
# whole, so the `:` inside a reference is never taken for the user/password separator
# (`scheme://${env:X}@host` has no password); a password that is one reference is left alone.
# `?` and `#` end the authority: in `mailto://host:25?from=a@example.com` nothing is a password.
URL_PASSWORD = re.compile(
    r"(?P<keep>\b[a-zA-Z][a-zA-Z0-9+.-]*://(?:\$\{[^}\s]*\}|\$(?!\{)|[^/\s:@'\"$?#])*:)"
    r"(?!\$\{[^}\s]*\}@)(?P<secret>[^@\s'\"/?#]+)(?=@)"
)

_ALWAYS = [
    # the password part of scheme://user:password@host (connection strings in driver errors)
    (URL_PASSWORD, "keep"),
    # key=value pairs of connection strings (libpq, ODBC, JDBC): `password=x`, `PWD=x;`, `token=x&`
    (re.compile(r"(?P<keep>(?i:\b(?:" + "|".join(_PAIR_KEYS) + r"))\s*=\s*)(?!\$\{)(?P<secret>[^\s;'\"&]+)"), "keep"),
    # an HTTP Authorization value
    # (a token has a digit or a symbol: "Bearer instrument" is prose)
    (re.compile(r"(?P<keep>\bBearer\s+)(?P<secret>(?=[A-Za-z0-9._~+/-]*[0-9._~+/-])[A-Za-z0-9._~+/-]{8,}=*)"), "keep"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), None),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"), None),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"), None),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b"), None),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S), None),
]


def spellings(value: str) -> set[str]:
    """The ways ``value`` may appear in text: as is, URL-encoded, JSON- and SQL-quoted (in every dialect), base64."""
    forms = {
        value,
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote(value),
        urllib.parse.quote_plus(value),
        json.dumps(value)[1:-1],
        repr(value)[1:-1],
        *(render.string(value, dialect)[1:-1] for dialect in render.DIALECTS),  # inside a SQL string or name
        *(render.identifier(value, dialect)[1:-1] for dialect in render.DIALECTS),
        base64.b64encode(value.encode()).decode().rstrip("="),
    }
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


class Masker:
    """A set of secret values and one compiled pattern that finds any of them."""

    def __init__(self, min_length: int = MIN_SECRET_LENGTH) -> None:
        self.min_length = min_length
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def register(self, value: str | None) -> bool:
        """Mask ``value`` (and its spellings) from now on; ``False`` if it is too short to mask."""
        if not value or len(value) < self.min_length:
            return False
        forms = spellings(value) - self._values
        if forms:
            with self._lock:
                self._values |= forms
                # longest first, so a value containing another is masked whole
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(form) for form in ordered))
        return True

    def register_all(self, values: Iterable[str]) -> None:
        """Register several values."""
        for value in values:
            self.register(value)

    def mask(self, text: str) -> str:
        """``text`` with every registered value and every always-masked shape replaced by ``***``."""
        if not text:
            return text
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        for shape, keep in _ALWAYS:
            # a template, not a function of the match: keeps the named group, masks the rest
            text = shape.sub(rf"\g<{keep}>{MASK}" if keep else MASK, text)
        return text

    def contains_secret(self, text: str) -> bool:
        """Whether ``text`` holds a registered value (used to refuse writing it anywhere durable)."""
        pattern = self._pattern
        return bool(text) and pattern is not None and pattern.search(text) is not None

    def mask_value(self, value: Any, depth: int = 0) -> Any:
        """Mask strings inside dicts and lists; values under sensitive keys are replaced whole."""
        if isinstance(value, str):
            return self.mask(value)
        if depth >= MAX_DEPTH:
            return value
        if isinstance(value, dict):
            return {key: MASK if is_sensitive_key(key) and value[key] not in (None, "") else self.mask_value(item, depth + 1)
                    for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.mask_value(item, depth + 1) for item in value)
        return value

    def forget_all(self) -> None:
        """Drop every registered value (tests only: a process never needs to unmask)."""
        with self._lock:
            self._values.clear()
            self._pattern = None


def looks_like_token(text: str) -> bool:
    """Whether ``text`` holds something with the shape of a well-known token or private key."""
    return any(shape.search(text) for shape, keep in _ALWAYS if keep is None)


def holds_credential_pair(text: str) -> bool:
    """Whether ``text`` carries a credential as a ``key=value`` pair (``host=db password=x``) or an
    Authorization value (``Bearer …``), other than a ``${secret:…}`` reference."""
    return any(shape.search(text) for shape, keep in _ALWAYS[1:3])


def is_sensitive_key(key: Any) -> bool:
    """Whether a mapping key names a credential (``password``, ``api-key``, ``SLACK_TOKEN`` ...)."""
    if not isinstance(key, str):
        return False
    name = key.lower().replace("-", "_")
    return (name in SENSITIVE_KEYS or bool(_SENSITIVE_WORDS.intersection(name.split("_")))
            or name.endswith(_SENSITIVE_ENDINGS))


_KEY_VALUE = re.compile(r"(?P<keep>(?P<key>[A-Za-z_][A-Za-z0-9_-]*)[\"']?\s*[:=]\s*)(?P<value>\"[^\"]*\"|'[^']*'|[^\s,}#]+)")


def mask_config_line(line: str) -> str:
    """A line of configuration as it may be shown: values of credential keys (``password: x``) and
    the always-masked shapes replaced by ``***``; ``${secret:NAME}`` references are kept."""

    def hide(match: re.Match[str]) -> str:
        value = match["value"]
        if not is_sensitive_key(match["key"]) or value.strip("\"'").startswith("${") or not value.strip("\"'"):
            return match.group(0)
        return match["keep"] + MASK

    return MASKER.mask(_KEY_VALUE.sub(hide, line))


MASKER = Masker()
"""The process's masker. There is exactly one; everything registers with and masks through it."""


def register_secret(value: str | None) -> bool:
    """Mask ``value`` everywhere from now on (see ``Masker.register``)."""
    return MASKER.register(value)


def mask(text: str) -> str:
    """``text`` with every known secret replaced by ``***``."""
    return MASKER.mask(text)


def mask_value(value: Any) -> Any:
    """A payload (dicts, lists, strings) with every known secret replaced by ``***``."""
    return MASKER.mask_value(value)


# -- logging ---------------------------------------------------------------------------------------

_installed = False
_install_lock = threading.Lock()


def install_log_masking() -> None:
    """Mask every log record this process creates, whichever logger or handler it goes to.

    A filter on the root logger would miss records of child loggers (filters do not
    propagate), so the record factory is wrapped instead: the message, its arguments and any
    exception text are masked when the record is made.
    """
    global _installed
    with _install_lock:
        if _installed:
            return
        make_record = logging.getLogRecordFactory()

        def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make_record(*args, **kwargs)
            _mask_record(record)
            return record

        logging.setLogRecordFactory(masked_record)
        _installed = True


def _mask_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: keep the raw parts, masked
        message = f"{record.msg} {record.args}"
    record.msg = MASKER.mask(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = MASKER.mask(logging.Formatter().formatException(record.exc_info))
        record.exc_info = None  # the masked text is used instead of formatting it again
    if record.stack_info:
        record.stack_info = MASKER.mask(record.stack_info)
