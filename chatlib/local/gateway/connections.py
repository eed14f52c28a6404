"""The gateway's live connections: who is connecting, who is open, and sending to them.

A connection is *connecting* while ``$connect`` runs (posts to it answer 410, as on AWS),
*open* once the upgrade completed, and gone after it closed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

__all__ = ["FAILED_WRITE", "ConnectionRegistry", "LiveConnection", "Limits", "watch_limits"]


#: How long a connection may stay half-closed after its closing handshake.
CLOSING_GRACE_SECONDS = 1.0

log = logging.getLogger("chatlib.local.gateway")

#: ``closed_by_gateway`` of a connection ended because its writes were stuck.
FAILED_WRITE = (1006, "Connection closed abnormally")


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

    def open_connections(self) -> list[LiveConnection]:
        return [c for c in self._connections.values() if c.is_open]


class Limits(Protocol):
    idle_timeout: float
    max_duration: float
    write_timeout: float


async def watch_limits(live: LiveConnection, limits: Limits) -> None:
    """Close a connection idle for ``idle_timeout`` seconds or open for ``max_duration``
    (1001 Going away), as API Gateway does after 10 minutes idle or 2 hours in all.

    *Idle* means no data frame either way: a client's message or a ``@connections`` post
    (:meth:`LiveConnection.touch`). Ping and pong frames do not count; see
    ``docs/local-gateway.md``. The limits are read on every tick, so a test or a notebook may
    shorten them on a running gateway.

    A connection whose outgoing bytes have waited at every tick for ``write_timeout`` seconds
    (the client stopped reading, and every buffer on the way is full) is ended as a failed
    write ends it on AWS: aborted, 1006, and a post waiting on it answers 410. Watching here
    rather than around each post keeps a timer off the fan-out's path.

    Once the gateway has sent its close frame, the peer gets ``CLOSING_GRACE_SECONDS`` to
    end the connection; then its transport is aborted, so its session ends and
    ``$disconnect`` runs. That covers a peer that vanished without a FIN (it never answers)
    and websocket-client, which leaves its socket open after reading the server's close frame.
    """
    closing_since: float | None = None
    stuck_since: float | None = None
    closing: asyncio.Task[None] | None = None  # the close handshake, kept referenced
    websocket = live.websocket
    assert websocket is not None
    while True:
        shortest = min(limits.idle_timeout, limits.max_duration, limits.write_timeout, 5.0)
        await asyncio.sleep(max(0.05, shortest / 4) if closing_since is None else 0.1)
        now = time.time() * 1000
        if websocket.transport.get_write_buffer_size() == 0:
            stuck_since = None
        elif stuck_since is None:
            stuck_since = now
        elif now - stuck_since > limits.write_timeout * 1000:
            log.info(
                "stuck    %s: nothing written for %.0f s", live.connection_id, limits.write_timeout
            )
            live.closed_by_gateway = live.closed_by_gateway or FAILED_WRITE
            websocket.transport.abort()
            return
        if websocket.state is not State.OPEN:
            closing_since = closing_since or now
            if now - closing_since > CLOSING_GRACE_SECONDS * 1000:
                websocket.transport.abort()
                return
            continue
        idle = now - live.last_active_at > limits.idle_timeout * 1000
        too_long = now - live.connected_at > limits.max_duration * 1000
        if (idle or too_long) and closing is None:
            live.closed_by_gateway = (1001, "Going away")
            # Not awaited: close() would wait its full close_timeout for a peer that is gone.
            closing = asyncio.create_task(websocket.close(1001, "Going away"))
