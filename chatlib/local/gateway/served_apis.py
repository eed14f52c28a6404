"""The APIs the gateway serves, read from the control plane and kept for a moment.

Every handshake needs the deployment of its ``(apiId, stage)``; reading the control plane
each time would make a burst of handshakes a burst of control-plane calls. So a deployment
is kept for ``cache_seconds`` (a redeploy is served from the next handshake after it), or
until :meth:`ServedApis.forget` marks every API stale, after which even open connections
read it afresh on their next message. Each function is started once ahead of its first
invocation (``prewarm``), so the first message is not a cold start; a function whose policy
refuses API Gateway is started after a permission lets it run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from chatlib.local.event_factory import EventFactory
from chatlib.local.gateway.deployment import Deployment, FunctionConfig

__all__ = ["ServedApi", "ServedApis"]


@dataclass
class ServedApi:
    """One API and stage: what is deployed, and the events of its connections."""

    deployment: Deployment
    events: EventFactory
    prewarmed: set[str] = field(default_factory=set)
    loaded_at: float = 0.0

    @property
    def stale(self) -> bool:
        return self.loaded_at == 0.0


class ServedApis:
    """``load(api_id, stage)`` reads a deployment (``LookupError`` when there is none);
    ``prewarm(api, function)`` is called once per function of each API."""

    def __init__(
        self,
        load: Callable[[str, str], Deployment],
        *,
        cache_seconds: float,
        prewarm: Callable[[ServedApi, FunctionConfig], None],
    ) -> None:
        self._load = load
        self._cache_seconds = cache_seconds
        self._prewarm = prewarm
        self._apis: dict[tuple[str, str], ServedApi] = {}

    def cached(self, api_id: str, stage: str) -> ServedApi:
        """The API as last read (a connection's handshake read it, so it is there)."""
        return self._apis[(api_id, stage)]

    async def get(self, api_id: str, stage: str) -> ServedApi:
        """The API, read afresh unless it was read within ``cache_seconds``."""
        api = self._apis.get((api_id, stage))
        if api is not None and time.monotonic() - api.loaded_at < self._cache_seconds:
            return api  # a burst of handshakes reads the control plane once
        deployment = await asyncio.to_thread(self._load, api_id, stage)
        api = self._apis.get((api_id, stage))
        if api is None:
            events = EventFactory(api_id=api_id, stage=stage, region=deployment.region)
            api = self._apis[(api_id, stage)] = ServedApi(deployment, events)
        else:
            api.deployment = deployment
        api.loaded_at = time.monotonic()
        for function in deployment.functions:
            # a function API Gateway may not invoke is started once it may (no use before)
            if function.arn not in api.prewarmed and function.invoke_refusal is None:
                api.prewarmed.add(function.arn)
                self._prewarm(api, function)
        return api

    def forget(self) -> None:
        """Read every API afresh at its next handshake or message (after a redeploy, say)."""
        for api in self._apis.values():
            api.loaded_at = 0.0
