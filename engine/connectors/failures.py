"""Driver errors turned into plain words: which of DNS, refused, timeout, TLS, authentication,
missing database, permission or missing table went wrong, and what to do about it.

The driver's own words follow ours, masked: a connection string or a password never shows.
"""

from __future__ import annotations

import re
from typing import Any

from flowdeck.engine.errors import StepFailed
from flowdeck.engine.masking import mask

# (reason, pattern over the driver's message or SQLSTATE) in the order they are tried: a refused
# port says "refused" whatever sslmode is; a login refused by pg_hba mentions SSL but is authentication.
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("dns", re.compile(r"could not translate host name|Name or service not known|nodename nor servname|"
                       r"Temporary failure in name resolution|No address associated with hostname", re.I)),
    ("refused", re.compile(r"Connection refused|No route to host|Network is unreachable", re.I)),
    ("timeout", re.compile(r"timeout expired|timed out", re.I)),
    ("authentication", re.compile(r"password authentication failed|authentication failed|no password supplied|"
                                  r"no pg_hba\.conf entry|role \"[^\"]*\" does not exist|SQLSTATE: 28", re.I)),
    ("tls", re.compile(r"\bSSL\b|\bTLS\b|certificate|sslmode|private key file", re.I)),
    ("database", re.compile(r"database \"[^\"]*\" does not exist|SQLSTATE: 3D000", re.I)),
    ("permission", re.compile(r"permission denied|SQLSTATE: 42501|attempt to write a readonly database|"
                              r"access permission denied|readonly database", re.I)),
    ("missing_table", re.compile(r"relation \"[^\"]*\" does not exist|no such table|SQLSTATE: 42P01", re.I)),
    ("missing_database", re.compile(r"unable to open database file", re.I)),
]
# A query's failure carries its SQLSTATE, which says it without reading the message.
_SQLSTATES = {"42501": "permission", "42P01": "missing_table", "3F000": "missing_table", "3D000": "database",
              "28000": "authentication", "28P01": "authentication"}
TRANSIENT = frozenset({"dns", "refused", "timeout"})  # may pass on their own: worth a retry

_HOST = re.compile(r'(?:server at|host name) "(?P<host>[^"]+)"(?:, port (?P<port>\d+))?')
_ROLE = re.compile(r'for user "(?P<user>[^"]+)"|role "(?P<role>[^"]+)"')
_RELATION = re.compile(r'relation "(?P<name>[^"]+)"|no such table: (?P<sqlite>\S+)|for (?:table|schema|relation) '
                       r'(?P<object>\S+)')


class ConnectionFailed(StepFailed):
    """A database could not be reached or refused what flowdeck asked; ``reason`` says which way."""

    def __init__(self, what: str, *, reason: str, connection: str, **kwargs: Any) -> None:
        self.reason = reason
        self.connection = connection
        super().__init__(what, transient=reason in TRANSIENT, **kwargs)


def reason_of(error: BaseException) -> str:
    """Which kind of failure a driver error is (``unknown`` when none matches)."""
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate in _SQLSTATES:
        return _SQLSTATES[sqlstate]
    text = _driver_text(error)
    for reason, pattern in _PATTERNS:
        if pattern.search(text):
            return reason
    return "unknown"


def explain(error: BaseException, *, connection: str, where: str, doing: str, table: str | None = None,
            user: str | None = None) -> ConnectionFailed:
    """A ``ConnectionFailed`` for ``error`` raised while ``doing`` something with ``connection`` at ``where``."""
    if isinstance(error, ConnectionFailed):
        return error
    text = _driver_text(error)
    reason = reason_of(error)
    said = mask(_first_lines(text))
    host = _HOST.search(text)
    at = f"{host['host']}:{host['port']}" if host and host["port"] else (host["host"] if host else where)
    named = _RELATION.search(text)
    table_name = table or (next((g for g in named.groups() if g), None) if named else None)
    role = _ROLE.search(text)
    who = user or (next((g for g in role.groups() if g), None) if role else None)
    what, hint = _words(reason, connection=connection, at=at, table=table_name, user=who)
    return ConnectionFailed(mask(f"{doing}: {what} (the driver said: {said})"), reason=reason, connection=connection,
                            hint=mask(hint))


# reason -> (what happened, what to do); filled with at, setting, connection, account, subject.
_WORDS: dict[str, tuple[str, str]] = {
    "dns": ("cannot find the host of {at} (DNS lookup failed)",
            "check the host name in {setting}.uri, and that this machine can resolve it"),
    "refused": ("nothing accepts connections at {at} (connection refused)",
                "check the host and port in {setting}.uri, that the server runs and listens there, "
                "and that no firewall is in the way"),
    "timeout": ("{at} did not answer in time (connection timed out)",
                "check that the server is up and reachable from here; raise {setting}.connect_timeout if it is slow"),
    "tls": ("the TLS (SSL) handshake with {at} failed",
            "check {setting}.sslmode and sslrootcert: `require` and the verify modes need a server with TLS on, "
            "and verify-ca/verify-full need the CA certificate that signed the server's"),
    "authentication": ("{at} refused the login of {account} (authentication failed)",
                       "check {setting}.user and the secret {setting}.password refers to "
                       "(`flowdeck secrets set NAME` stores a new one)"),
    "database": ("the database named in {setting}.uri does not exist on {at}",
                 "check the database name at the end of {setting}.uri"),
    "permission": ("the database user has no permission {on_table} (permission denied)",
                   "grant the user what the step needs: SELECT to extract; INSERT, DELETE (or TRUNCATE) and "
                   "CREATE on the schema to load"),
    "missing_table": ("{the_table} does not exist in {at}",
                      "check the table name (and schema) in pipeline.yaml, or `flowdeck connections test "
                      "{connection}` to see what it can read"),
    "missing_database": ("cannot open the SQLite database {at}",
                         "check {setting}.uri: the file must exist (for a load, its folder must) and be readable"),
    "unknown": ("the database reported an error", "see what the driver said above"),
}


def _words(reason: str, *, connection: str, at: str, table: str | None, user: str | None) -> tuple[str, str]:
    what, hint = _WORDS.get(reason, _WORDS["unknown"])
    fields = {"at": at, "connection": connection, "setting": f"connections.{connection}",
              "account": f"user `{user}`" if user else "the user",
              "on_table": f"on `{table}`" if table else "for this",
              "the_table": f"table `{table}`" if table else "the table"}
    return what.format(**fields), hint.format(**fields)


def _driver_text(error: BaseException) -> str:
    text = str(error)
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate and "SQLSTATE" not in text:
        text += f" SQLSTATE: {sqlstate}"
    return text


def _first_lines(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    kept = [line for line in lines if not line.startswith(("Query was:", "LINE ", "^"))]
    return " ".join(kept[:2]) if kept else text.strip()
