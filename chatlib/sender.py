"""Posting frames to clients through API Gateway's ``@connections`` management API.

Where that API lives is the one place chatlib behaves differently off AWS. On AWS it is
``https://{domainName}/{stage}`` of the event that invoked the handler. Locally, the process
sets :data:`ENDPOINT_OVERRIDE_VARIABLE` to the local gateway's (or a stand-in's) URL. Handlers
never ask "am I local?" anywhere else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config

from chatlib.errors import ConnectionGone
from chatlib.limits import FANOUT_MAX_WORKERS

__all__ = ["ENDPOINT_OVERRIDE_VARIABLE", "ConnectionsSender", "connections_endpoint"]

#: Full ``@connections`` endpoint (scheme, host, port and stage path) to use instead of the
#: one built from the event. Unset on AWS.
ENDPOINT_OVERRIDE_VARIABLE = "CHATLIB_CONNECTIONS_URL"


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

    One boto3 client is shared by all threads of a fan-out (clients are thread-safe); its
    connection pool is as large as the fan-out's thread pool so no post waits for a socket.
    """

    def __init__(self, endpoint_url: str, *, client: Any = None) -> None:
        self.endpoint_url = endpoint_url
        self._client = client or boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=endpoint_url,
            config=Config(
                max_pool_connections=FANOUT_MAX_WORKERS,
                retries={"mode": "standard", "max_attempts": 2},
                connect_timeout=2,
                read_timeout=5,
            ),
        )

    def post(self, connection_id: str, data: bytes) -> None:
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=data)
        except self._client.exceptions.GoneException:
            raise ConnectionGone(connection_id) from None
