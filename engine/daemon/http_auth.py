"""The rule for the daemon's HTTP endpoints: loopback by default; anywhere else only with a token.

Bound to 127.0.0.1 (or ::1, localhost) the endpoints answer everyone on this machine. Bound
to any other address, every endpoint but ``/healthz`` needs ``Authorization: Bearer
<token>``, the token being ``daemon.http.token`` (a reference to a secret) or one of
``daemon.http.tokens``; with no token configured such a binding is refused at start.

Who a request acts as comes from here too: a token of ``daemon.http.tokens`` acts with the
role it is given there (POST /runs, the web console); ``daemon.http.token`` has no role of its
own (it reads the endpoints; the web console gives its bearer the role of the OS user serving it).
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
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


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def allowed_networks(project: Project) -> tuple[Network, ...] | None:
    """``daemon.http.allow`` as networks; None when every address may connect."""
    allow = project.config.daemon.http.allow
    return None if allow is None else tuple(ipaddress.ip_network(entry, strict=False) for entry in allow)


def address_allowed(address: str, networks: tuple[Network, ...] | None) -> bool:
    """Whether a client at ``address`` may talk to the endpoint at all (checked before its token)."""
    if networks is None:
        return True
    try:
        client = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(client, ipaddress.IPv6Address) and client.ipv4_mapped is not None:
        client = client.ipv4_mapped  # an IPv4 client of a dual-stack socket
    return any(client in network for network in networks)


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


@dataclass(frozen=True)
class TokenHolder:
    """Whoever presented a known token: its name (``daemon`` for daemon.http.token, ``console`` for
    console.web.token, else its key in daemon.http.tokens) and the role it acts with (None: none of its own)."""

    name: str
    role: str | None


@dataclass(frozen=True)
class Tokens:
    """The tokens a server knows, resolved, and whether reading its endpoints needs one."""

    known: tuple[tuple[str, TokenHolder], ...]
    required: bool

    def holder(self, authorization: str | None) -> TokenHolder | None:
        """Who sent ``Authorization: Bearer <token>``; None for no header or an unknown token.

        Every known token is compared, in constant time, so timing tells nothing about which exists.
        """
        found = None
        presented = (authorization or "").encode()
        for secret, holder in self.known:
            if hmac.compare_digest(presented, f"Bearer {secret}".encode()):
                found = holder
        return found if authorization else None


def known_tokens(project: Project, *, console: bool = False) -> list[tuple[str, TokenHolder]]:
    """Every token ``project`` configures, resolved (and so masked from now on): daemon.http.token,
    daemon.http.tokens and, with ``console``, console.web.token."""
    from flowdeck.engine.secrets import resolve

    http = project.config.daemon.http
    found = [(resolve(http.token, project), TokenHolder("daemon", None))] if http.token else []
    found.extend((resolve(entry.token, project), TokenHolder(name, entry.role)) for name, entry in http.tokens.items())
    web = project.config.console.web.token
    if console and web:
        found.append((resolve(web, project), TokenHolder("console", None)))
    return found


def http_tokens(project: Project, host: str) -> Tokens:
    """The daemon's tokens when it binds ``host``: reading needs one beyond loopback, or once
    daemon.http.token is set. Raises ``ConfigError`` for a binding beyond loopback with no token at all."""
    known = known_tokens(project)
    if not known and not is_loopback(host):
        http_token(project, host)  # raises, saying which setting is missing
    return Tokens(tuple(known), required=project.config.daemon.http.token is not None or not is_loopback(host))


def authorized(path: str, authorization: str | None, token: str | Tokens | None) -> bool:
    """Whether a request for ``path`` with this ``Authorization`` header may be answered."""
    if token is None or path.split("?", 1)[0] in OPEN_PATHS:
        return True
    if isinstance(token, Tokens):
        return not token.required or token.holder(authorization) is not None
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
