"""``sendmessage``, step 1: broadcast to every connection in the table (a Scan).

The simplest chat there is, and the costliest: every message reads the whole table, so the
cost of one message grows with everyone connected anywhere. Step 2 (:mod:`.room`) fixes it.
"""

from __future__ import annotations

from typing import Any

from chatlib.apigw_event import WebSocketEvent
from chatlib.handlers.invocation import Outcome, Services, run
from chatlib.handlers.sending import send_message
from chatlib.store import Connection, ConnectionStore, ReadResult


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run("sendmessage", event, context, broadcast)


def everyone(store: ConnectionStore, sender: Connection) -> ReadResult:
    return store.all_connection_ids()


def broadcast(event: WebSocketEvent, services: Services) -> Outcome:
    return send_message(event, services, everyone)
