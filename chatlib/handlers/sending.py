"""The ``sendmessage`` flow both teaching steps share; they differ only in who receives.

parse the body -> look up the sender's own row (its token still valid) -> find the
recipients -> fan out.

The sender's room and user come from its row in the table, written at ``$connect``. A
``roomId`` in the message body is never read: trusting it would let any client post into
any room (source article 000 does exactly that).
"""

from __future__ import annotations

from collections.abc import Callable

from chatlib.apigw_event import WebSocketEvent
from chatlib.errors import NotConnected
from chatlib.fanout import fan_out
from chatlib.handlers.invocation import Outcome, Services, caller_row
from chatlib.messages import chat_frame, encode_frame, parse_send_request
from chatlib.store import Connection, ConnectionStore, ReadResult

__all__ = ["Recipients", "send_message"]

#: Given the store and the sender's row, return who receives the message.
Recipients = Callable[[ConnectionStore, Connection], ReadResult]


def send_message(event: WebSocketEvent, services: Services, recipients: Recipients) -> Outcome:
    text = parse_send_request(event.body)
    sender = caller_row(event, services)
    if sender is None:
        raise NotConnected(
            "this connection is not registered (it may have expired): reconnect with ?roomId=<room>"
        )
    data = encode_frame(
        chat_frame(
            sender=sender.user_id,
            room_id=sender.room_id,
            message=text,
            sent_at_ms=services.now_ms(),
        )
    )
    audience = recipients(services.store, sender)
    report = fan_out(
        audience.connection_ids,
        data,
        post_to_all=services.sender.post_to_all,
        forget=services.store.delete,
    )
    counts = {"recipients": len(audience), "itemsRead": audience.items_read, **report.counts()}
    return Outcome(200, "Sent.", counts)
