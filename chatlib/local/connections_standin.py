"""A STAND-IN for API Gateway's ``@connections`` API, for unit tests of the handlers.

The notebooks and end-to-end tests use the local gateway (:mod:`chatlib.local.gateway`), which has
real WebSocket clients behind ``@connections``. This stand-in is the small, fast double that
lets a test call a handler directly and read what it posted.

It is a real HTTP server on loopback that answers the management API's calls the way AWS
does (with the replies of :mod:`chatlib.local.connections_replies`, as the gateway does), so
the handlers' ``@connections`` sender (:mod:`chatlib.sender`) cannot tell the difference:

    POST   /{stage}/@connections/{id}   200, or 410 GoneException for an id that is not open,
                                        413 PayloadTooLargeException over 128 KB
    GET    /{stage}/@connections/{id}   200 with connectedAt, identity, lastActiveAt; or 410
    DELETE /{stage}/@connections/{id}   204 and the connection is closed; or 410

An ERROR-INJECTION HOOK, for tests of retries: :meth:`ConnectionsStandIn.inject_errors`
queues statuses (429, 500, 503, 410, 403, 413) that the next posts or deletes answer with,
before the stand-in looks at the connection at all.

What it is not: there are no WebSocket clients behind it. "Opening" a connection only makes
an inbox that collects the frames posted to it, which a test can then read. Why it exists
beside the gateway: a handler unit test calls the handler directly, with no WebSocket client
to connect first, and reads back exactly the frames each connection was sent.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from chatlib.limits import MAX_PAYLOAD_BYTES
from chatlib.local import connections_replies as replies

__all__ = ["ConnectionsStandIn"]


@dataclass
class _Inbox:
    connected_at: int
    frames: list[bytes] = field(default_factory=list)
    last_active_at: int = 0


class ConnectionsStandIn:
    """Start with ``with ConnectionsStandIn() as standin:`` or ``start()``/``stop()``."""

    def __init__(
        self,
        *,
        stage: str = "dev",
        host: str = "127.0.0.1",
        port: int = 0,
        drop_idle_connections: bool = False,
    ) -> None:
        """``drop_idle_connections``: close each HTTP connection after its response without
        saying so, as a server does with a kept-alive connection it times out."""
        self.stage = stage
        self._drop_idle = drop_idle_connections
        self._lock = threading.Lock()
        self._open: dict[str, _Inbox] = {}
        self._closed: dict[str, _Inbox] = {}
        self.requests = 0
        self.last_headers: dict[str, str] = {}
        self._injected: collections.deque[int] = collections.deque()
        #: (method, connection id, status) of every POST and DELETE, in order
        self.answers: list[tuple[str, str, int]] = []
        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The endpoint a boto3 client (or ``CHATLIB_CONNECTIONS_URL``) should use."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/{self.stage}"

    def start(self) -> ConnectionsStandIn:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> ConnectionsStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the "clients" -------------------------------------------------------------------
    def open(self, connection_id: str) -> None:
        """A client with this id is now connected: posts to it are collected."""
        with self._lock:
            self._open[connection_id] = _Inbox(connected_at=int(time.time() * 1000))

    def drop(self, connection_id: str) -> None:
        """The client vanished (no close frame, no ``$disconnect``): posts now get 410."""
        with self._lock:
            inbox = self._open.pop(connection_id, None)
            if inbox is not None:
                self._closed[connection_id] = inbox

    def is_open(self, connection_id: str) -> bool:
        with self._lock:
            return connection_id in self._open

    def frames(self, connection_id: str) -> list[Any]:
        """Every frame posted to this connection so far, JSON-decoded where it is JSON."""
        with self._lock:
            inbox = self._open.get(connection_id) or self._closed.get(connection_id)
            raw = list(inbox.frames) if inbox else []
        return [_decode(frame) for frame in raw]

    def inject_errors(self, *statuses: int) -> None:
        """ERROR INJECTION: the next ``len(statuses)`` POSTs or DELETEs, to any connection,
        answer with these statuses in turn (with AWS's error types), whatever the connection."""
        with self._lock:
            self._injected.extend(statuses)

    def clear(self) -> None:
        """Empty every inbox (connections stay open)."""
        with self._lock:
            for inbox in self._open.values():
                inbox.frames.clear()

    # -- the HTTP side -------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                standin._serve(self, "POST")
                self.close_connection = standin._drop_idle

            def do_GET(self) -> None:
                standin._serve(self, "GET")

            def do_DELETE(self) -> None:
                standin._serve(self, "DELETE")

        return Handler

    def _serve(self, request: BaseHTTPRequestHandler, method: str) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        with self._lock:
            self.requests += 1
            self.last_headers = dict(request.headers.items())
            status, headers, payload = self._answer(method, request.path, body)
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        if status != HTTPStatus.NO_CONTENT:
            request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        if payload and status != HTTPStatus.NO_CONTENT:
            request.wfile.write(payload)

    def _answer(self, method: str, path: str, body: bytes) -> replies.Reply:
        prefix = f"/{self.stage}/@connections/"
        if not path.startswith(prefix):
            return replies.forbidden()
        connection_id = unquote(path[len(prefix) :])
        reply = self._reply(method, connection_id, body)
        if method in {"POST", "DELETE"}:
            self.answers.append((method, connection_id, reply[0]))
        return reply

    def _reply(self, method: str, connection_id: str, body: bytes) -> replies.Reply:
        if method in {"POST", "DELETE"} and self._injected:
            return replies.for_status(self._injected.popleft())
        inbox = self._open.get(connection_id)
        if inbox is None:
            return replies.gone()
        if method == "POST":
            if len(body) > MAX_PAYLOAD_BYTES:
                return replies.too_large()
            inbox.frames.append(body)
            inbox.last_active_at = int(time.time() * 1000)
            return replies.ok()
        if method == "GET":
            return replies.connection_info(
                connected_at=inbox.connected_at,
                source_ip="127.0.0.1",
                user_agent="stand-in",
                last_active_at=inbox.last_active_at or inbox.connected_at,
            )
        self._closed[connection_id] = self._open.pop(connection_id)
        return replies.no_content()


def _decode(frame: bytes) -> Any:
    try:
        return json.loads(frame)
    except ValueError:
        return frame.decode("utf-8", errors="replace")
