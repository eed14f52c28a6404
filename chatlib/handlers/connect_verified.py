"""``$connect`` behind the authorizer: user and room from the verified token, nothing else.

The authorizer has checked the JWT and that the requested room is in its ``rooms`` claim, and
put the result in ``requestContext.authorizer``. This handler stores exactly that. A
``userId`` or ``roomId`` in the query string is ignored: the query is unverified input (source
article 001 verifies a token and then trusts the query anyway). Without an authorizer context
it refuses (fail closed): this handler must never run on an unprotected route.

The row keeps the token's expiry (``expiresAt``): a message sent after it gets an error
frame and the connection is closed (:mod:`chatlib.handlers.invocation`).

A browser sends the token as a subprotocol; the handshake must echo it back, or the browser
drops the connection. The entry to echo is read from this event's own headers: the
authorizer's context carries no credential.
"""

from __future__ import annotations

from typing import Any

from chatlib.apigw_event import WebSocketEvent
from chatlib.errors import ConfigurationError
from chatlib.handlers.invocation import Outcome, Services, run
from chatlib.store import Connection
from chatlib.tokens import looks_like_jwt
from chatlib.validation import validate_room_id, validate_user_id


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response = run("$connect", event, context, connect_verified)
    subprotocol = chosen_subprotocol(WebSocketEvent(event))
    if response["statusCode"] == 200 and subprotocol:
        response["headers"] = {"Sec-WebSocket-Protocol": subprotocol}
    return response


def chosen_subprotocol(event: WebSocketEvent) -> str | None:
    """The offered subprotocol to accept: the one that carried the token, else the first.

    A client that offers subprotocols and gets none back fails the handshake, so one of them
    is always echoed when any was offered.
    """
    offered = event.offered_subprotocols
    return next((p for p in offered if looks_like_jwt(p)), next(iter(offered), None))


def connect_verified(event: WebSocketEvent, services: Services) -> Outcome:
    verified = event.authorizer
    if not verified.get("userId") or not verified.get("roomId"):
        raise ConfigurationError(
            "no authorizer context: this $connect must sit behind the token authorizer"
        )
    room_id = validate_room_id(verified["roomId"])
    user_id = validate_user_id(verified["userId"])
    expires_at = int(verified["expiresAt"]) if verified.get("expiresAt") else None
    services.store.put(
        Connection.opened(
            event.connection_id, room_id, user_id, event.connected_at, expires_at=expires_at
        )
    )
    return Outcome(200, "Connected.")
