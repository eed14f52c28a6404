"""Build events shaped like the ones API Gateway sends a WebSocket Lambda integration.

Used by the notebooks and tests to invoke handlers directly, and by the local gateway to
invoke them over real connections. The shapes follow AWS's published samples (see
``tests/events/``): a test checks that every key of those samples is produced here.

A factory remembers each connection's ``connectedAt`` so that, as on AWS, it is the same
on every event of that connection. Given a ``seed``, the ids it makes are repeatable, which
keeps notebook output stable.
"""

from __future__ import annotations

import base64
import json
import os
import random
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["EventFactory", "new_connection_id"]


def new_connection_id(rng: random.Random | None = None) -> str:
    """An id in API Gateway's format: 11 random bytes, URL-safe base64 (``L0SM9cOFvHcCIhw=``)."""
    raw = rng.randbytes(11) if rng else os.urandom(11)
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _request_time(epoch_ms: int) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch_ms / 1000))


class EventFactory:
    """Events for one API and stage. ``clock`` returns epoch seconds."""

    def __init__(
        self,
        *,
        api_id: str = "a1b2c3d4e5",
        stage: str = "dev",
        region: str = "us-east-1",
        domain_name: str | None = None,
        source_ip: str = "127.0.0.1",
        user_agent: str = "websocket-client",
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api_id = api_id
        self.stage = stage
        self.domain_name = domain_name or f"{api_id}.execute-api.{region}.amazonaws.com"
        self.source_ip = source_ip
        self.user_agent = user_agent
        self._rng = random.Random(seed) if seed is not None else None
        self._clock = clock
        self._connected_at: dict[str, int] = {}
        self._identity: dict[str, dict[str, str]] = {}

    def new_connection_id(self) -> str:
        return new_connection_id(self._rng)

    def connect(
        self,
        connection_id: str,
        *,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        authorizer: Mapping[str, Any] | None = None,
        source_ip: str | None = None,
        user_agent: str | None = None,
    ) -> dict[str, Any]:
        now = self._now_ms()
        self._connected_at[connection_id] = now
        self._identity[connection_id] = {
            "userAgent": user_agent or self.user_agent,
            "sourceIp": source_ip or self.source_ip,
        }
        all_headers = {
            "Host": self.domain_name,
            "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
            "Sec-WebSocket-Key": base64.b64encode(uuid.uuid4().bytes).decode("ascii"),
            "Sec-WebSocket-Version": "13",
            "X-Forwarded-For": self.source_ip,
            "X-Forwarded-Port": "443",
            "X-Forwarded-Proto": "https",
            **(headers or {}),
        }
        query = dict(query or {})
        return {
            "headers": all_headers,
            "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} or None,
            "requestContext": self._context(connection_id, "$connect", "CONNECT", now, authorizer),
            "isBase64Encoded": False,
        }

    def authorizer_request(
        self,
        connection_id: str,
        *,
        method_arn: str,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The REQUEST authorizer's event for a ``$connect``: the handshake's headers and
        query, its request context, and the ``methodArn`` the policy must allow."""
        connect = self.connect(connection_id, query=query, headers=headers)
        return {
            "type": "REQUEST",
            "methodArn": method_arn,
            "headers": connect["headers"],
            "multiValueHeaders": connect["multiValueHeaders"],
            "queryStringParameters": connect["queryStringParameters"],
            "multiValueQueryStringParameters": connect["multiValueQueryStringParameters"],
            "stageVariables": {},
            "requestContext": connect["requestContext"],
        }

    def message(
        self,
        connection_id: str,
        body: str | Mapping[str, Any],
        *,
        route_key: str | None = None,
        authorizer: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A MESSAGE event. A mapping body is sent as JSON; its ``action`` names the route."""
        text = body if isinstance(body, str) else json.dumps(body)
        if route_key is None:
            action = body.get("action") if isinstance(body, Mapping) else None
            route_key = action if isinstance(action, str) and action else "$default"
        context = self._context(connection_id, route_key, "MESSAGE", self._now_ms(), authorizer)
        context["messageId"] = self._short_id()
        return {"requestContext": context, "body": text, "isBase64Encoded": False}

    def disconnect(
        self,
        connection_id: str,
        *,
        status_code: int = 1001,
        reason: str = "Going away",
        authorizer: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        headers = {"Host": self.domain_name, "x-api-key": "", "X-Forwarded-For": ""}
        context = self._context(
            connection_id, "$disconnect", "DISCONNECT", self._now_ms(), authorizer
        )
        context["disconnectStatusCode"] = status_code
        context["disconnectReason"] = reason
        self.forget(connection_id)
        return {
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "requestContext": context,
            "isBase64Encoded": False,
        }

    def forget(self, connection_id: str) -> None:
        """Drop what the factory remembers of a connection that has ended."""
        self._connected_at.pop(connection_id, None)
        self._identity.pop(connection_id, None)

    def _context(
        self,
        connection_id: str,
        route_key: str,
        event_type: str,
        now_ms: int,
        authorizer: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        context: dict[str, Any] = {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": self._short_id(),
            "requestTime": _request_time(now_ms),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": self._connected_at.get(connection_id, now_ms),
            "requestTimeEpoch": now_ms,
            "identity": dict(
                self._identity.get(connection_id)
                or {"userAgent": self.user_agent, "sourceIp": self.source_ip}
            ),
            "requestId": self._short_id(),
            "domainName": self.domain_name,
            "connectionId": connection_id,
            "apiId": self.api_id,
        }
        if authorizer is not None:
            context["authorizer"] = dict(authorizer)
        return context

    def _short_id(self) -> str:
        """API Gateway's request and message ids look like ``OxNmOF8SoAMFv3w=``."""
        return new_connection_id(self._rng)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)
