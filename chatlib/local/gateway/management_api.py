"""The ``@connections`` management API over HTTP/1.1, served with h11 on asyncio (and, on the
same port, the browser chat page at ``/chat``).

    POST   /{apiId}/{stage}/@connections/{id}   send the body to the client      200
    GET    /{apiId}/{stage}/@connections/{id}   connectedAt, identity, lastActiveAt 200
    DELETE /{apiId}/{stage}/@connections/{id}   close the connection              204

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
from collections.abc import Awaitable, Callable
from urllib.parse import unquote

import h11

from chatlib.limits import MAX_PAYLOAD_BYTES
from chatlib.local import connections_replies as replies
from chatlib.local.connections_replies import Reply
from chatlib.local.gateway.connections import ConnectionRegistry, LiveConnection

__all__ = ["ManagementAPI", "same_machine"]

log = logging.getLogger("chatlib.local.gateway.management")


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
                await connection.websocket.send(_as_frame(body))
            except Exception:
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

    async def serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        connection = h11.Connection(h11.SERVER)
        peer, local = writer.get_extra_info("peername"), writer.get_extra_info("sockname")
        local_client = same_machine(peer[0] if peer else "", local[0] if local else "")
        try:
            while True:
                request = await self._next_request(connection, reader)
                if request is None:
                    break
                method, target, body = request
                try:
                    status, headers, payload = await self.handle(
                        method, target, body, from_this_machine=local_client
                    )
                except Exception:
                    log.exception("@connections %s %s failed", method, target)
                    status, headers, payload = replies.internal_error()
                response_headers = [(k, v) for k, v in headers.items()]
                if status != 204:
                    response_headers.append(("Content-Length", str(len(payload))))
                data = connection.send(h11.Response(status_code=status, headers=response_headers))
                if payload and status != 204:
                    data += connection.send(h11.Data(data=payload))
                data += connection.send(h11.EndOfMessage())
                writer.write(data)
                await writer.drain()
                if connection.our_state is h11.MUST_CLOSE:
                    break
                connection.start_next_cycle()
        except (ConnectionError, h11.RemoteProtocolError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _next_request(
        connection: h11.Connection, reader: asyncio.StreamReader
    ) -> tuple[str, str, bytes] | None:
        method = target = ""
        body = bytearray()
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                chunk = await reader.read(65536)
                connection.receive_data(chunk)
                if not chunk and connection.their_state is h11.IDLE:
                    return None
                continue
            if isinstance(event, h11.Request):
                method, target = event.method.decode(), event.target.decode()
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return method, target, bytes(body)
            elif isinstance(event, h11.ConnectionClosed):
                return None


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
