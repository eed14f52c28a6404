"""Posting frames to clients through API Gateway's ``@connections`` management API.

Where that API lives is the one place chatlib behaves differently off AWS. On AWS it is
``https://{domainName}/{stage}`` of the event that invoked the handler. Locally, the process
sets :data:`ENDPOINT_OVERRIDE_VARIABLE` to the local gateway's (or a stand-in's) URL. Handlers
never ask "am I local?" anywhere else.

Throttling (429) and server errors (5xx) are retried as botocore's ``standard`` retry mode
retries them: at most :data:`MAX_ATTEMPTS` attempts in all, waiting a random time up to
1 s, then up to 2 s (exponential backoff with full jitter). A 410 (gone), 403 or 413 is an
answer, never retried. A post that succeeds at once costs nothing more. In a fan-out, the
posts to retry wait out one backoff together and go out again together.

The whole delivery has a time budget (:data:`~chatlib.limits.SEND_BUDGET_SECONDS`): no
request starts, and no retry is waited for, past it. The worst case
(:func:`worst_case_seconds`) stays inside the function's timeout with room to answer, so
Lambda never stops a handler halfway through a fan-out.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import boto3

from chatlib.errors import ConfigurationError, ConnectionGone, ConnectionsApiError
from chatlib.http_window import HttpWindow, Reply, Request
from chatlib.limits import FANOUT_MAX_IN_FLIGHT, POST_TIMEOUT_SECONDS, SEND_BUDGET_SECONDS
from chatlib.sigv4 import RequestSigner, signed_host

__all__ = [
    "ENDPOINT_OVERRIDE_VARIABLE",
    "MAX_ATTEMPTS",
    "ConnectionsApiError",
    "PostOutcome",
    "ConnectionsSender",
    "backoff_delay",
    "connections_endpoint",
    "is_retryable",
    "resolved_endpoint",
    "worst_case_seconds",
]

#: Full ``@connections`` endpoint (scheme, host, port and stage path) to use instead of the
#: one built from the event. Unset on AWS.
ENDPOINT_OVERRIDE_VARIABLE = "CHATLIB_CONNECTIONS_URL"

#: Attempts per post, the first included (botocore's standard mode default).
MAX_ATTEMPTS = 3
#: No wait between attempts is longer than this (botocore's standard mode cap).
MAX_BACKOFF_SECONDS = 20.0
#: Seconds to wait for a connection, or for the next answer, before giving up on a post.
TIMEOUT_SECONDS = POST_TIMEOUT_SECONDS

#: What became of one post: ``None`` (delivered), :class:`ConnectionGone`,
#: :class:`ConnectionsApiError`, or the ``OSError`` that stopped it.
PostOutcome = Exception | None


def is_retryable(status: int) -> bool:
    """429 (throttled) and 5xx are worth another attempt; every other answer is final."""
    return status == 429 or 500 <= status < 600


def backoff_delay(retry: int, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number ``retry`` (1, 2, …): full jitter, doubling."""
    return min(rng() * 2 ** (retry - 1), MAX_BACKOFF_SECONDS)


def worst_case_seconds(
    budget: float = SEND_BUDGET_SECONDS, timeout: float = TIMEOUT_SECONDS
) -> float:
    """The longest one delivery can take: its budget, plus the step under way when the budget
    runs out. Every step is one socket operation bounded by ``timeout``, and past the budget
    nothing new starts (no request, no retry, no resend), so the longest such step is a
    resend begun just before it: connect, then send (:class:`chatlib.http_window.HttpWindow`).
    """
    return budget + 2 * timeout


def connections_endpoint(
    domain_name: str, stage: str, environ: Mapping[str, str] = os.environ
) -> str:
    """The ``@connections`` endpoint for an event's ``domainName`` and ``stage``."""
    return resolved_endpoint(f"https://{domain_name}/{stage}", environ)


def resolved_endpoint(endpoint: str, environ: Mapping[str, str] = os.environ) -> str:
    """Where to post for ``endpoint`` (an event's, or one a queued fan-out page carries):
    :data:`ENDPOINT_OVERRIDE_VARIABLE` when it is set, else ``endpoint`` itself."""
    return (environ.get(ENDPOINT_OVERRIDE_VARIABLE) or endpoint).rstrip("/")


class ConnectionsSender:
    """Send frames to connections; a closed connection is :class:`ConnectionGone`.

    Each post is the management API's ``POST /{stage}/@connections/{id}``, signed with
    SigV4 (:mod:`chatlib.sigv4`, the Authorization header botocore would write): the request
    boto3's ``post_to_connection`` sends. :meth:`post_to_all` sends one frame to many
    connections, up to ``max_in_flight`` posts at once over kept-alive connections
    (:mod:`chatlib.http_window`) instead of through a boto3 client: a fan-out makes one post
    per member of the room, and this path costs about a fifth of boto3's client CPU per post
    (``docs/performance.md`` has the measurements).
    """

    def __init__(
        self,
        endpoint_url: str,
        *,
        region: str | None = None,
        credentials: Any = None,
        max_attempts: int = MAX_ATTEMPTS,
        max_in_flight: int = FANOUT_MAX_IN_FLIGHT,
        timeout: float = TIMEOUT_SECONDS,
        budget: float = SEND_BUDGET_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``timeout`` bounds each wait of one request; ``budget`` one whole delivery
        (:meth:`post_to_all` included); ``sleep`` and ``clock`` are there for tests."""
        self.endpoint_url = endpoint_url.rstrip("/")
        parts = urlsplit(self.endpoint_url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigurationError(f"{endpoint_url!r} is not an http(s) @connections endpoint")
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
        self._window = HttpWindow(
            parts.scheme, parts.hostname, parts.port, window=max_in_flight, timeout=timeout
        )
        self.max_attempts = max(1, max_attempts)
        self.budget = budget
        self._sleep, self._clock = sleep, clock

    def post(self, connection_id: str, data: bytes) -> None:
        """Deliver ``data`` to one connection (retrying 429 and 5xx); raise what stopped it."""
        outcome = self.post_to_all([connection_id], data)[connection_id]
        if outcome is not None:
            raise outcome

    def post_to_all(self, connection_ids: Iterable[str], data: bytes) -> dict[str, PostOutcome]:
        """Deliver ``data`` to every connection; never raises for one of them. Returns each
        id's :data:`PostOutcome`, in the order given."""
        return self._call_each("POST", connection_ids, data)

    def close(self, connection_id: str) -> None:
        """Close one connection (``DELETE``); API Gateway then runs ``$disconnect``.

        Closing a connection that is already gone is not an error.
        """
        outcome = self._call_each("DELETE", [connection_id], b"")[connection_id]
        if outcome is not None and not isinstance(outcome, ConnectionGone):
            raise outcome

    def _call_each(
        self, method: str, connection_ids: Iterable[str], data: bytes
    ) -> dict[str, PostOutcome]:
        outcomes: dict[str, PostOutcome] = dict.fromkeys(connection_ids)
        pending = list(outcomes)
        deadline = self._clock() + self.budget
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1:
                delay = backoff_delay(attempt - 1)
                if self._clock() + delay >= deadline:
                    break  # no time left for another attempt: the last answers stand
                self._sleep(delay)
            replies = self._window.exchange(
                pending,
                lambda connection_id: self._request(method, connection_id, data),
                deadline=deadline,
                clock=self._clock,
            )
            last_attempt, pending = attempt == self.max_attempts, []
            for connection_id, reply in replies.items():
                outcomes[connection_id] = _outcome(connection_id, reply)
                if isinstance(reply, Reply) and is_retryable(reply.status) and not last_attempt:
                    pending.append(connection_id)
            if not pending:
                break
        return outcomes

    def _request(self, method: str, connection_id: str, data: bytes) -> Request:
        path = f"{self._base_path}/@connections/{quote(connection_id, safe='')}"
        headers = self._signer.headers(method, self._signed_host, path, data)
        return Request(method, path, data, headers)


def _outcome(connection_id: str, reply: Reply | Exception) -> PostOutcome:
    if isinstance(reply, Exception):
        return reply
    if reply.status < 300:
        return None
    if reply.status == 410:
        return ConnectionGone(connection_id)
    error_type = reply.headers.get("x-amzn-ErrorType", "")
    return ConnectionsApiError(
        connection_id, reply.status, error_type.split(":")[0] or str(reply.status)
    )
