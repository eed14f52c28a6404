"""The local API Gateway WebSocket data plane: handshake, routes, lifecycle, limits.

For each WebSocket API deployed in the (embedded) AWS control plane, clients connect to
``ws://{host}:{port}/{apiId}/{stage}``. The gateway then does what API Gateway does:

* **Handshake.** The upgrade waits while the REQUEST authorizer (if ``$connect`` has one)
  and the ``$connect`` integration run. A missing identity source answers 401 without
  invoking the authorizer; a Deny policy 403; an authorizer error 401 (``Unauthorized``)
  or 500; a non-2xx from ``$connect`` that status. ``Sec-WebSocket-Protocol`` is echoed
  only when ``$connect`` returns it.
* **Messages.** Routed by the API's selection expression (:mod:`.routing`); no route means
  a Forbidden frame; a failed or timed-out integration an "Internal server error" frame.
  A frame over 32 KB or a message over 128 KB closes the connection with 1009.
* **Closing.** ``$disconnect`` runs with ``disconnectStatusCode`` and ``disconnectReason``
  however the connection ended: a close frame, a vanished client (1006), the idle timeout
  or the maximum duration (1001), or a DELETE on ``@connections``.

Handlers run in the local Lambda runtime (:mod:`.lambda_runtime`); ``@connections`` is
served by :mod:`.management_api`. Deliberate differences from AWS are listed in
``docs/local-gateway.md``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from chatlib.event_factory import EventFactory, new_connection_id
from chatlib.gateway.connections import ConnectionRegistry, LiveConnection
from chatlib.gateway.deployment import Deployment, FunctionConfig, Route
from chatlib.gateway.lambda_runtime import Invocation, LambdaRuntime
from chatlib.gateway.management_api import ManagementAPI
from chatlib.gateway.policy import policy_allows
from chatlib.gateway.routing import select_route
from chatlib.limits import MAX_FRAME_BYTES, MAX_PAYLOAD_BYTES
from chatlib.sender import ENDPOINT_OVERRIDE_VARIABLE

__all__ = ["GatewayOptions", "LocalGateway"]

log = logging.getLogger("chatlib.gateway")

#: Largest authorizer result API Gateway accepts.
MAX_AUTHORIZER_RESULT_BYTES = 8 * 1024


@dataclass
class GatewayOptions:
    """Limits, AWS's values by default; tests shorten the timeouts."""

    idle_timeout: float = 10 * 60
    max_duration: float = 2 * 60 * 60
    max_frame_bytes: int = MAX_FRAME_BYTES
    max_message_bytes: int = MAX_PAYLOAD_BYTES
    handshake_timeout: float = 35.0  # authorizer + $connect, each up to 29 s on AWS
    deployment_cache_seconds: float = 1.0  # a redeploy is served from the next handshake after
    max_instances_per_function: int = 4


@dataclass
class _Handshake:
    """What ``$connect`` decided, carried from the handshake to the open connection."""

    live: LiveConnection
    deployment: Deployment
    subprotocol: str | None = None


@dataclass
class _ApiState:
    deployment: Deployment
    events: EventFactory
    prewarmed: set[str] = field(default_factory=set)
    loaded_at: float = 0.0


class LocalGateway:
    """Serve deployed WebSocket APIs. ``load`` returns the deployment for ``(api_id, stage)``
    and raises ``LookupError`` when there is none; it is called on every handshake, so a
    redeploy takes effect for the next connection."""

    def __init__(
        self,
        *,
        load: Callable[[str, str], Deployment],
        base_environment: dict[str, str],
        host: str = "127.0.0.1",
        websocket_port: int = 0,
        connections_port: int = 0,
        options: GatewayOptions | None = None,
        region: str = "us-east-1",
    ) -> None:
        self.options = options or GatewayOptions()
        self.host = host
        self._requested_ports = (websocket_port, connections_port)
        self._load = load
        self.registry = ConnectionRegistry()
        self.runtime = LambdaRuntime(
            base_environment=base_environment,
            region=region,
            max_instances_per_function=self.options.max_instances_per_function,
        )
        self.management = ManagementAPI(self.registry, self._close_from_management)
        page = resources.files("chatlib").joinpath("static/chat.html").read_bytes()
        self.management.pages["/chat"] = ("text/html; charset=utf-8", page)
        self._apis: dict[tuple[str, str], _ApiState] = {}
        self._ws_server: Server | None = None
        self._http_server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.websocket_port = self.connections_port = 0
        self._stopping = False

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        ws_port, http_port = self._requested_ports
        self._http_server = await asyncio.start_server(
            self.management.serve_client, self.host, http_port
        )
        self.connections_port = self._http_server.sockets[0].getsockname()[1]
        self._ws_server = await serve(
            self._session,
            self.host,
            ws_port,
            process_request=self._handshake,
            select_subprotocol=self._select_subprotocol,
            max_size=(self.options.max_message_bytes, self.options.max_frame_bytes),
            open_timeout=self.options.handshake_timeout,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=5,
            server_header="chatlib-local-gateway",
        )
        self.websocket_port = self._ws_server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._stopping = True  # connections closed by the shutdown itself get no $disconnect
        if self._ws_server is not None:
            self._ws_server.close()
            with contextlib.suppress(TimeoutError):  # a handler stuck in an invocation
                await asyncio.wait_for(self._ws_server.wait_closed(), timeout=15)
        # Work in flight gets five seconds in all, not five each; then it is cancelled.
        pending = [task for task in self._tasks if not task.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=5)
            for task in late:
                task.cancel()
        if self._http_server is not None:
            self._http_server.close()
        await self.runtime.close()

    @property
    def pending_tasks(self) -> int:
        """Messages, closes and start-ups the gateway is still working on."""
        return len(self._tasks)

    def websocket_url(self, api_id: str, stage: str) -> str:
        return f"ws://{self.host}:{self.websocket_port}/{api_id}/{stage}"

    def connections_url(self, api_id: str, stage: str) -> str:
        return f"http://{self.host}:{self.connections_port}/{api_id}/{stage}"

    def chat_page_url(self, api_id: str, stage: str) -> str:
        """The browser chat page, with this API's WebSocket URL filled in."""
        query = urlencode({"url": self.websocket_url(api_id, stage)})
        return f"http://{self.host}:{self.connections_port}/chat?{query}"

    # -- handshake --------------------------------------------------------------------------
    async def _handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        segments = url.path.strip("/").split("/")
        if len(segments) != 2:
            return _refuse(connection, HTTPStatus.FORBIDDEN, "Forbidden")
        api_id, stage = segments
        try:
            state = await self._api_state(api_id, stage)
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
        self.registry.add(live)  # "connecting": posts to it answer 410 until the upgrade
        route = deployment.routes.get("$connect")
        if route is not None and route.authorizer is not None:
            refusal = await self._authorize(state, route, live, query, request.headers)
            if refusal is not None:
                self.registry.remove(live.connection_id)
                state.events.forget(live.connection_id)
                log.info("connect  %s refused %s by the authorizer", live.connection_id, refusal)
                return _refuse(connection, refusal)
        subprotocol = None
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
            status, subprotocol = _connect_outcome(invocation)
            if not 200 <= status < 300:
                self.registry.remove(live.connection_id)
                state.events.forget(live.connection_id)
                log.info("connect  %s refused %s by $connect", live.connection_id, status)
                return _refuse(connection, HTTPStatus(status))
        connection.chat_handshake = _Handshake(live, deployment, subprotocol)  # type: ignore[attr-defined]
        return None

    @staticmethod
    def _select_subprotocol(connection: ServerConnection, offered: Any) -> str | None:
        handshake: _Handshake | None = getattr(connection, "chat_handshake", None)
        chosen = handshake.subprotocol if handshake else None
        return chosen if chosen in offered else None

    async def _authorize(
        self,
        state: _ApiState,
        route: Route,
        live: LiveConnection,
        query: dict[str, str],
        headers: Headers,
    ) -> HTTPStatus | None:
        authorizer = route.authorizer
        assert authorizer is not None
        for source in authorizer.identity_sources:
            for prefix, present in (
                ("route.request.querystring.", lambda name: bool(query.get(name))),
                ("route.request.header.", lambda name: bool(headers.get(name))),
            ):
                if source.startswith(prefix) and not present(source[len(prefix) :]):
                    return HTTPStatus.UNAUTHORIZED
        account = authorizer.function.arn.split(":")[4]
        deployment = state.deployment
        method_arn = (
            f"arn:aws:execute-api:{deployment.region}:{account}:"
            f"{deployment.api_id}/{deployment.stage}/$connect"
        )
        connect_event = state.events.connect(
            live.connection_id, query=query, headers=dict(headers.raw_items())
        )
        event = {
            "type": "REQUEST",
            "methodArn": method_arn,
            "headers": connect_event["headers"],
            "multiValueHeaders": connect_event["multiValueHeaders"],
            "queryStringParameters": connect_event["queryStringParameters"],
            "multiValueQueryStringParameters": connect_event["multiValueQueryStringParameters"],
            "stageVariables": {},
            "requestContext": connect_event["requestContext"],
        }
        invocation = await self._invoke(state, authorizer.function, event)
        if not invocation.ok:
            unauthorized = invocation.error_message == "Unauthorized"
            return HTTPStatus.UNAUTHORIZED if unauthorized else HTTPStatus.INTERNAL_SERVER_ERROR
        result = invocation.result
        if not isinstance(result, dict) or len(json.dumps(result)) > MAX_AUTHORIZER_RESULT_BYTES:
            return HTTPStatus.INTERNAL_SERVER_ERROR
        try:
            allowed = policy_allows(result.get("policyDocument"), method_arn)
        except ValueError:
            return HTTPStatus.INTERNAL_SERVER_ERROR
        if not allowed:
            return HTTPStatus.FORBIDDEN
        context = result.get("context") or {}
        live.authorizer = {
            **{k: v for k, v in context.items() if isinstance(v, str | int | float | bool)},
            "principalId": result.get("principalId", ""),
        }
        return None

    # -- the open connection -----------------------------------------------------------------
    async def _session(self, websocket: ServerConnection) -> None:
        handshake: _Handshake = websocket.chat_handshake  # type: ignore[attr-defined]
        live = handshake.live
        live.websocket = websocket
        live.touch()
        state = self._apis[(live.api_id, live.stage)]
        log.info("open     %s from %s ?%s", live.connection_id, live.source_ip, live.query)
        watchdog = asyncio.create_task(self._watch_limits(live))
        try:
            async for message in websocket:
                live.touch()
                self._spawn(self._on_message(state, live, message))
        except ConnectionClosed:
            pass
        finally:
            watchdog.cancel()
            self.registry.remove(live.connection_id)
            code, reason = _disconnect_status(websocket, live)
            log.info("close    %s %s %s", live.connection_id, code, reason)
            route = state.deployment.routes.get("$disconnect")
            if route is not None and route.function is not None and not self._stopping:
                event = state.events.disconnect(
                    live.connection_id, status_code=code, reason=reason, authorizer=live.authorizer
                )
                event["requestContext"]["connectedAt"] = live.connected_at
                await self._invoke(state, route.function, event)
            state.events.forget(live.connection_id)

    async def _on_message(
        self, state: _ApiState, live: LiveConnection, message: str | bytes
    ) -> None:
        if state.loaded_at == 0.0:  # refresh() after a redeploy: open connections follow it
            with contextlib.suppress(Exception):  # the API is gone: keep serving what was
                state = await self._api_state(live.api_id, live.stage)
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
            "ok" if invocation.ok else invocation.error_type,
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

    async def _watch_limits(self, live: LiveConnection) -> None:
        """Close a connection that has been idle too long or open too long (1001 Going away)."""
        options = self.options
        tick = max(0.05, min(options.idle_timeout, options.max_duration, 5.0) / 4)
        while True:
            await asyncio.sleep(tick)
            now = time.time() * 1000
            idle = now - live.last_active_at > options.idle_timeout * 1000
            too_long = now - live.connected_at > options.max_duration * 1000
            if idle or too_long:
                live.closed_by_gateway = (1001, "Going away")
                await live.websocket.close(1001, "Going away")
                return

    async def _close_from_management(self, live: LiveConnection) -> None:
        live.closed_by_gateway = (1000, "Connection closed by @connections DELETE")
        if live.websocket is not None:
            self._spawn(live.websocket.close(1000, ""))

    # -- helpers ---------------------------------------------------------------------------
    def forget_deployments(self) -> None:
        """Read every API afresh at its next handshake or message (after a redeploy, say)."""
        for state in self._apis.values():
            state.loaded_at = 0.0

    async def _api_state(self, api_id: str, stage: str) -> _ApiState:
        state = self._apis.get((api_id, stage))
        if state is not None and (
            time.monotonic() - state.loaded_at < self.options.deployment_cache_seconds
        ):
            return state  # a burst of handshakes reads the control plane once
        deployment = await asyncio.to_thread(self._load, api_id, stage)
        state = self._apis.get((api_id, stage))
        if state is None:
            state = _ApiState(
                deployment, EventFactory(api_id=api_id, stage=stage, region=deployment.region)
            )
            self._apis[(api_id, stage)] = state
        else:
            state.deployment = deployment
        state.loaded_at = time.monotonic()
        for function in deployment.functions:
            if function.arn not in state.prewarmed:
                state.prewarmed.add(function.arn)
                self._spawn(self._prewarm(state, function))
        return state

    async def _prewarm(self, state: _ApiState, function: FunctionConfig) -> None:
        try:
            await self.runtime.prewarm(function, self._function_environment(state))
        except Exception:
            log.warning("could not start %s ahead of time", function.name, exc_info=True)

    def _function_environment(self, state: _ApiState) -> dict[str, str]:
        deployment = state.deployment
        return {
            ENDPOINT_OVERRIDE_VARIABLE: self.connections_url(deployment.api_id, deployment.stage)
        }

    async def _invoke(
        self, state: _ApiState, function: FunctionConfig, event: dict[str, Any]
    ) -> Invocation:
        invocation = await self.runtime.invoke(
            function, event, extra_environment=self._function_environment(state)
        )
        if not invocation.ok:
            # An authorizer's "Unauthorized" is an answer (401), not a failure.
            expected = event.get("type") == "REQUEST" and invocation.error_message == "Unauthorized"
            log.log(
                logging.INFO if expected else logging.WARNING,
                "%s failed: %s %s",
                function.name,
                invocation.error_type,
                invocation.error_message,
            )
        return invocation

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


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
