"""API Gateway and chat limits in one place, each with where it comes from."""

from __future__ import annotations

#: API Gateway WebSocket message payload limit, and botocore's max for ``PostToConnection.Data``.
MAX_PAYLOAD_BYTES = 128 * 1024

#: API Gateway WebSocket frame size limit (a larger frame closes the connection with 1009).
MAX_FRAME_BYTES = 32 * 1024

#: How long a connection row lives before DynamoDB's TTL may delete it: 24 hours, well past
#: API Gateway's 2-hour maximum connection duration, so a live connection is never expired.
CONNECTION_TTL_SECONDS = 24 * 60 * 60

#: ``@connections`` posts in flight at once during a fan-out, each on a kept-alive connection
#: of its own (bounded so a large room cannot exhaust the Lambda's sockets; past 16, a wider
#: window bought little locally, ``docs/performance.md``).
FANOUT_MAX_IN_FLIGHT = 16

#: Room and user ids: URL- and log-safe characters only, short enough to read.
IDENTIFIER_PATTERN = r"[A-Za-z0-9_-]+"
IDENTIFIER_MAX_LENGTH = 64
