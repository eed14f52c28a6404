"""What every handler shares: its services, error handling, the response and the log line.

A handler's logic returns an :class:`Outcome` or raises a :class:`~chatlib.errors.ChatlibError`.
:func:`run` turns either into ``{"statusCode", "body"}``; on a message route it also sends the
caller an error frame, because API Gateway does not pass a handler's response on to the
client. Anything unexpected is logged with its traceback and answered with a generic 500 and
frame: a client never sees internal detail. An error that ends the connection
(``closes_connection``, e.g. :class:`~chatlib.errors.TokenExpired`) is followed by a
``DELETE @connections``: API Gateway closes the socket and runs ``$disconnect``.

Services (the table, the ``@connections`` client and, with ``FanOut=sharded``, the fan-out
queue) are built on the first invocation and kept while the Lambda stays warm, keyed on the
configuration so a change of environment (as in a notebook) builds new ones.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from chatlib.apigw_event import WebSocketEvent
from chatlib.errors import ChatlibError, ConfigurationError, ConnectionGone, TokenExpired
from chatlib.handlers.page_queue import PAGE_QUEUE_VARIABLE, PageQueue, page_size_from
from chatlib.invocation_log import log_invocation
from chatlib.limits import FANOUT_PAGE_SIZE
from chatlib.messages import encode_frame, error_frame
from chatlib.sender import ConnectionsSender, connections_endpoint
from chatlib.store import Connection, ConnectionStore

__all__ = [
    "TABLE_VARIABLE",
    "Outcome",
    "Services",
    "caller_row",
    "connection_store",
    "connections_sender",
    "run",
    "table_name_from",
]

log = logging.getLogger("chatlib.handlers")

#: The function's environment names the connection table here.
TABLE_VARIABLE = "CONNECTIONS_TABLE"


@dataclass
class Outcome:
    status: int = 200
    body: str = "OK"
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class Services:
    store: ConnectionStore
    sender: ConnectionsSender
    clock: Callable[[], float] = time.time
    #: The sharded fan-out's queue (``None``: the sender posts to the whole room itself).
    pages: PageQueue | None = None
    page_size: int = FANOUT_PAGE_SIZE

    def now_ms(self) -> int:
        return int(self.clock() * 1000)


def caller_row(event: WebSocketEvent, services: Services) -> Connection | None:
    """The caller's row (``None`` if it has none); :class:`TokenExpired` once its token has."""
    row = services.store.get(event.connection_id)
    if row is not None and row.token_expired(services.clock()):
        raise TokenExpired("your token has expired: get a new token and connect again")
    return row


@lru_cache(maxsize=8)
def connection_store(table_name: str) -> ConnectionStore:
    """The store for ``table_name``, one per warm instance."""
    return ConnectionStore(table_name)


@lru_cache(maxsize=8)
def connections_sender(endpoint_url: str) -> ConnectionsSender:
    """The ``@connections`` client for ``endpoint_url``, one per warm instance."""
    return ConnectionsSender(endpoint_url)


@lru_cache(maxsize=8)
def _page_queue(queue_url: str) -> PageQueue:
    return PageQueue(queue_url)


def table_name_from(environ: Mapping[str, str] = os.environ) -> str:
    table_name = environ.get(TABLE_VARIABLE)
    if not table_name:
        raise ConfigurationError(
            f"{TABLE_VARIABLE} is not set: the function's environment must name the "
            "connection table"
        )
    return table_name


def services_for(event: WebSocketEvent, environ: Mapping[str, str] = os.environ) -> Services:
    table_name = table_name_from(environ)
    endpoint = connections_endpoint(event.domain_name, event.stage, environ)
    queue_url = environ.get(PAGE_QUEUE_VARIABLE)
    return Services(
        store=connection_store(table_name),
        sender=connections_sender(endpoint),
        pages=_page_queue(queue_url) if queue_url else None,
        page_size=page_size_from(environ) if queue_url else FANOUT_PAGE_SIZE,
    )


def run(
    route: str,
    event: dict[str, Any],
    context: Any,
    logic: Callable[[WebSocketEvent, Services], Outcome],
) -> dict[str, Any]:
    """Invoke ``logic`` for one event and return the Lambda proxy response."""
    started = time.perf_counter()
    ws = WebSocketEvent(event)
    services: Services | None = None
    try:
        services = services_for(ws)
        outcome = logic(ws, services)
        result = "ok"
    except ChatlibError as error:
        outcome = Outcome(error.status, error.message)
        result = "rejected" if error.status < 500 else "error"
        _tell_caller(ws, services, error.code, error.message)
        if error.closes_connection:
            _close_caller(ws, services)
    except Exception:
        log.exception("unhandled error in %s for connection %s", route, ws.connection_id)
        outcome = Outcome(500, "Internal server error")
        result = "error"
        _tell_caller(
            ws,
            services,
            "InternalServerError",
            f"the server could not handle this message (request {ws.request_id}); try again",
        )
    log_invocation(
        route=route,
        connectionId=ws.connection_id,
        requestId=getattr(context, "aws_request_id", None),
        outcome=result,
        status=outcome.status,
        counts=outcome.counts,
        durationMs=round((time.perf_counter() - started) * 1000, 1),
    )
    return {"statusCode": outcome.status, "body": outcome.body}


def _close_caller(ws: WebSocketEvent, services: Services | None) -> None:
    """Close the caller's connection after its error frame; never raise."""
    if services is None or ws.event_type != "MESSAGE":
        return
    try:
        services.sender.close(ws.connection_id)
    except Exception:
        log.warning("could not close connection %s", ws.connection_id, exc_info=True)


def _tell_caller(ws: WebSocketEvent, services: Services | None, code: str, message: str) -> None:
    """Send an error frame to the caller of a message route; never raise."""
    if services is None or ws.event_type != "MESSAGE":
        return
    try:
        services.sender.post(ws.connection_id, encode_frame(error_frame(code, message)))
    except ConnectionGone:
        pass
    except Exception:
        log.warning("could not send an error frame to %s", ws.connection_id, exc_info=True)
