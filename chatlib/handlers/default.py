"""``$default``: a help route for frames no other route matched.

It answers the caller with the actions this API understands, an example frame, and what the
server knows of the caller's connection (its room and user), which is handy when debugging.
"""

from __future__ import annotations

from typing import Any

from chatlib.apigw_event import WebSocketEvent
from chatlib.handlers.invocation import Outcome, Services, caller_row, run
from chatlib.messages import encode_frame, help_frame


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run("$default", event, context, default)


def default(event: WebSocketEvent, services: Services) -> Outcome:
    caller = caller_row(event, services)
    frame = help_frame(caller.public_view() if caller else None)
    services.sender.post(event.connection_id, encode_frame(frame))
    return Outcome(200, "Help sent.")
