"""The WebSocket side of the local gateway: handshake, messages, closing, limits.

For each WebSocket API deployed in the (embedded) AWS control plane, clients connect to
``ws://{host}:{port}/{apiId}/{stage}``. This module then does what API Gateway does:

* **Handshake.** The upgrade waits while the REQUEST authorizer (if ``$connect`` has one,
  :mod:`.authorizer`) and the ``$connect`` integration run. A missing identity source
  answers 401 without invoking the authorizer; a Deny policy 403; an authorizer error 401
  (``Unauthorized``) or 500; a non-2xx from ``$connect`` that status.
  ``Sec-WebSocket-Protocol`` is echoed only when ``$connect`` returns it.
* **Messages.** Routed by the API's selection expression (:mod:`.routing`); no route means
  a Forbidden frame; a failed or timed-out integration an "Internal server error" frame.
  A frame over 32 KB or a message over 128 KB closes the connection with 1009.
* **Closing.** ``$disconnect`` runs with ``disconnectStatusCode`` and ``disconnectReason``
  however the connection ended: a close frame, a TCP connection that ended without one
  (1006), the idle timeout or the maximum duration (1001, :func:`.connections.watch_limits`),
  a post that could not be written (1006), or a DELETE on ``@connections``. A client that
  vanished without even a FIN is not noticed: the gateway sends no pings, as API Gateway
  sends none, so it stays open until the idle timeout.
* **Pings.** A client's ping is answered with a pong; it does not count as activity.

Deliberate differences from AWS are listed in ``docs/local-gateway.md``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from chatlib.local.event_factory import new_connection_id
from chatlib.local.gateway.authorizer import authorize
from chatlib.local.gateway.connections import (
    ConnectionRegistry,
    Limits,
    LiveConnection,
    watch_limits,
)
from chatlib.local.gateway.deployment import Deployment, FunctionConfig
from chatlib.local.gateway.lambda_runtime import Invocation
from chatlib.local.gateway.narration import describe_outcome, mask_tokens
from chatlib.local.gateway.routing import select_route
from chatlib.local.gateway.served_apis import ServedApi, ServedApis

__all__ = ["WebSocketProtocol"]

log = logging.getLogger("chatlib.local.gateway")

Invoke = Callable[[ServedApi, FunctionConfig, dict[str, Any]], Awaitable[Invocation]]


@dataclass
class _Handshake:
    """What ``$connect`` decided, carried from the handshake to the open connection."""

    live: LiveConnection
    deployment: Deployment


class WebSocketProtocol:
    """API Gateway's behaviour towards WebSocket clients, for the gateway that serves them.

    ``invoke`` runs a function for an API; ``spawn`` runs a coroutine in the background (the
    gateway counts and stops it); ``stopping`` tells whether the gateway is shutting down.
    """

    def __init__(
        self,
        *,
        apis: ServedApis,
        registry: ConnectionRegistry,
        options: Limits,
        invoke: Invoke,
        spawn: Callable[[Any], None],
        stopping: Callable[[], bool],
    ) -> None:
        self._apis = apis
        self._registry = registry
        self._options = options
        self._invoke = invoke
        self._spawn = spawn
        self._stopping = stopping

    # -- handshake --------------------------------------------------------------------------
    async def handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        segments = url.path.strip("/").split("/")
        if len(segments) != 2:
            return _refuse(connection, HTTPStatus.FORBIDDEN, "Forbidden")
        api_id, stage = segments
        try:
            state = await self._apis.get(api_id, stage)
        except LookupError:
            return _refuse(connection, HTTPStatus.FORBIDDEN, "Forbidden")
        deployment = state.deployment
        pairs = parse_qsl(url.query, keep_blank_values=True)
        query = dict(pairs)
        headers = {name: value for name, value in request.headers.raw_items()}
        source_ip = str(connection.remote_address[0]) if connection.remote_address else ""
        live = LiveConnection(
            connection_id=new_connection_id(),
            api_id=api_id,
            stage=stage,
            connected_at=int(time.time() * 1000),
            source_ip=source_ip,
            user_agent=request.headers.get("User-Agent", ""),
            query=url.query,
        )
        self._registry.add(live)  # "connecting": posts to it answer 410 until the upgrade
        try:
            refusal = await self._run_connect(state, live, query, headers)
        except Exception:  # a gateway fault: refuse, and leave nothing of this connection behind
            log.exception("connect  %s failed in the gateway", live.connection_id)
            refusal = HTTPStatus.INTERNAL_SERVER_ERROR
        if refusal is not None:
            self._registry.remove(live.connection_id)
            state.events.forget(live.connection_id)
            return _refuse(connection, refusal)
        connection.chat_handshake = _Handshake(live, deployment)  # type: ignore[attr-defined]
        return None

    async def _run_connect(
        self,
        state: ServedApi,
        live: LiveConnection,
        query: dict[str, str],
        headers: dict[str, str],
    ) -> HTTPStatus | None:
        """The authorizer and ``$connect`` for one handshake: a refusal status, or ``None``."""
        deployment = state.deployment
        route = deployment.routes.get("$connect")
        if route is not None and route.authorizer is not None:
            decision = await authorize(
                route.authorizer,
                deployment,
                state.events,
                live.connection_id,
                query=query,
                headers=headers,
                invoke=lambda function, event: self._invoke(state, function, event),
            )
            live.authorizer = decision.context
            if decision.refusal is not None:
                log.info(
                    "connect  %s refused %s by the authorizer%s",
                    live.connection_id,
                    decision.refusal.value,
                    f": {decision.reason}" if decision.reason else "",
                )
                return decision.refusal
        if route is not None and route.function is not None:
            event = state.events.connect(
                live.connection_id,
                query=query,
                headers=headers,
                authorizer=live.authorizer,
                source_ip=live.source_ip,
                user_agent=live.user_agent,
            )
            event["requestContext"]["connectedAt"] = live.connected_at
            invocation = await self._invoke(state, route.function, event)
            status, live.subprotocol = _connect_outcome(invocation)
            if not 200 <= status < 300:
                log.info("connect  %s refused %s by $connect", live.connection_id, status)
                return HTTPStatus(status)
        return None

    @staticmethod
    def select_subprotocol(connection: ServerConnection, offered: Any) -> str | None:
        handshake: _Handshake | None = getattr(connection, "chat_handshake", None)
        chosen = handshake.live.subprotocol if handshake else None
        return chosen if chosen in offered else None

    # -- the open connection -----------------------------------------------------------------
    async def session(self, websocket: ServerConnection) -> None:
        handshake: _Handshake = websocket.chat_handshake  # type: ignore[attr-defined]
        live = handshake.live
        live.websocket = websocket
        live.touch()
        state = self._apis.cached(live.api_id, live.stage)
        log.info(
            "open     %s from %s ?%s", live.connection_id, live.source_ip, mask_tokens(live.query)
        )
        watchdog = asyncio.create_task(watch_limits(live, self._options))
        try:
            async for message in websocket:
                live.touch()
                self._spawn(self._on_message(state, live, message))
        except ConnectionClosed:
            pass
        finally:
            watchdog.cancel()
            self._registry.remove(live.connection_id)
            code, reason = _disconnect_status(websocket, live)
            log.info("close    %s %s %s", live.connection_id, code, reason)
            route = state.deployment.routes.get("$disconnect")
            if route is not None and route.function is not None and not self._stopping():
                event = state.events.disconnect(
                    live.connection_id, status_code=code, reason=reason, authorizer=live.authorizer
                )
                event["requestContext"]["connectedAt"] = live.connected_at
                await self._invoke(state, route.function, event)
            state.events.forget(live.connection_id)

    async def _on_message(
        self, state: ServedApi, live: LiveConnection, message: str | bytes
    ) -> None:
        if state.stale:  # refresh() after a redeploy: open connections follow it
            with contextlib.suppress(Exception):  # the API is gone: keep serving what was
                state = await self._apis.get(live.api_id, live.stage)
        deployment = state.deployment
        if isinstance(message, bytes):
            body, is_base64 = base64.b64encode(message).decode("ascii"), True
            route_key = select_route(deployment.route_selection_expression, None, deployment.routes)
        else:
            body, is_base64 = message, False
            route_key = select_route(deployment.route_selection_expression, body, deployment.routes)
        event = state.events.message(
            live.connection_id, body, route_key=route_key or "", authorizer=live.authorizer
        )
        event["isBase64Encoded"] = is_base64
        event["requestContext"]["connectedAt"] = live.connected_at
        request_id = event["requestContext"]["requestId"]
        if route_key is None:
            log.info("message  %s no route: Forbidden", live.connection_id)
            await self._send_error(live, "Forbidden", request_id)
            return
        route = deployment.routes[route_key]
        if route.function is None:
            return
        invocation = await self._invoke(state, route.function, event)
        log.info(
            "message  %s %s -> %s (%.0f ms)",
            live.connection_id,
            route_key,
            describe_outcome(invocation),
            invocation.duration_ms,
        )
        if not invocation.ok:
            await self._send_error(live, "Internal server error", request_id)
        elif route.two_way and isinstance(invocation.result, dict) and "body" in invocation.result:
            with contextlib.suppress(ConnectionClosed):
                await live.websocket.send(str(invocation.result["body"]))

    async def _send_error(self, live: LiveConnection, message: str, request_id: str) -> None:
        frame = {"message": message, "connectionId": live.connection_id, "requestId": request_id}
        with contextlib.suppress(ConnectionClosed):
            if live.websocket is not None:
                await live.websocket.send(json.dumps(frame))

    async def close_from_management(self, live: LiveConnection) -> None:
        # What API Gateway's execution logs show for a DELETE (boto/boto3 issue 3789).
        live.closed_by_gateway = (1000, "Connection Closed Normally")
        if live.websocket is not None:
            self._spawn(live.websocket.close(1000, ""))


def _refuse(connection: ServerConnection, status: HTTPStatus, text: str | None = None) -> Response:
    return connection.respond(status, (text or status.phrase) + "\n")


def _connect_outcome(invocation: Invocation) -> tuple[int, str | None]:
    """The HTTP status and subprotocol a ``$connect`` integration's result asks for."""
    if not invocation.ok:
        return HTTPStatus.INTERNAL_SERVER_ERROR, None
    result = invocation.result
    if not isinstance(result, dict):
        return HTTPStatus.OK, None
    try:
        status = int(result.get("statusCode", HTTPStatus.OK))
        HTTPStatus(status)
    except (TypeError, ValueError):
        return HTTPStatus.INTERNAL_SERVER_ERROR, None
    headers = {str(k).lower(): v for k, v in (result.get("headers") or {}).items()}
    subprotocol = headers.get("sec-websocket-protocol")
    return status, str(subprotocol) if subprotocol else None


def _disconnect_status(websocket: ServerConnection, live: LiveConnection) -> tuple[int, str]:
    if live.closed_by_gateway is not None:
        return live.closed_by_gateway
    received, sent = websocket.protocol.close_rcvd, websocket.protocol.close_sent
    if received is not None and received.code != 1005:
        return received.code, received.reason
    if received is not None:
        return 1005, "Client-side close frame status not set"
    if sent is not None:  # the gateway closed it, e.g. 1009 for a message that is too big
        return sent.code, sent.reason
    return 1006, "Connection closed abnormally"
