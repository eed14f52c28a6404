"""``$connect``: remember who connected and to which room, or refuse the handshake.

The room comes from the query string (``wss://…?roomId=lobby&userId=alice``) and is checked
before anything is stored; a bad or missing one answers 400, which API Gateway turns into a
refused handshake. From here on, the connection's row is the only source of its room and
user: no later message can change them.
"""

from __future__ import annotations

import re
from typing import Any

from chatlib.apigw_event import WebSocketEvent
from chatlib.handlers.invocation import Outcome, Services, run
from chatlib.store import Connection
from chatlib.validation import validate_room_id, validate_user_id


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run("$connect", event, context, connect)


def connect(event: WebSocketEvent, services: Services) -> Outcome:
    room_id = validate_room_id(event.query.get("roomId"))
    user_id = validate_user_id(event.query.get("userId") or guest_name(event.connection_id))
    services.store.put(Connection.opened(event.connection_id, room_id, user_id, event.connected_at))
    return Outcome(200, "Connected.")


def guest_name(connection_id: str) -> str:
    """A readable stand-in user id for a client that did not name itself."""
    return "guest-" + re.sub(r"[^A-Za-z0-9]", "", connection_id)[:6]
