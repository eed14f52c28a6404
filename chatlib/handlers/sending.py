"""The ``sendmessage`` flow both teaching steps share; they differ only in who receives.

parse the body -> look up the sender's own row (its token still valid) -> find the
recipients -> fan out.

With the sharded fan-out (the function's environment names a queue, ``FanOut=sharded``), the
fan-out is split (:func:`chatlib.fanout.plan_pages`): this invocation posts the first page of
the room itself, the sender's own copy first, and queues every further page for the workers
(:mod:`.fanout_worker`). The pages are queued *before* this invocation posts its own, so the
workers start while it posts. The outcome's counts add ``queuedPages``; members of a page that
could not be queued count as ``failed``.

The sender's room and user come from its row in the table, written at ``$connect``. A
``roomId`` in the message body is never read: trusting it would let any client post into
any room (source article 000 does exactly that).
"""

from __future__ import annotations

from collections.abc import Callable

from chatlib.apigw_event import WebSocketEvent
from chatlib.errors import NotConnected
from chatlib.fanout import FanOutReport, fan_out, plan_pages
from chatlib.handlers.invocation import Outcome, Services, caller_row
from chatlib.handlers.page_queue import Page
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
    counts = {"recipients": len(audience), "itemsRead": audience.items_read}
    if services.pages is None:
        report = _post(audience.connection_ids, data, services)
        return Outcome(200, "Sent.", {**counts, **report.counts()})
    plan = plan_pages(audience.connection_ids, services.page_size, first=sender.connection_id)
    endpoint = services.sender.endpoint_url  # where this invocation posts: the workers too
    unqueued = services.pages.send([Page(endpoint, ids, data) for ids in plan.queued])
    report = _post(plan.inline, data, services)
    report.failed.extend(i for page in unqueued for i in page.connection_ids)
    queued = {"queuedPages": len(plan.queued) - len(unqueued)}
    return Outcome(200, "Sent.", {**counts, **report.counts(), **queued})


def _post(connection_ids: list[str], data: bytes, services: Services) -> FanOutReport:
    return fan_out(
        connection_ids,
        data,
        post_to_all=services.sender.post_to_all,
        forget=services.store.delete,
    )
