"""The ``@connections`` management API over HTTP/1.1, parsed by httptools on asyncio (and, on
the same port, the browser chat page at ``/chat``).

    POST   /{apiId}/{stage}/@connections/{id}   send the body to the client      200
    GET    /{apiId}/{stage}/@connections/{id}   connectedAt, identity, lastActiveAt 200
    DELETE /{apiId}/{stage}/@connections/{id}   close the connection              204

A post to an open connection answers 200 once its frame is written to the socket, whether or
not anyone reads it: a client that vanished without a FIN (a closed laptop lid) is still open
here, as on AWS, until the idle time-out closes it. A client whose writes stay stuck (it stopped
reading and every buffer on the way is full) is ended by :func:`.connections.watch_limits`;
a post waiting on it then answers 410.

An id that is unknown, closed, or still in ``$connect`` answers 410 with
``x-amzn-ErrorType: GoneException``, so boto3 raises ``GoneException``; a body over 128 KB
answers 413 ``PayloadTooLargeException`` (every reply comes from
:mod:`chatlib.local.connections_replies`). (On AWS the API's id is in the host name; here
it is the first path segment.) Requests are not signature-checked, so ``@connections``
answers only this machine (the functions, notebooks, the CLI): when the gateway serves a
classroom on a LAN address, a learner's laptop gets the page and 403 for ``@connections``, as
an unsigned request to AWS gets 403.

The ``websockets`` server cannot read request bodies, hence this separate small server;
keep-alive is supported because boto3 reuses its connections.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import unquote

import httptools
import websockets
from websockets.asyncio.server import ServerConnection

from chatlib.limits import MAX_PAYLOAD_BYTES
from chatlib.local import connections_replies as replies
from chatlib.local.connections_replies import Reply
from chatlib.local.gateway.connections import FAILED_WRITE, ConnectionRegistry, LiveConnection

__all__ = ["MAX_URL_BYTES", "MAX_WAITING_REQUESTS", "ManagementAPI", "same_machine"]

log = logging.getLogger("chatlib.local.gateway.management")

#: A request line longer than this is refused (400), as an HTTP server refuses a long URI.
MAX_URL_BYTES = 8192
#: Requests one client may have waiting for their answers before reading pauses.
MAX_WAITING_REQUESTS = 16


class ManagementAPI:
    """Serve ``@connections`` for the connections in ``registry``.

    ``on_close`` is awaited for a DELETE: the gateway closes the socket and runs
    ``$disconnect``.
    """

    def __init__(
        self,
        registry: ConnectionRegistry,
        on_close: Callable[[LiveConnection], Awaitable[None]],
    ) -> None:
        self._registry = registry
        self._on_close = on_close
        self.posts = 0
        #: Static pages served on GET, path -> (content type, body): the browser chat page.
        self.pages: dict[str, tuple[str, bytes]] = {}

    async def handle(
        self, method: str, target: str, body: bytes, *, from_this_machine: bool = True
    ) -> Reply:
        path = target.split("?", 1)[0]
        if method == "GET" and path in self.pages:
            content_type, page = self.pages[path]
            return 200, {"Content-Type": content_type, "Cache-Control": "no-store"}, page
        if not from_this_machine:
            return replies.forbidden()
        parts = path.split("/")
        # ["", apiId, stage, "@connections", id]
        if len(parts) != 5 or parts[0] or parts[3] != "@connections":
            return replies.forbidden()
        api_id, stage, connection_id = parts[1], parts[2], unquote(parts[4])
        connection = self._registry.open(connection_id, api_id, stage)
        if method == "POST":
            if len(body) > MAX_PAYLOAD_BYTES:
                return replies.too_large()
            if connection is None:
                return replies.gone()
            try:
                await _send(connection.websocket, _as_frame(body))
            except Exception:  # closed meanwhile
                return replies.gone()
            if connection.closed_by_gateway == FAILED_WRITE:  # this write never got out
                return replies.gone()
            connection.touch()
            self.posts += 1
            return replies.ok()
        if connection is None:
            return replies.gone()
        if method == "GET":
            return replies.connection_info(
                connected_at=connection.connected_at,
                source_ip=connection.source_ip,
                user_agent=connection.user_agent,
                last_active_at=connection.last_active_at,
            )
        if method == "DELETE":
            await self._on_close(connection)
            return replies.no_content()
        return replies.forbidden()

    def connection_factory(self) -> asyncio.Protocol:
        """A protocol for one HTTP client (``loop.create_server(api.connection_factory, ...)``)."""
        return _HttpClient(self)


class _HttpClient(asyncio.Protocol):
    """One kept-alive HTTP/1.1 client of ``@connections``.

    httptools (llhttp, Node's parser) reads the requests as bytes arrive; they are answered
    one at a time, in order. A fan-out sends one post per member of the room, so this path
    runs hundreds of times per message: parsing in C instead of pure Python, and no stream
    reader in between, roughly halved what the gateway spends per post
    (``docs/performance.md``). Nothing a client sends can make it hold much: a body is not
    kept past the 128 KB limit (its reply is 413 anyway), a URL over 8 KB is refused, and
    reading pauses while replies are not being taken or too many requests wait.
    """

    def __init__(self, api: ManagementAPI) -> None:
        self._api = api
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._from_this_machine = False
        self._url = bytearray()
        self._body = bytearray()
        self._too_large = False
        self._waiting: deque[_Request] = deque()
        self._answering: asyncio.Task[None] | None = None
        self._paused_for: set[str] = set()  # why reading is paused: "writes", "queue", "done"

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer, local = transport.get_extra_info("peername"), transport.get_extra_info("sockname")
        self._from_this_machine = same_machine(peer[0] if peer else "", local[0] if local else "")

    def data_received(self, data: bytes) -> None:
        if "done" in self._paused_for:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._refuse()

    def eof_received(self) -> bool:
        """The client has finished sending: answer what it asked, then close."""
        self._pause("done")
        if self._answering is None and not self._waiting:
            return False  # nothing to answer: the transport closes now
        self._waiting.append(_CLOSE)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._waiting.clear()

    def pause_writing(self) -> None:
        self._pause("writes")

    def resume_writing(self) -> None:
        self._resume("writes")

    def _pause(self, reason: str) -> None:
        if not self._paused_for and self._transport is not None:
            self._transport.pause_reading()
        self._paused_for.add(reason)

    def _resume(self, reason: str) -> None:
        self._paused_for.discard(reason)
        if not self._paused_for and self._transport is not None:
            self._transport.resume_reading()

    def _refuse(self) -> None:
        """Malformed, too long, or an attempt to upgrade: answer 400 once and hang up."""
        self._pause("done")
        self._waiting.append(_Request("", "", b"", keep_alive=False, malformed=True))
        self._answer_next()

    # -- httptools callbacks ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._url.clear()
        self._body.clear()
        self._too_large = False

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > MAX_URL_BYTES:
            raise httptools.HttpParserError("URL too long")  # ends feed_data: _refuse()

    def on_body(self, body: bytes) -> None:
        if self._too_large:
            return
        self._body += body
        if len(self._body) > MAX_PAYLOAD_BYTES:
            self._too_large = True
            self._body.clear()

    def on_message_complete(self) -> None:
        if "done" in self._paused_for:
            return
        request = _Request(
            self._parser.get_method().decode("ascii"),
            self._url.decode("latin-1"),
            bytes(self._body),
            keep_alive=self._parser.should_keep_alive(),
            too_large=self._too_large,
        )
        self._waiting.append(request)
        if len(self._waiting) >= MAX_WAITING_REQUESTS:
            self._pause("queue")
        self._answer_next()

    # -- answering -------------------------------------------------------------------------
    def _answer_next(self) -> None:
        if self._answering is None and self._waiting:
            self._answering = asyncio.get_running_loop().create_task(self._answer_waiting())

    async def _answer_waiting(self) -> None:
        try:
            while self._waiting and self._transport is not None:
                request = self._waiting.popleft()
                if request is _CLOSE:
                    self._transport.close()
                    return
                if not self._waiting:
                    self._resume("queue")
                status, headers, payload = await self._reply(request)
                if self._transport is None:
                    return
                self._transport.write(_response(status, headers, payload, request.keep_alive))
                if not request.keep_alive:
                    self._transport.close()
                    return
        finally:
            self._answering = None

    async def _reply(self, request: _Request) -> Reply:
        if request.malformed:
            return replies.bad_request()
        if request.too_large:
            return replies.too_large()
        try:
            return await self._api.handle(
                request.method,
                request.target,
                request.body,
                from_this_machine=self._from_this_machine,
            )
        except Exception:
            log.exception("@connections %s %s failed", request.method, request.target)
            return replies.internal_error()


@dataclass(frozen=True)
class _Request:
    method: str
    target: str
    body: bytes
    keep_alive: bool
    too_large: bool = False
    malformed: bool = False


#: Queued after the last request of a client that has closed its side.
_CLOSE = _Request("", "", b"", keep_alive=False)


def _response(status: int, headers: dict[str, str], payload: bytes, keep_alive: bool) -> bytes:
    """The reply's bytes: status line, headers, ``Content-Length`` (none for 204), body."""
    if status == 200 and keep_alive and not headers and not payload:
        return _OK  # a delivered post: hundreds per message in a big room
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if status != 204:
        lines.append(f"Content-Length: {len(payload)}")
    if not keep_alive:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if status == 204 else head + payload


#: The answer to a delivered post on a kept-alive connection.
_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


async def _send(websocket: ServerConnection, frame: str | bytes) -> None:
    """Write one frame to a client, as ``websocket.send`` does; without its wait when nothing
    is queued for that client (the usual case), as ``websockets.broadcast``: with the cached
    200 answer, 3–6 µs less of the gateway's 65 per post (``docs/performance.md``). A client
    whose bytes are still queued gets ``send``, which waits for them to drain, so a client
    that stopped reading still holds at most one frame beyond the write buffer's limit."""
    if websocket.transport.get_write_buffer_size():
        await websocket.send(frame)
    else:
        websockets.broadcast((websocket,), frame, raise_exceptions=True)


def same_machine(peer_ip: str, local_ip: str) -> bool:
    """Whether a client at ``peer_ip``, connected to this server's ``local_ip``, runs on this
    machine: a loopback address, or the very address it connected to."""
    try:
        address = ipaddress.ip_address(peer_ip.split("%", 1)[0])
    except ValueError:
        return False
    if getattr(address, "ipv4_mapped", None) is not None:
        address = address.ipv4_mapped
    return address.is_loopback or peer_ip == local_ip


def _as_frame(body: bytes) -> str | bytes:
    """Text frames for UTF-8 data (what chat clients expect), binary frames otherwise."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body
