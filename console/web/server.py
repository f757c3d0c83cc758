"""The console in a browser: textual-serve runs one `flowdeck console` process per browser session,
behind the rules of ``console.web.access``.

textual-serve (pinned) serves a page whose script opens a websocket to ``/ws``; for each websocket
it starts the configured command with Textual's web driver and relays the terminal both ways. This
module adds what it leaves to its user: a guard in front of every route (token, cookie session,
``Origin`` and ``Host`` checks), TLS, and a command per session, so each browser's console runs
with that session's role and is audited as a web session.
"""

from __future__ import annotations

import contextvars
import secrets
import shlex
import sys
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from aiohttp import web
from textual_serve.server import Server

from flowdeck.console.web.access import WebAccess, WebSession
from flowdeck.engine.project.project import Project

COOKIE = "flowdeck_console"
MAX_SESSIONS = 1000  # sessions remembered; past that the oldest must present its token again
# the session of the request being handled: the middleware sets it, the websocket handler (same task) reads it
_SESSION: contextvars.ContextVar[WebSession] = contextvars.ContextVar("flowdeck_web_session")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ConsoleServer(Server):  # type: ignore[misc]  # textual-serve ships no type information for mypy's use here
    """textual-serve's server for one project, guarded, with a console command per browser session."""

    def __init__(self, project: Project, access: WebAccess, *, read_only: bool = False,
                 theme: str | None = None) -> None:
        self.project = project
        self.access = access
        self.options = (["--read-only"] if read_only else []) + (["--theme", theme] if theme else [])
        self._sessions: dict[str, WebSession] = {}
        super().__init__(command="", host=access.host.strip("[]"), port=access.port,
                         title=f"flowdeck: {project.config.name}", public_url=access.public_url)

    # textual-serve reads ``self.command`` when a browser's websocket opens, inside that request's task,
    # where the guard has set the session: so each browser gets a console with its own role.
    @property
    def command(self) -> str:
        """The console command of the session being served."""
        session = _SESSION.get()
        return shlex.join([sys.executable, "-m", "flowdeck.console.cli.main", "--project", str(self.project.root),
                           "console", "--role", session.role, "--web-session", session.label, *self.options])

    @command.setter
    def command(self, value: str) -> None:
        """textual-serve's constructor sets one command for everyone; each session builds its own instead."""

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self._guard())
        return app

    def _guard(self) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
        access = self.access

        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            origin = request.headers.get("Origin")
            if origin is not None and origin not in access.origins:  # another site's page driving this console
                return _refuse(403, f"requests from {origin} are not accepted here")
            if not access.tokens.required and request.host not in access.hosts:  # DNS rebinding to loopback
                return _refuse(403, f"this console answers to {', '.join(sorted(access.hosts))} only")
            session, offered = self._session_of(request)
            if session is None:
                return _refuse(401, "wrong token" if offered else "open this page with ?token=<your token> "
                               "(console.web.token, daemon.http.token or one of daemon.http.tokens)")
            if "token" in request.query:  # keep the token out of the address bar, history and proxy logs
                return self._remember(request, session)
            _SESSION.set(session)
            return await handler(request)

        return guard

    def _session_of(self, request: web.Request) -> tuple[WebSession | None, bool]:
        """The request's session (None when it must show a token and did not), and whether it offered one."""
        tokens = self.access.tokens
        offered = request.query.get("token")
        if offered is not None:
            holder = tokens.holder(f"Bearer {offered}")
            return (self.access.session(holder) if holder else None), True
        authorization = request.headers.get("Authorization")
        if authorization:
            holder = tokens.holder(authorization)
            return (self.access.session(holder) if holder else None), True
        remembered = self._sessions.get(request.cookies.get(COOKIE, ""))
        if remembered is not None:
            return remembered, True
        return (None if tokens.required else self.access.session(None)), False

    def _remember(self, request: web.Request, session: WebSession) -> web.StreamResponse:
        """Answer a first visit with ?token=: a session cookie, and the same page without the token."""
        if len(self._sessions) >= MAX_SESSIONS:
            self._sessions.pop(next(iter(self._sessions)))
        key = secrets.token_urlsafe(32)
        self._sessions[key] = session
        rest = {name: value for name, value in request.query.items() if name != "token"}
        response = web.HTTPSeeOther(request.path + (f"?{urlencode(rest)}" if rest else ""))
        response.set_cookie(COOKIE, key, httponly=True, samesite="Strict", path="/",
                            secure=self.access.public_url.startswith("https://"))
        return response

    async def on_startup(self, app: web.Application) -> None:
        """Say where the console is served, and how to get in."""
        access = self.access
        how = "open it with ?token=<your token> once; a session cookie does the rest" if access.tokens.required \
            else "any browser on this machine may open it"
        print(f"serving the console of {self.project.config.name} at {access.public_url}/ ({how}; sessions act "
              f"as {access.server_role} at most). Ctrl-C stops it.", flush=True)

    def serve(self, debug: bool = False) -> None:
        """Serve until SIGINT or SIGTERM, with TLS when the access rules carry a certificate."""
        self.debug = debug
        web.run_app(self._make_app(), host=self.host, port=self.port, ssl_context=self.access.ssl_context,
                    print=None, access_log=None, handle_signals=True)


def _refuse(code: int, why: str) -> web.Response:
    return web.Response(status=code, text=f"{why}\n", content_type="text/plain")
