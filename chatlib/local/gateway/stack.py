"""The local stack: the embedded AWS plus the local gateway, running in the background.

``start_local_stack()`` is the one call a notebook makes. The gateway runs on its own
asyncio loop in a daemon thread, so the kernel stays free for websocket-client code; a
second call returns the stack already running; ``stop()`` ends both cleanly.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import boto3

from chatlib.local.embedded import EmbeddedAWS, running_embedded_aws, start_embedded_aws
from chatlib.local.gateway.deployment import Deployment, load_deployment
from chatlib.local.gateway.server import GatewayOptions, LocalGateway

__all__ = ["LocalStack", "start_local_stack", "stop_local_stack"]

T = TypeVar("T")
_AWS_URL = re.compile(
    r"(?:wss|https)://(?P<api>[a-z0-9]+)\.execute-api\.[a-z0-9-]+\.amazonaws\.com"
    r"/(?P<stage>[A-Za-z0-9_-]+)(?P<callback>/@connections)?/?"
)
_lock = threading.Lock()
_running: LocalStack | None = None


@dataclass
class LocalStack:
    aws: EmbeddedAWS
    gateway: LocalGateway
    _loop: asyncio.AbstractEventLoop
    _thread: threading.Thread
    _owns_aws: bool = True
    _loader: _DeploymentLoader | None = None

    @property
    def aws_endpoint_url(self) -> str:
        return self.aws.endpoint_url

    def deployment(self, api_id: str | None = None, stage: str | None = None) -> Deployment:
        """The deployed WebSocket API (the only one, unless ``api_id`` names it)."""
        return load_deployment(api_id, stage)

    def websocket_url(self, api_id: str | None = None, stage: str | None = None) -> str:
        """``ws://…/{apiId}/{stage}``: where clients connect (``wss://…/{stage}`` on AWS)."""
        deployment = self.deployment(api_id, stage)
        return self.gateway.websocket_url(deployment.api_id, deployment.stage)

    def connections_url(self, api_id: str | None = None, stage: str | None = None) -> str:
        """The ``@connections`` endpoint (the callback URL on AWS)."""
        deployment = self.deployment(api_id, stage)
        return self.gateway.connections_url(deployment.api_id, deployment.stage)

    def chat_page_url(self, api_id: str | None = None, stage: str | None = None) -> str:
        """The browser chat page served by the stack, set up for this API."""
        deployment = self.deployment(api_id, stage)
        return self.gateway.chat_page_url(deployment.api_id, deployment.stage)

    def local_url(self, aws_url: str) -> str:
        """Where a deployed stack's AWS address is served here.

        ``wss://{api}.execute-api.{region}.amazonaws.com/{stage}`` (the ``WebSocketUrl``
        output) becomes this gateway's ``ws://…/{api}/{stage}``; the ``…/@connections``
        callback URL becomes the local ``@connections`` endpoint. The deployment is read
        afresh, so a stack deployed a moment ago is served as it is now.
        """
        match = _AWS_URL.fullmatch(aws_url)
        if match is None:
            raise ValueError(
                f"{aws_url!r} is not an API Gateway address "
                "(wss://{api}.execute-api.{region}.amazonaws.com/{stage}[/@connections])"
            )
        self.refresh()
        api_id, stage, callback = match.group("api", "stage", "callback")
        if callback:
            return self.gateway.connections_url(api_id, stage)
        return self.gateway.websocket_url(api_id, stage)

    def refresh(self) -> None:
        """Serve a redeployed API from the very next handshake (otherwise within a second),
        and read the event source mappings now (``wait_until_idle`` waits for that)."""
        self.gateway.event_sources.discovering = True
        self._loop.call_soon_threadsafe(self.gateway.forget_deployments)

    def logs(self, function_name: str) -> list[str]:
        """Everything a function has logged, like its CloudWatch log group."""
        return self.gateway.runtime.logs.lines(function_name)

    def invocations(self, function_name: str) -> list[dict[str, Any]]:
        """The structured lines chatlib's handlers logged, one per invocation, oldest first."""
        records = []
        for line in self.logs(function_name):
            payload = line.rsplit("\t", 1)[-1]
            if payload.startswith("{") and '"outcome"' in payload:
                records.append(json.loads(payload))
        return records

    def wait_until_idle(self, timeout: float = 10, settle: float = 0.1) -> None:
        """Wait until no function is running and no message is being handled, for at least
        ``settle`` seconds (a client's frame may still be on its way to the gateway), and no
        queue an event source mapping polls holds a message waiting to be received."""
        deadline = time.monotonic() + timeout
        quiet_since = None
        sources = self.gateway.event_sources
        while time.monotonic() < deadline:
            busy = (
                self.gateway.runtime.in_flight
                or self.gateway.pending_tasks
                or sources.in_flight
                or sources.discovering
            )
            now = time.monotonic()
            if busy:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= settle:
                if not sources.waiting_messages():
                    return
                quiet_since = None
            time.sleep(0.02)
        raise TimeoutError(f"the gateway was still busy after {timeout} s")

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run a coroutine on the gateway's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    # -- supervision (``chatlib-local serve``) ------------------------------------------
    def aws_exit_status(self) -> int | None:
        """How the embedded AWS's own process ended (a negative number: the signal that
        killed it), or ``None`` while it runs or when it runs as a thread of this process."""
        process = self.aws.process()
        return None if process is None else process.poll()

    def aws_pid(self) -> int | None:
        process = self.aws.process()
        return None if process is None else process.pid

    def restart_aws(self, redeploy: Callable[[], T]) -> T:
        """Start the embedded AWS again in its own process, on the same port, after its
        process ended, and run ``redeploy`` against it (it starts empty, as at any start);
        ``redeploy``'s result. The gateway's and the function instances' clients name that
        port, so they reach the new one unchanged. Raises what starting or ``redeploy``
        raised (the port taken meanwhile, say).

        No handshake reaches the new AWS meanwhile (:class:`_DeploymentLoader`), no SQS
        poller asks it anything (``EventSources.paused``) and no function log line is shipped
        (``FunctionLogs.destination_replaced`` says why).
        """
        port = urlsplit(self.aws.endpoint_url).port
        if self._loader is not None:
            self._loader.paused = True
        sources = self.gateway.event_sources
        sources.paused = True  # nor a poller: its requests would draw ids too
        self.refresh()  # nor a deployment the gateway remembers
        try:
            with self.gateway.runtime.logs.destination_replaced():
                with _lock:
                    if self._owns_aws:
                        self.aws.stop()  # what is left of the old one (its process has ended)
                    self.aws = start_embedded_aws(port=port or 0, own_process=True)
                    self._owns_aws = True
                return redeploy()
        finally:
            if self._loader is not None:
                self._loader.paused = False
            self._loop.call_soon_threadsafe(sources.forget_queues)
            sources.paused = False

    def close_connections(self, code: int, reason: str) -> int:
        """Close every open WebSocket with ``code`` (1012, "Service Restart": a client such as
        the browser chat page reconnects); how many were open."""

        async def close_all() -> int:
            live = self.gateway.registry.open_connections()
            for connection in live:
                connection.closed_by_gateway = (code, reason)
            await asyncio.gather(*(c.websocket.close(code, reason) for c in live if c.websocket))
            return len(live)

        return self.run(close_all())

    def stop(self) -> None:
        global _running
        with _lock:
            self.run(self.gateway.stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            if self._owns_aws:  # an embedded AWS started before the stack outlives it
                self.aws.stop()
            if _running is self:
                _running = None


def stop_local_stack() -> str:
    """Stop whatever this process runs locally: the gateway with every function instance, and
    the embedded AWS (whoever started it). What a notebook's last cell calls; safe to call
    twice, or when nothing runs. Returns one line saying what it stopped."""
    stopped = []
    stack, aws = _running, running_embedded_aws()
    if stack is not None:
        stack.stop()
        stopped.append("the local gateway and its function instances")
    if aws is not None:
        if running_embedded_aws() is aws:  # the stack stops only an AWS it started itself
            aws.stop()
        stopped.append("the embedded AWS")
    return "stopped " + " and ".join(stopped) if stopped else "nothing was running"


def start_local_stack(
    *,
    host: str = "127.0.0.1",
    websocket_port: int = 0,
    connections_port: int = 0,
    aws_port: int = 0,
    options: GatewayOptions | None = None,
    aws_in_own_process: bool = False,
) -> LocalStack:
    """Start the embedded AWS and the gateway (free loopback ports unless given), once.

    ``host`` is where the gateway listens: keep loopback unless learners on other machines
    must reach it (``chatlib-local serve --host``). The embedded AWS stays on loopback.
    ``aws_in_own_process`` runs moto as a child process instead of a thread of this one.
    """
    global _running
    with _lock:
        if _running is not None:
            return _running
        owns_aws = running_embedded_aws() is None
        aws = start_embedded_aws(port=aws_port, own_process=aws_in_own_process)
        loader = _DeploymentLoader(boto3.client("apigatewayv2"), boto3.client("lambda"))
        gateway = LocalGateway(
            load=loader,
            logs_client=boto3.client("logs"),
            host=host,
            base_environment={
                "AWS_ENDPOINT_URL": aws.endpoint_url,
                "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
                "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
            },
            websocket_port=websocket_port,
            connections_port=connections_port,
            options=options,
            region=aws.region,
        )
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="chatlib-gateway", daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(gateway.start(), loop).result(30)
        _running = LocalStack(aws, gateway, loop, thread, owns_aws, loader)
        return _running


class _DeploymentLoader:
    """The gateway's ``load``: :func:`load_deployment`, unless a restart of the embedded AWS
    has paused it. While paused, a handshake is refused as for an API that does not exist
    (the browser chat page tries again), without asking the new embedded AWS anything: a
    request it answered during the redeploy could draw from the random ids that the redeploy
    must draw in the same order as the first deploy (``chatlib-local serve`` seeds them)."""

    def __init__(self, apigateway: Any, lambda_client: Any) -> None:
        self.apigateway, self.lambda_client = apigateway, lambda_client
        self.paused = False

    def __call__(self, api_id: str, stage: str) -> Deployment:
        if self.paused:
            raise LookupError("the embedded AWS is restarting")
        return load_deployment(
            api_id, stage, apigateway=self.apigateway, lambda_client=self.lambda_client
        )
