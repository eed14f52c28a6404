"""A read-only view of the event API Gateway gives a WebSocket Lambda integration.

Handlers read events through this class instead of digging in nested dicts, so a missing
field has one well-defined default and the field names are spelled once.
"""

from __future__ import annotations

from typing import Any

__all__ = ["WebSocketEvent"]


class WebSocketEvent:
    def __init__(self, event: dict[str, Any]) -> None:
        self.raw = event
        self.request_context: dict[str, Any] = event.get("requestContext") or {}

    @property
    def route_key(self) -> str:
        return self.request_context.get("routeKey", "")

    @property
    def event_type(self) -> str:
        """CONNECT, MESSAGE or DISCONNECT."""
        return self.request_context.get("eventType", "")

    @property
    def connection_id(self) -> str:
        return self.request_context.get("connectionId", "")

    @property
    def connected_at(self) -> int:
        """When the connection opened, in ms since the epoch (the same on every event)."""
        return int(self.request_context.get("connectedAt", 0))

    @property
    def domain_name(self) -> str:
        return self.request_context.get("domainName", "")

    @property
    def stage(self) -> str:
        return self.request_context.get("stage", "")

    @property
    def request_id(self) -> str:
        return self.request_context.get("requestId", "")

    @property
    def authorizer(self) -> dict[str, Any]:
        """What a Lambda authorizer returned (``principalId`` and context); empty without one."""
        return self.request_context.get("authorizer") or {}

    @property
    def query(self) -> dict[str, str]:
        return self.raw.get("queryStringParameters") or {}

    @property
    def headers(self) -> dict[str, str]:
        return self.raw.get("headers") or {}

    @property
    def offered_subprotocols(self) -> list[str]:
        """The client's ``Sec-WebSocket-Protocol`` entries, in its order."""
        headers = {key.lower(): value for key, value in self.headers.items()}
        entries = (headers.get("sec-websocket-protocol") or "").split(",")
        return [entry.strip() for entry in entries if entry.strip()]

    @property
    def is_binary(self) -> bool:
        """A binary frame (API Gateway passes it base64-encoded)."""
        return bool(self.raw.get("isBase64Encoded"))

    @property
    def body(self) -> str | None:
        """The message text. Binary frames arrive base64-encoded; they are not chat messages."""
        if self.raw.get("isBase64Encoded"):
            return None
        return self.raw.get("body")
