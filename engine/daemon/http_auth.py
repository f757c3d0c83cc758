"""The rule for the daemon's HTTP endpoints: loopback by default; anywhere else only with a token.

Bound to 127.0.0.1 (or ::1, localhost) the endpoints answer everyone on this machine. Bound
to any other address, every endpoint but ``/healthz`` needs ``Authorization: Bearer
<token>``, the token being ``daemon.http.token`` (a reference to a secret); with no token
configured such a binding is refused at start.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import TYPE_CHECKING

from flowdeck.engine.errors import ConfigError

if TYPE_CHECKING:
    from flowdeck.engine.project.project import Project

OPEN_PATHS = frozenset({"/healthz"})
DEFAULT_HOST = "127.0.0.1"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (127.0.0.0/8, ::1) or ``localhost``."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def http_token(project: Project, host: str) -> str | None:
    """The token requests must carry when the daemon binds ``host``; ``None`` on loopback without one.

    Raises ``ConfigError`` for a non-loopback binding without ``daemon.http.token``.
    """
    reference = project.config.daemon.http.token
    if reference is None:
        if is_loopback(host):
            return None
        raise ConfigError(
            f"the daemon would listen on {host}, beyond this machine, without a token",
            hint="set `daemon.http.token: ${secret:DAEMON_HTTP_TOKEN}` in flowdeck.yaml "
            "(`flowdeck secrets set DAEMON_HTTP_TOKEN --generate`), or bind 127.0.0.1",
        )
    from flowdeck.engine.secrets import resolve

    return resolve(reference, project)


def authorized(path: str, authorization: str | None, token: str | None) -> bool:
    """Whether a request for ``path`` with this ``Authorization`` header may be answered."""
    if token is None or path.split("?", 1)[0] in OPEN_PATHS:
        return True
    if not authorization:
        return False
    return hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode())


def client_token(project: Project) -> str | None:
    """The token this process can present to the project's daemon (``flowdeck status``): ``None`` when
    none is configured or this user cannot read the secret it names (an operator without it still
    learns the daemon's health from /healthz, which needs none, and its readiness from its lease)."""
    reference = project.config.daemon.http.token
    if reference is None:
        return None
    from flowdeck.engine.errors import FlowdeckError
    from flowdeck.engine.secrets import resolve

    try:
        return resolve(reference, project)
    except FlowdeckError:
        return None
