"""The chat protocol as pure functions: what a client may send and what it receives.

Inbound (client -> API Gateway), routed by ``$request.body.action``::

    {"action": "sendmessage", "message": "hello"}

Outbound (``@connections`` -> client), always one JSON object with a ``type``::

    {"type": "message", "sender": "alice", "roomId": "lobby", "message": "hello",
     "sentAt": 1700000000000}
    {"type": "error", "error": "BadRequest", "message": "..."}
    {"type": "help", "validActions": [...], "example": {...}, "connection": {...}}

Nothing here does I/O, so every rule is testable without AWS.
"""

from __future__ import annotations

import json
from typing import Any

from chatlib.bounded_json import loads_bounded
from chatlib.errors import BadRequest, MessageTooLarge
from chatlib.limits import MAX_PAYLOAD_BYTES

__all__ = [
    "SEND_ACTION",
    "chat_frame",
    "encode_frame",
    "error_frame",
    "help_frame",
    "parse_frame",
    "parse_send_request",
    "unrouted_reason",
]

SEND_ACTION = "sendmessage"
_EXAMPLE = {"action": SEND_ACTION, "message": "hello"}
_EXAMPLE_TEXT = json.dumps(_EXAMPLE)


def parse_frame(body: str | None, *, binary: bool = False) -> dict[str, Any]:
    """The JSON object a text frame carries, or :class:`BadRequest` saying what is wrong:
    a binary frame, an empty one, one that is not valid JSON, or JSON that is not an object."""
    if binary:
        raise BadRequest(f"binary frames are not understood: send text such as {_EXAMPLE_TEXT}")
    if body is None or body == "":
        raise BadRequest(f"empty frame: send a JSON object such as {_EXAMPLE_TEXT}")
    try:
        payload = loads_bounded(body)
    except ValueError:
        raise BadRequest(
            f"the frame is not valid JSON: send an object such as {_EXAMPLE_TEXT}"
        ) from None
    if not isinstance(payload, dict):
        raise BadRequest(
            f"the frame is JSON but not an object (got {type(payload).__name__}): "
            f"send {_EXAMPLE_TEXT}"
        )
    return payload


def unrouted_reason(payload: dict[str, Any]) -> str:
    """Why a JSON object matched no route: its ``action`` is missing or names no route."""
    action = payload.get("action")
    if action is None or action == "":
        return f'"action" is missing: add "action": "{SEND_ACTION}"'
    return f"unknown action {json.dumps(action)[:60]}: use one of the valid actions"


def parse_send_request(body: str | None) -> str:
    """Return the chat text of a ``sendmessage`` body, or raise :class:`BadRequest` saying why.

    Only ``message`` is read. Anything else in the body (a ``roomId``, a ``sender``) is ignored
    on purpose: who sends and to which room come from the server's own record of the connection.
    """
    payload = parse_frame(body)
    message = payload.get("message")
    if message is None:
        raise BadRequest('"message" is missing: add the text to send as "message"')
    if not isinstance(message, str):
        raise BadRequest(f'"message" must be a string, not {type(message).__name__}')
    if not message.strip():
        raise BadRequest('"message" is empty: there is nothing to send')
    try:
        message.encode("utf-8")
    except UnicodeEncodeError:  # JSON allows "\ud800"; no UTF-8 text can carry it
        raise BadRequest(
            '"message" contains an unpaired surrogate escape (\\ud800-\\udfff): '
            "send valid Unicode text"
        ) from None
    return message


def encode_frame(frame: dict[str, Any]) -> bytes:
    """Serialise a frame compactly and refuse one that API Gateway could not deliver."""
    data = json.dumps(frame, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(data) > MAX_PAYLOAD_BYTES:
        raise MessageTooLarge(
            f"the message makes a {len(data)}-byte frame; API Gateway delivers at most "
            f"{MAX_PAYLOAD_BYTES} bytes (128 KB) per message: send a shorter message"
        )
    return data


def chat_frame(*, sender: str, room_id: str, message: str, sent_at_ms: int) -> dict[str, Any]:
    return {
        "type": "message",
        "sender": sender,
        "roomId": room_id,
        "message": message,
        "sentAt": sent_at_ms,
    }


def error_frame(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": code, "message": message}


def help_frame(
    connection: dict[str, Any] | None, reason: str = "unknown or missing action"
) -> dict[str, Any]:
    """What ``$default`` answers to a JSON object no route matched: why (``reason``), the
    actions this API understands, and who the caller is."""
    return {
        "type": "help",
        "message": reason,
        "validActions": [SEND_ACTION],
        "example": _EXAMPLE,
        "connection": connection,
    }
