"""Posting frames to clients through API Gateway's ``@connections`` management API.

Where that API lives is the one place chatlib behaves differently off AWS. On AWS it is
``https://{domainName}/{stage}`` of the event that invoked the handler. Locally, the process
sets :data:`ENDPOINT_OVERRIDE_VARIABLE` to the local gateway's (or a stand-in's) URL. Handlers
never ask "am I local?" anywhere else.

Throttling (429) and server errors (5xx) are retried as botocore's ``standard`` retry mode
retries them: at most :data:`MAX_ATTEMPTS` attempts in all, waiting a random time up to
1 s, then up to 2 s (exponential backoff with full jitter). A 410 (gone), 403 or 413 is an
answer, never retried. A post that succeeds at once costs nothing more.
"""

from __future__ import annotations

import http.client
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import boto3

from chatlib.errors import ConfigurationError, ConnectionGone, ConnectionsApiError
from chatlib.sigv4 import RequestSigner, signed_host

__all__ = [
    "ENDPOINT_OVERRIDE_VARIABLE",
    "MAX_ATTEMPTS",
    "ConnectionsApiError",
    "ConnectionsSender",
    "backoff_delay",
    "connections_endpoint",
    "is_retryable",
]

#: Full ``@connections`` endpoint (scheme, host, port and stage path) to use instead of the
#: one built from the event. Unset on AWS.
ENDPOINT_OVERRIDE_VARIABLE = "CHATLIB_CONNECTIONS_URL"

#: Attempts per post, the first included (botocore's standard mode default).
MAX_ATTEMPTS = 3
#: No wait between attempts is longer than this (botocore's standard mode cap).
MAX_BACKOFF_SECONDS = 20.0


def is_retryable(status: int) -> bool:
    """429 (throttled) and 5xx are worth another attempt; every other answer is final."""
    return status == 429 or 500 <= status < 600


def backoff_delay(retry: int, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number ``retry`` (1, 2, …): full jitter, doubling."""
    return min(rng() * 2 ** (retry - 1), MAX_BACKOFF_SECONDS)


def connections_endpoint(
    domain_name: str, stage: str, environ: Mapping[str, str] = os.environ
) -> str:
    """The ``@connections`` endpoint for an event's ``domainName`` and ``stage``."""
    override = environ.get(ENDPOINT_OVERRIDE_VARIABLE)
    if override:
        return override.rstrip("/")
    return f"https://{domain_name}/{stage}"


class ConnectionsSender:
    """Send frames to connections; a closed connection raises :class:`ConnectionGone`.

    Each post is the management API's ``POST /{stage}/@connections/{id}``, signed with
    SigV4 (:mod:`chatlib.sigv4`, the Authorization header botocore would write), the request
    boto3's ``post_to_connection`` sends. It goes out over a kept-alive ``http.client``
    connection, one per thread, instead of through a boto3 client: a fan-out makes one post
    per member of the room, and this path costs about a seventh of boto3's client CPU per post
    (``docs/performance.md`` has the measurements).
    """

    def __init__(
        self,
        endpoint_url: str,
        *,
        region: str | None = None,
        credentials: Any = None,
        max_attempts: int = MAX_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        parts = urlsplit(self.endpoint_url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigurationError(f"{endpoint_url!r} is not an http(s) @connections endpoint")
        self._scheme, self._host, self._port = parts.scheme, parts.hostname, parts.port
        self._signed_host = signed_host(parts.scheme, parts.hostname, parts.port)
        self._base_path = parts.path
        session = boto3.session.Session()
        self._region = region or session.region_name or "us-east-1"
        credentials = credentials or session.get_credentials()
        if credentials is None:
            raise ConfigurationError(
                "no AWS credentials: @connections calls must be signed (on Lambda the "
                "function's role provides them; locally start_embedded_aws() sets test ones)"
            )
        self._signer = RequestSigner(credentials, self._region, "execute-api")
        self._local = threading.local()
        self.max_attempts = max(1, max_attempts)
        self._sleep = sleep

    def post(self, connection_id: str, data: bytes) -> None:
        """Deliver ``data`` to one connection (retrying 429 and 5xx)."""
        self._call("POST", connection_id, data)

    def close(self, connection_id: str) -> None:
        """Close one connection (``DELETE``); API Gateway then runs ``$disconnect``.

        Closing a connection that is already gone is not an error.
        """
        try:
            self._call("DELETE", connection_id, b"")
        except ConnectionGone:
            pass

    def _call(self, method: str, connection_id: str, data: bytes) -> None:
        path = f"{self._base_path}/@connections/{quote(connection_id, safe='')}"
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1:
                self._sleep(backoff_delay(attempt - 1))
            headers = self._signer.headers(method, self._signed_host, path, data)
            status, error_type = self._send(method, path, data, headers)
            if status < 300:
                return
            if status == 410:
                raise ConnectionGone(connection_id)
            if not is_retryable(status) or attempt == self.max_attempts:
                raise ConnectionsApiError(
                    connection_id, status, error_type.split(":")[0] or str(status)
                )

    def _send(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, str]:
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                return response.status, response.getheader("x-amzn-ErrorType", "")
            except (http.client.RemoteDisconnected, http.client.CannotSendRequest, OSError):
                # a kept-alive connection the server has closed meanwhile: reconnect once
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            kind = (
                http.client.HTTPSConnection
                if self._scheme == "https"
                else http.client.HTTPConnection
            )
            connection = kind(self._host, self._port, timeout=5)
            self._local.connection = connection
        return connection
