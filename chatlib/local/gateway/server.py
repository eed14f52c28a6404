"""The local gateway: API Gateway's WebSocket data plane for the APIs deployed in moto.

:class:`LocalGateway` wires the parts, each in a module of its own as API Gateway's own parts
are: the WebSocket side (:mod:`.protocol`: handshake, messages, closing; with
:mod:`.authorizer` and :mod:`.routing`), the deployed APIs read from the control plane
(:mod:`.served_apis`, :mod:`.deployment`), the functions (:mod:`.lambda_runtime`) and
``@connections`` over HTTP (:mod:`.management_api`), and Lambda's SQS pollers for event source
mappings (:mod:`.event_sources`). It owns their lifecycle, their ports
and the background work they start, so that ``stop()`` leaves nothing running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.server import Server, serve

from chatlib.limits import MAX_FRAME_BYTES, MAX_PAYLOAD_BYTES
from chatlib.local.gateway.connections import ConnectionRegistry
from chatlib.local.gateway.deployment import Deployment, FunctionConfig
from chatlib.local.gateway.event_sources import EventSources
from chatlib.local.gateway.lambda_runtime import DEFAULT_IDLE_SECONDS, Invocation, LambdaRuntime
from chatlib.local.gateway.management_api import ManagementAPI
from chatlib.local.gateway.protocol import WebSocketProtocol
from chatlib.local.gateway.served_apis import ServedApi, ServedApis
from chatlib.sender import ENDPOINT_OVERRIDE_VARIABLE

__all__ = ["GatewayOptions", "LocalGateway"]

log = logging.getLogger("chatlib.local.gateway")

#: Seconds a client gets to answer the close frame when the gateway shuts down.
SHUTDOWN_CLOSE_TIMEOUT = 0.5


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
    instance_idle_seconds: float = DEFAULT_IDLE_SECONDS  # an idle function instance then ends
    write_timeout: float = 10.0  # writes stuck this long (the client stopped reading) end it
    event_source_refresh_seconds: float = 1.0  # SQS event source mappings are read this often


#: Bind addresses that mean "every interface": this machine reaches them over loopback.
_ANY_ADDRESS = {"0.0.0.0", "::", ""}


class LocalGateway:
    """Serve deployed WebSocket APIs. ``load`` returns the deployment for ``(api_id, stage)``
    and raises ``LookupError`` when there is none; it is called on every handshake, so a
    redeploy takes effect for the next connection.

    ``host`` is the address both servers bind: loopback unless a classroom on a LAN is
    served (``0.0.0.0`` or a LAN address). URLs name :attr:`local_host`, the address this
    machine's own clients and functions use, unless asked for another host (the learners')."""

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
        logs_client: Any = None,
    ) -> None:
        self.options = options or GatewayOptions()
        self.host = host
        self.local_host = "127.0.0.1" if host in _ANY_ADDRESS else host
        self._requested_ports = (websocket_port, connections_port)
        self.apis = ServedApis(
            load, cache_seconds=self.options.deployment_cache_seconds, prewarm=self._prewarm
        )
        self.registry = ConnectionRegistry()
        self.runtime = LambdaRuntime(
            base_environment=base_environment,
            region=region,
            max_instances_per_function=self.options.max_instances_per_function,
            idle_seconds=self.options.instance_idle_seconds,
            logs_client=logs_client,
        )
        self.protocol = WebSocketProtocol(
            apis=self.apis,
            registry=self.registry,
            options=self.options,
            invoke=self._invoke,
            spawn=self._spawn,
            stopping=lambda: self._stopping,
        )
        self.event_sources = EventSources(
            self._invoke_from_queue,
            local_cap=self.options.max_instances_per_function,
            refresh_seconds=self.options.event_source_refresh_seconds,
        )
        self.management = ManagementAPI(self.registry, self.protocol.close_from_management)
        page = resources.files("chatlib.tools").joinpath("static/chat.html").read_bytes()
        self.management.pages["/chat"] = ("text/html; charset=utf-8", page)
        self._ws_server: Server | None = None
        self._http_server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.websocket_port = self.connections_port = 0
        self._stopping = False

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        self.runtime.start()
        self.event_sources.start()
        ws_port, http_port = self._requested_ports
        self._http_server = await asyncio.get_running_loop().create_server(
            self.management.connection_factory, self.host, http_port
        )
        self.connections_port = self._http_server.sockets[0].getsockname()[1]
        self._ws_server = await serve(
            self.protocol.session,
            self.host,
            ws_port,
            process_request=self.protocol.handshake,
            select_subprotocol=self.protocol.select_subprotocol,
            max_size=(self.options.max_message_bytes, self.options.max_frame_bytes),
            open_timeout=self.options.handshake_timeout,
            # API Gateway sends no pings of its own, so a client that vanished without a FIN
            # stays "open" until the idle time-out (docs/local-gateway.md, "Half-open
            # connections"). A client's pings are still answered: RFC 6455 requires a pong.
            ping_interval=None,
            ping_timeout=None,
            close_timeout=5,
            server_header="chatlib-local-gateway",
        )
        self.websocket_port = self._ws_server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._stopping = True  # connections closed by the shutdown itself get no $disconnect
        if self._ws_server is not None:
            for connection in self._ws_server.connections:
                # A client that is not reading (a notebook's idle ChatClient) never answers the
                # close frame; at shutdown, wait for it briefly, not the usual five seconds.
                connection.close_timeout = SHUTDOWN_CLOSE_TIMEOUT
            self._ws_server.close()
            with contextlib.suppress(TimeoutError):  # a handler stuck in an invocation
                await asyncio.wait_for(self._ws_server.wait_closed(), timeout=15)
        # Work in flight gets five seconds in all, not five each; then it is cancelled.
        pending = [task for task in self._tasks if not task.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=5)
            for task in late:
                task.cancel()
        await self.event_sources.stop()
        if self._http_server is not None:
            self._http_server.close()
        await self.runtime.close()

    @property
    def pending_tasks(self) -> int:
        """Messages, closes and start-ups the gateway is still working on."""
        return len(self._tasks)

    def websocket_url(self, api_id: str, stage: str, host: str | None = None) -> str:
        return f"ws://{_url_host(host or self.local_host)}:{self.websocket_port}/{api_id}/{stage}"

    def connections_url(self, api_id: str, stage: str) -> str:
        return f"http://{_url_host(self.local_host)}:{self.connections_port}/{api_id}/{stage}"

    def chat_page_url(self, api_id: str, stage: str, host: str | None = None) -> str:
        """The browser chat page, with this API's WebSocket URL filled in."""
        query = urlencode({"url": self.websocket_url(api_id, stage, host)})
        return f"http://{_url_host(host or self.local_host)}:{self.connections_port}/chat?{query}"

    # -- deployments and functions -----------------------------------------------------
    def forget_deployments(self) -> None:
        """Read every API afresh at its next handshake or message (after a redeploy, say),
        and the event source mappings now."""
        self.apis.forget()
        self.event_sources.forget()

    def _prewarm(self, state: ServedApi, function: FunctionConfig) -> None:
        self._spawn(self._start_ahead(state, function))

    async def _start_ahead(self, state: ServedApi, function: FunctionConfig) -> None:
        try:
            await self.runtime.prewarm(function, self._function_environment(state))
        except Exception:
            log.warning("could not start %s ahead of time", function.name, exc_info=True)

    def _function_environment(self, state: ServedApi) -> dict[str, str]:
        deployment = state.deployment
        return {
            ENDPOINT_OVERRIDE_VARIABLE: self.connections_url(deployment.api_id, deployment.stage)
        }

    async def _invoke_from_queue(
        self, function: FunctionConfig, event: dict[str, Any]
    ) -> Invocation:
        """Lambda's poller invokes with no API behind it: the function has its own
        configuration and no ``@connections`` URL from the gateway (a message names one)."""
        return await self.runtime.invoke(function, event, extra_environment={})

    async def _invoke(
        self, state: ServedApi, function: FunctionConfig, event: dict[str, Any]
    ) -> Invocation:
        self.event_sources.follow()  # the deploy is done: from now on, mappings are followed
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


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
