"""``sendmessage``, step 2: send to the sender's room only (a Query on ``roomId-index``).

Reads exactly the room's rows, however large the table grows. The room is the one stored
for the sender at ``$connect``, not one named in the message.
"""

from __future__ import annotations

from typing import Any

from chatlib.apigw_event import WebSocketEvent
from chatlib.handlers.invocation import Outcome, Services, run
from chatlib.handlers.sending import send_message
from chatlib.store import Connection, ConnectionStore, ReadResult


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run("sendmessage", event, context, send_to_room)


def same_room(store: ConnectionStore, sender: Connection) -> ReadResult:
    return store.room_member_ids(sender.room_id)


def send_to_room(event: WebSocketEvent, services: Services) -> Outcome:
    return send_message(event, services, same_room)
