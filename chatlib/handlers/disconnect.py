"""``$disconnect``: forget the connection.

Idempotent, because API Gateway may deliver it late or not at all (the 410 clean-up in the
send handlers and the table's TTL cover the cases it misses).
"""

from __future__ import annotations

from typing import Any

from chatlib.apigw_event import WebSocketEvent
from chatlib.handlers.invocation import Outcome, Services, run


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run("$disconnect", event, context, disconnect)


def disconnect(event: WebSocketEvent, services: Services) -> Outcome:
    services.store.delete(event.connection_id)
    return Outcome(200, "Disconnected.")
