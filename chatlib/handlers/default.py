"""``$default``: a help route for frames no other route matched.

A frame that is not a JSON object (broken JSON, binary, a bare string) gets an error frame
saying so. A JSON object whose ``action`` is missing or unknown gets the help frame: why, the
actions this API understands, an example frame, and what the server knows of the caller's
connection (its room and user), which is handy when debugging.
"""

from __future__ import annotations

from typing import Any

from chatlib.apigw_event import WebSocketEvent
from chatlib.handlers.invocation import Outcome, Services, caller_row, run
from chatlib.messages import encode_frame, help_frame, parse_frame, unrouted_reason


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run("$default", event, context, default)


def default(event: WebSocketEvent, services: Services) -> Outcome:
    payload = parse_frame(event.body, binary=event.is_binary)  # BadRequest: an error frame
    caller = caller_row(event, services)
    frame = help_frame(caller.public_view() if caller else None, unrouted_reason(payload))
    services.sender.post(event.connection_id, encode_frame(frame))
    return Outcome(200, "Help sent.")
