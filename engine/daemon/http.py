"""The daemon's HTTP endpoint on loopback: /healthz, /readyz, /status, /metrics, and runs (POST /runs, GET /runs/{id}).

A few routes do not need a framework, but they must survive abuse: an asyncio
loop in one thread holds every connection, so idle or slow clients cost a few hundred bytes,
not a thread. The endpoint bounds what it holds open (at the cap, the oldest connection still
sending its request is dropped; fresh ones wait in the kernel's queue), how long a request may take to arrive and to be answered, and how
often /status and /metrics are computed (once a second at most, in two worker threads, on
their own ledger connection). A client that goes away is logged at debug level only.

A request body is read only for ``POST /runs`` from an allowed address, at most
``MAX_BODY_BYTES`` and within the same time as the head; runs are asked for and read in two
threads of their own, so a burst of POSTs never delays /status or /metrics (nor they a POST).
What a run request means is ``http_runs.py``'s; this module moves bytes.

Who may ask: ``daemon.http.allow`` is checked first, from the connection's address, so a client
outside it gets 403 whatever it sends (its token is never looked at); then the token rule of
``http_auth.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from flowdeck.engine.daemon.http_auth import Network, Tokens, address_allowed, authorized
from flowdeck.engine.daemon.http_runs import MAX_BODY_BYTES, HttpRuns
from flowdeck.engine.errors import FlowdeckError

log = logging.getLogger("flowdeck.daemon.http")
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
MAX_CONNECTIONS = 512  # open at once; and never more than half the open files the daemon may have
BACKLOG = 1024  # connections the kernel queues before the endpoint accepts them
REQUEST_SECONDS = 5.0  # to send the whole request: its head and, for POST /runs, its body
STALE_SECONDS = 2.0  # at the cap, a connection still sending its request after this long makes way
ANSWER_SECONDS = 20.0  # to compute /status, /metrics or a /runs answer before answering 503
WRITE_SECONDS = 10.0  # to take the answer
MAX_HEAD_BYTES = 16 * 1024
CACHE_SECONDS = 1.0  # /status and /metrics are computed at most this often, however many ask
WORKERS = 2
RUN_WORKERS = 2  # threads for POST /runs and GET /runs/{id}, apart from /status and /metrics


@dataclass(frozen=True)
class Routes:
    """What the endpoint serves, as callables of the daemon."""

    health: Callable[[], tuple[bool, list[str]]]
    ready: Callable[[], tuple[bool, list[str]]]
    status: Callable[[], dict[str, Any]]
    metrics: Callable[[], bytes]
    runs: HttpRuns | None = None  # POST /runs, GET /runs/{id}; None: the daemon serves no runs


@dataclass(frozen=True)
class _Request:
    """A parsed request head."""

    method: str
    path: str  # without the query string and a trailing slash
    headers: dict[str, str]  # names in lower case

    @property
    def body_length(self) -> int | None:
        """What Content-Length announces (0 without one); None when it is not a length this endpoint
        reads (not a number, negative, or a chunked body)."""
        if "transfer-encoding" in self.headers:
            return None
        text = self.headers.get("content-length", "0").strip()
        return int(text) if text.isdigit() else None


def _parse_head(head: bytes) -> _Request | None:
    """The request a head asks for; None for one that is not HTTP."""
    request_line, *header_lines = head.decode("latin-1").lstrip("\r\n").split("\r\n")
    parts = request_line.split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return None
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return _Request(parts[0], parts[1].split("?", 1)[0].rstrip("/") or "/", headers)


class _Cached:
    """A value computed at most once per ``seconds``; callers arriving meanwhile wait for that computation."""

    def __init__(self, compute: Callable[[], bytes], seconds: float) -> None:
        self._compute = compute
        self._seconds = seconds
        self._lock = threading.Lock()
        self._value: bytes | None = None
        self._at = 0.0

    def __call__(self) -> bytes:
        with self._lock:
            if self._value is None or time.monotonic() - self._at >= self._seconds:
                self._value = self._compute()
                self._at = time.monotonic()
            return self._value


class _Connection(asyncio.Protocol):
    """One client connection: it collects the request head (and the body of a POST /runs), then the
    endpoint answers and closes it.

    A protocol rather than a stream, so a connection counts as still sending its request only
    until its bytes arrive, not until a task gets around to reading them.
    """

    def __init__(self, endpoint: HttpEndpoint) -> None:
        self.endpoint = endpoint
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.peer: Any = None
        self.allowed = False  # daemon.http.allow admits its address
        self.head_read = False
        self.request: _Request | None = None  # once the head is read; None for a head that is not HTTP
        self.body_wanted = 0  # bytes of body to read before answering
        self.unread_body = False  # the client may still be sending a body nobody reads
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.peer = transport.get_extra_info("peername")
        self.allowed = self.peer is not None and address_allowed(self.peer[0], self.endpoint._allow)
        self.endpoint._reading[self] = time.monotonic()
        self._deadline = self.endpoint._loop.call_later(REQUEST_SECONDS, self.drop, "its request took too long")

    def data_received(self, data: bytes) -> None:
        if self not in self.endpoint._reading:
            return  # the request is complete; anything more is ignored
        self.buffer += data
        if not self.head_read:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD_BYTES:
                    self.drop("its request head is too large")
                return
            self.head_read = True
            self.request = _parse_head(bytes(self.buffer[:end]))
            del self.buffer[:end + 4]
            self.body_wanted = self.endpoint._body_to_read(self)
        if len(self.buffer) < self.body_wanted:
            return  # the body is still arriving (within the request's deadline)
        del self.endpoint._reading[self]
        if self._deadline is not None:
            self._deadline.cancel()
        declared = self.request.body_length if self.request is not None else 0
        self.unread_body = declared != 0 and declared != self.body_wanted  # refused unread, or chunked
        self.endpoint._answer_later(self, self.request, bytes(self.buffer[:self.body_wanted]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.endpoint._reading.pop(self, None)
        self.endpoint._open.discard(self)
        if self._deadline is not None:
            self._deadline.cancel()

    def drop(self, why: str) -> None:
        """Close at once, without an answer (a slow, silent or vanished client)."""
        log.debug("HTTP client %s dropped: %s", self.peer, why)
        if self.transport is not None:
            self.transport.abort()

    def send(self, code: int, content_type: str, body: bytes) -> None:
        """Answer and close; a client that does not take the answer in time is dropped.

        A client still sending a body nobody reads (a refused POST) gets the answer, then this side
        of the connection shut, and the rest of its body is discarded until it closes: closing at once
        would reset the connection and could lose the answer on its way.
        """
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(_response(code, content_type, body))
        if self.unread_body and self.transport.can_write_eof():
            self.transport.write_eof()  # its end of the connection closes it (eof_received), or the abort below
        else:
            self.transport.close()
        self.endpoint._loop.call_later(WRITE_SECONDS, self.transport.abort)


class HttpEndpoint:
    """An HTTP server bound to ``host:port`` (port 0: a free one), served from a thread of its own."""

    def __init__(self, host: str, port: int, routes: Routes, *, token: str | Tokens | None = None,
                 allow: tuple[Network, ...] | None = None) -> None:
        self._routes = routes
        self._token = token
        self._allow = allow  # None: every address may connect
        self._status = _Cached(lambda: json.dumps(routes.status(), indent=2, default=str).encode(), CACHE_SECONDS)
        self._metrics = _Cached(routes.metrics, CACHE_SECONDS)
        try:
            family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
            self._socket = socket.create_server(address[:2], family=family, backlog=BACKLOG)
        except OSError as error:
            raise FlowdeckError(
                f"the daemon cannot listen on {host}:{port}: {error.strerror or error}",
                hint="another process uses that port: set daemon.http.port in flowdeck.yaml (0 picks a free port)",
            ) from None
        self._loop = asyncio.new_event_loop()
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="http-answer")
        self._runs_pool = ThreadPoolExecutor(max_workers=RUN_WORKERS, thread_name_prefix="http-runs")
        self._reading: dict[_Connection, float] = {}  # still sending their request: since when, oldest first
        self._open: set[_Connection] = set()
        self._cap = min(MAX_CONNECTIONS, resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 2)
        self._tasks: set[asyncio.Future[None]] = set()
        self._started = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._serve, name="http", daemon=True)

    @property
    def address(self) -> str:
        """``host:port`` actually bound."""
        host, port = self._socket.getsockname()[:2]
        return f"{host}:{port}"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()
        self._started.wait(10)

    def stop(self) -> None:
        """Stop serving and drop every connection."""
        if self._thread.is_alive() and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(10)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._runs_pool.shutdown(wait=False, cancel_futures=True)
        self._socket.close()

    # -- the loop ---------------------------------------------------------------------------------

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        self._socket.setblocking(False)
        accepting = asyncio.ensure_future(self._accept())
        self._started.set()
        await self._stopping.wait()
        accepting.cancel()
        for connection in list(self._open):
            connection.drop("the daemon is stopping")

    async def _accept(self) -> None:
        """Accept connections while fewer than the cap are open; at the cap, drop the oldest
        one that has been sending its request for longer than ``STALE_SECONDS`` (an idle or slow
        client), else leave new ones queued in the kernel until a slot frees."""
        while True:
            while len(self._open) >= self._cap and not self._drop_stale():
                await asyncio.sleep(0.01)
            try:
                client, _ = await self._loop.sock_accept(self._socket)
            except OSError as error:  # out of file descriptors, or a connection reset while queued
                log.debug("HTTP: accept failed: %s", error)
                await asyncio.sleep(0.1)
                continue
            try:
                _, connection = await self._loop.connect_accepted_socket(lambda: _Connection(self), client)
            except OSError as error:
                log.debug("HTTP: a client went away as it was accepted: %s", error)
                client.close()
                continue
            self._open.add(connection)

    def _drop_stale(self) -> bool:
        """Drop the oldest connection still sending its request, if it has been at it too long."""
        if not self._reading:
            return False
        oldest, since = next(iter(self._reading.items()))
        if time.monotonic() - since < STALE_SECONDS:
            return False
        del self._reading[oldest]
        oldest.drop(f"{len(self._open)} connections open and it was the oldest still sending its request")
        return True

    def _body_to_read(self, connection: _Connection) -> int:
        """How much of a request's body to read before answering: all of a POST /runs from an allowed
        address, if it announces a length up to ``MAX_BODY_BYTES``; nothing of any other (refused unread)."""
        request = connection.request
        if (request is None or not connection.allowed or request.method != "POST" or request.path != "/runs"
                or self._routes.runs is None):
            return 0
        length = request.body_length
        return length if length is not None and length <= MAX_BODY_BYTES else 0

    def _answer_later(self, connection: _Connection, request: _Request | None, body: bytes) -> None:
        task = asyncio.ensure_future(self._answer_connection(connection, request, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer_connection(self, connection: _Connection, request: _Request | None, body: bytes) -> None:
        try:
            if not connection.allowed:  # before anything of the request is looked at, its token included
                connection.send(403, TEXT, b"forbidden: this address may not connect\n")
                return
            connection.send(*await self._answer(request, body))
        except Exception:  # a bug must not kill the endpoint
            log.exception("HTTP request from %s failed", connection.peer)
            connection.drop("the endpoint failed")

    async def _answer(self, request: _Request | None, body: bytes) -> tuple[int, str, bytes]:
        """Route one request to its answer: (status code, content type, body)."""
        if request is None:
            return 400, TEXT, b"bad request\n"
        if request.method == "POST":
            return await self._post(request, body)
        if request.method != "GET":
            return 405, TEXT, b"only GET, and POST /runs\n"
        path = request.path
        if not authorized(path, request.headers.get("authorization"), self._token):
            return 401, TEXT, b"unauthorized: send Authorization: Bearer <token>\n"
        if path == "/healthz":
            return _probe(*self._routes.health())
        if path == "/readyz":
            return _probe(*self._routes.ready())
        if path == "/status":
            return await self._in_worker(lambda: (200, JSON, self._status()), self._pool)
        if path == "/metrics":
            return await self._in_worker(lambda: (200, PROMETHEUS_CONTENT_TYPE, self._metrics()), self._pool)
        runs = self._routes.runs
        if runs is not None and path.startswith("/runs/"):
            return await self._in_worker(lambda: _json(*runs.get(path)), self._runs_pool)
        return 404, TEXT, b"not found: try /healthz /readyz /status /metrics /runs/RUN_ID\n"

    async def _post(self, request: _Request, body: bytes) -> tuple[int, str, bytes]:
        """``POST /runs``: queue the run the body asks for, as the holder of the request's token."""
        runs = self._routes.runs
        if request.path != "/runs" or runs is None:
            return 404, TEXT, b"not found: POST /runs\n"
        length = request.body_length
        if length is None or length > MAX_BODY_BYTES:
            return _json(413 if length is not None else 400, {
                "error": f"the request body is larger than {MAX_BODY_BYTES // 1024} KiB" if length is not None
                else "send a JSON body with its Content-Length (not chunked)",
                "hint": f"a JSON object of at most {MAX_BODY_BYTES // 1024} KiB: pipeline, params, request_id"})
        authorization = request.headers.get("authorization")
        holder = self._token.holder(authorization) if isinstance(self._token, Tokens) else None
        return await self._in_worker(lambda: _json(*runs.post(holder, body)), self._runs_pool)

    async def _in_worker(self, compute: Callable[[], tuple[int, str, bytes]],
                         pool: ThreadPoolExecutor) -> tuple[int, str, bytes]:
        """Compute an answer in a worker thread (never on the loop), or 503 when that takes too long."""
        try:
            return await asyncio.wait_for(self._loop.run_in_executor(pool, compute), ANSWER_SECONDS)
        except asyncio.TimeoutError:
            return 503, TEXT, b"busy: try again\n"
        except Exception as error:  # a bug or a broken ledger: say it, log it, keep serving
            log.error("HTTP: could not compute the answer: %s", error)
            return 500, TEXT, f"internal error: {error}\n".encode()


def _json(code: int, document: dict[str, Any]) -> tuple[int, str, bytes]:
    return code, JSON, json.dumps(document, indent=2, default=str).encode()


def _probe(ok: bool, reasons: list[str]) -> tuple[int, str, bytes]:
    return 200 if ok else 503, JSON, json.dumps({"ok": ok, "reasons": reasons}).encode()


def _response(code: int, content_type: str, body: bytes) -> bytes:
    reason = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
              405: "Method Not Allowed", 413: "Content Too Large", 500: "Internal Server Error",
              503: "Service Unavailable"}.get(code, "")
    head = (f"HTTP/1.1 {code} {reason}\r\nServer: flowdeck\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode("latin-1") + body
