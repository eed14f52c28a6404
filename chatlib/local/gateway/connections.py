"""The gateway's live connections: who is connecting, who is open, and sending to them.

A connection is *connecting* while ``$connect`` runs (posts to it answer 410, as on AWS),
*open* once the upgrade completed, and gone after it closed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

__all__ = ["ConnectionRegistry", "LiveConnection", "Limits", "watch_limits"]


#: How long a connection may stay half-closed after its closing handshake.
CLOSING_GRACE_SECONDS = 1.0


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class LiveConnection:
    connection_id: str
    api_id: str
    stage: str
    connected_at: int
    source_ip: str
    user_agent: str
    query: str = ""
    authorizer: dict[str, Any] | None = None
    subprotocol: str | None = None  # what $connect chose to echo
    websocket: ServerConnection | None = None
    last_active_at: int = field(default_factory=_now_ms)
    closed_by_gateway: tuple[int, str] | None = None

    @property
    def is_open(self) -> bool:
        """Upgraded and not closing: a post to a connection in its closing handshake is gone
        at once (410), instead of waiting for the handshake to finish."""
        return (
            self.websocket is not None
            and self.closed_by_gateway is None
            and self.websocket.state is State.OPEN
        )

    def touch(self) -> None:
        self.last_active_at = _now_ms()


class ConnectionRegistry:
    def __init__(self) -> None:
        self._connections: dict[str, LiveConnection] = {}

    def add(self, connection: LiveConnection) -> None:
        self._connections[connection.connection_id] = connection

    def remove(self, connection_id: str) -> None:
        self._connections.pop(connection_id, None)

    def open(self, connection_id: str, api_id: str, stage: str) -> LiveConnection | None:
        """The open connection with this id on this API and stage, or ``None`` (gone)."""
        connection = self._connections.get(connection_id)
        if connection is None or not connection.is_open:
            return None
        if (connection.api_id, connection.stage) != (api_id, stage):
            return None
        return connection

    def __len__(self) -> int:
        return len(self._connections)


class Limits(Protocol):
    idle_timeout: float
    max_duration: float


async def watch_limits(live: LiveConnection, limits: Limits) -> None:
    """Close a connection idle for ``idle_timeout`` seconds or open for ``max_duration``
    (1001 Going away), as API Gateway does after 10 minutes idle or 2 hours in all.

    Also end a connection whose closing handshake is over but whose client never closes its
    socket (websocket-client, after it has read the server's close frame, leaves it open):
    after ``CLOSING_GRACE_SECONDS`` its transport is aborted, so its session ends and
    ``$disconnect`` runs, instead of waiting for a TCP close that never comes.
    """
    tick = max(0.05, min(limits.idle_timeout, limits.max_duration, 5.0) / 4)
    closing_since: float | None = None
    assert live.websocket is not None
    while True:
        await asyncio.sleep(tick if closing_since is None else 0.1)
        now = time.time() * 1000
        if live.websocket.state is not State.OPEN:
            closing_since = closing_since or now
            if now - closing_since > CLOSING_GRACE_SECONDS * 1000:
                live.websocket.transport.abort()
                return
            continue
        idle = now - live.last_active_at > limits.idle_timeout * 1000
        too_long = now - live.connected_at > limits.max_duration * 1000
        if idle or too_long:
            live.closed_by_gateway = (1001, "Going away")
            await live.websocket.close(1001, "Going away")
            return
