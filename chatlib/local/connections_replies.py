"""What API Gateway's ``@connections`` API answers, in one place for both local servers.

The local gateway's management API (:mod:`chatlib.local.gateway.management_api`) and the
unit tests' stand-in (:mod:`chatlib.local.connections_standin`) answer with these, so the
two cannot spell an error differently. Errors carry ``x-amzn-ErrorType``, which is how
boto3 picks the modeled exception (``client.exceptions.GoneException``) and how chatlib's
sender tells a 410 from the rest.

    410 GoneException             the id is unknown, closed, or still in ``$connect``
    403 ForbiddenException        not an ``@connections`` path (or a method it lacks)
    413 PayloadTooLargeException  a body over 128 KB
    400 BadRequestException       a request that is not HTTP/1.1 the server can read
    429 LimitExceededException    throttled (only when a test injects it: :func:`for_status`)
    500 InternalServerError       the server failed
    503 ServiceUnavailable        (injected, like 429)
"""

from __future__ import annotations

import json
import time

__all__ = [
    "Reply",
    "bad_request",
    "connection_info",
    "for_status",
    "forbidden",
    "gone",
    "internal_error",
    "iso_timestamp",
    "no_content",
    "ok",
    "too_large",
]

#: (status, headers, body)
Reply = tuple[int, dict[str, str], bytes]


def _error(status: int, error_type: str, message: str | None) -> Reply:
    body = json.dumps({"message": message}).encode()
    return status, {"x-amzn-ErrorType": error_type, "Content-Type": "application/json"}, body


def gone() -> Reply:
    return _error(410, "GoneException", None)


def forbidden() -> Reply:
    return _error(403, "ForbiddenException", "Forbidden")


def too_large() -> Reply:
    return _error(413, "PayloadTooLargeException", "Message too long")


def bad_request() -> Reply:
    return _error(400, "BadRequestException", "Bad request")


def internal_error() -> Reply:
    return _error(500, "InternalServerError", "Internal error")


def throttled() -> Reply:
    return _error(429, "LimitExceededException", "Rate exceeded")


def unavailable() -> Reply:
    return _error(503, "ServiceUnavailable", "Service unavailable")


def for_status(status: int) -> Reply:
    """The error reply AWS gives with ``status`` (for injected failures)."""
    replies = {403: forbidden, 410: gone, 413: too_large, 429: throttled, 503: unavailable}
    if status in replies:
        return replies[status]()
    return _error(status, "InternalServerError", "Internal error")


def ok() -> Reply:
    """A post delivered."""
    return 200, {}, b""


def no_content() -> Reply:
    """A DELETE done."""
    return 204, {}, b""


def connection_info(
    *, connected_at: int, source_ip: str, user_agent: str, last_active_at: int
) -> Reply:
    """GET's answer: when the connection opened, who it is, when it was last active."""
    info = {
        "connectedAt": iso_timestamp(connected_at),
        "identity": {"sourceIp": source_ip, "userAgent": user_agent},
        "lastActiveAt": iso_timestamp(last_active_at),
    }
    return 200, {"Content-Type": "application/json"}, json.dumps(info).encode()


def iso_timestamp(epoch_ms: int) -> str:
    """``2024-05-01T12:00:00.123Z``, as ``@connections`` writes times."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_ms / 1000)) + (
        f".{epoch_ms % 1000:03d}Z"
    )
