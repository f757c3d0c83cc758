"""Who may open the console in a browser, and as what role: the rules of `flowdeck console --web`.

On 127.0.0.1 (the default) every browser of this machine may open it, with the role of the OS user
serving it. Anywhere else, and whenever ``console.web.token`` is set, a browser must present a
token (console.web.token, daemon.http.token, or one of daemon.http.tokens), and a binding beyond
loopback also needs TLS: its own certificate, or a reverse proxy terminating TLS named by
``public_url: https://...``. A session acts with the role its token carries (daemon.http.tokens),
else with the serving user's; never with more than the serving user's, since it runs as that user.
No aiohttp here: the server (``console.web.server``) asks these rules.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from flowdeck.engine.daemon.http_auth import TokenHolder, Tokens, is_loopback, known_tokens
from flowdeck.engine.errors import ConfigError
from flowdeck.engine.governance.roles import Identity, at_most, role_of
from flowdeck.engine.project.project import Project

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARDS = ("0.0.0.0", "::", "[::]", "")


@dataclass(frozen=True)
class WebSession:
    """One browser's session: the token it came with (None on an open loopback server) and its role."""

    holder: TokenHolder | None
    role: str

    @property
    def label(self) -> str:
        """How the audit log names the session's token: ``local`` when there was none."""
        return self.holder.name if self.holder else "local"


@dataclass
class WebAccess:
    """The web console's address, TLS, tokens and the serving user's role, checked once at start."""

    host: str
    port: int
    public_url: str
    tokens: Tokens
    server_role: str
    ssl_context: ssl.SSLContext | None = None
    origins: frozenset[str] = field(default_factory=frozenset)

    @property
    def hosts(self) -> frozenset[str]:
        """The ``Host`` headers a request may carry (``host:port`` of every allowed origin)."""
        return frozenset(urlsplit(origin).netloc for origin in self.origins)

    def session(self, holder: TokenHolder | None) -> WebSession:
        """The session of a browser that presented ``holder``'s token (or none)."""
        role = holder.role if holder is not None and holder.role else self.server_role
        return WebSession(holder, at_most(role, self.server_role))


def web_access(project: Project, host: str | None = None, port: int | None = None) -> WebAccess:
    """The rules for serving ``project``'s console on ``host:port`` (console.web's by default).

    Raises ``ConfigError`` for what would expose the console: beyond loopback without a token,
    without TLS or a reverse proxy, or on a wildcard address without ``public_url``.
    """
    settings = project.config.console.web
    host = settings.host if host is None else host
    port = settings.port if port is None else port
    loopback = is_loopback(host)
    if settings.tls_certificate and not settings.tls_key or settings.tls_key and not settings.tls_certificate:
        raise ConfigError("console.web: tls_certificate and tls_key go together",
                          hint="set both (PEM files), or neither")
    tls = bool(settings.tls_certificate)
    if settings.public_url:
        public_url = settings.public_url.rstrip("/")
        parts = urlsplit(public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"console.web.public_url: {settings.public_url!r} is not an http:// or https:// address",
                              hint="the address browsers open, e.g. https://flowdeck.example.com")
    elif host in WILDCARDS:
        raise ConfigError(f"console.web: listening on {host or 'every address'}, flowdeck cannot tell browsers "
                          "where to connect", hint="set console.web.public_url to the address browsers open")
    else:
        public_url = f"{'https' if tls else 'http'}://{_bracketed(host)}:{port}"
    proxied_tls = urlsplit(public_url).scheme == "https" and not tls
    exposed = not loopback or not is_loopback(urlsplit(public_url).hostname or "")
    known = known_tokens(project, console=True)
    required = exposed or settings.token is not None
    if required and not known:
        raise ConfigError(
            f"the web console would be reachable beyond this machine ({public_url}) without a token",
            hint="set `console.web.token: ${secret:CONSOLE_WEB_TOKEN}` in flowdeck.yaml "
            "(`flowdeck secrets set CONSOLE_WEB_TOKEN --generate`), or serve it on 127.0.0.1",
        )
    if not loopback and not tls and not proxied_tls:
        raise ConfigError(
            f"the web console would listen on {host} without TLS: its token would cross the network in clear",
            hint="set console.web.tls_certificate and tls_key, or put a reverse proxy terminating TLS in front "
            "and set console.web.public_url: https://... (docs/console.md)",
        )
    origins = {f"{urlsplit(public_url).scheme}://{urlsplit(public_url).netloc}"}
    if loopback:
        scheme = "https" if tls else "http"
        origins.update(f"{scheme}://{name}:{port}" for name in LOOPBACK_NAMES)
    return WebAccess(
        host=host, port=port, public_url=public_url, tokens=Tokens(tuple(known), required=required),
        server_role=role_of(Identity.current(), project.config.roles),
        ssl_context=_ssl_context(project, settings.tls_certificate, settings.tls_key) if tls else None,
        origins=frozenset(origins),
    )


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _ssl_context(project: Project, certificate: str | None, key: str | None) -> ssl.SSLContext:
    assert certificate and key
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(project.resolve_path(certificate), project.resolve_path(key))
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f"console.web: cannot load the TLS certificate {certificate} and key {key}: "
                          f"{getattr(error, 'strerror', None) or error}",
                          hint="give PEM files this user can read (paths relative to the project)") from None
    return context
