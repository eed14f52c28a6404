"""The Lambda REQUEST authorizer on ``$connect``: only a verified user, only an allowed room.

parse (token, room) -> decide (verify the JWT, check the room against its ``rooms`` claim)
-> respond (an IAM policy for this connection's ``methodArn``, or ``Unauthorized``).

The token comes from the ``token`` query parameter or, for browsers, which cannot set other
headers on a WebSocket, from ``Sec-WebSocket-Protocol`` (``new WebSocket(url, [token])``).
API Gateway turns the answers into handshake statuses:

* raise ``Exception("Unauthorized")`` -> 401: no token, or one that does not verify;
* a Deny policy -> 403: a genuine token that does not allow the requested room;
* an Allow policy -> ``$connect`` runs, with ``context`` (user id, room, rooms, the token's
  id and expiry) in ``requestContext.authorizer`` of this and every later event of the
  connection. The context holds no credential: not the token, nor the subprotocol that
  carried it (``$connect`` reads that from its own event's headers).

The token may be signed with the secret's current or previous version (its ``kid`` says
which, :mod:`chatlib.token_secret`); the versions are read at most every
``TOKEN_SECRET_CACHE_SECONDS``, and again at once (at most once a second) for a token naming
a version not held, such as one minted just after a rotation. The reason for a refusal goes to
the log, never to the client, and the token is never logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from chatlib.apigw_event import WebSocketEvent
from chatlib.errors import ChatlibError, InvalidIdentifier, InvalidToken
from chatlib.invocation_log import log_invocation
from chatlib.token_secret import signing_keys_from_environment
from chatlib.tokens import MAX_TOKEN_BYTES, TokenClaims, looks_like_jwt, verify_token
from chatlib.validation import validate_room_id

__all__ = ["Decision", "decide", "handler", "named_key_id", "token_from_request"]

log = logging.getLogger("chatlib.handlers")


@dataclass(frozen=True)
class Decision:
    allow: bool
    reason: str
    claims: TokenClaims | None = None
    room_id: str = ""


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        keys = signing_keys_from_environment(key_id=named_key_id(event)).by_key_id()
        decision = decide(event, token_from_request, keys)
    except ChatlibError as error:  # configuration: fail closed, like any other refusal
        decision = Decision(False, f"{error.code}: {error.message}")
        _log(event, context, decision, started, status=500)
        raise Exception("Unauthorized") from None  # noqa: TRY002 - the string API Gateway reads
    if decision.claims is None:
        _log(event, context, decision, started, status=401)
        raise Exception("Unauthorized")  # noqa: TRY002
    _log(event, context, decision, started, status=200 if decision.allow else 403)
    return policy(decision, event["methodArn"])


def token_from_request(event: Mapping[str, Any]) -> str:
    """The token: the ``token`` query parameter, else the offered subprotocol shaped like one."""
    request = WebSocketEvent(dict(event))
    if request.query.get("token"):
        return request.query["token"]
    return next((p for p in request.offered_subprotocols if looks_like_jwt(p)), "")


def named_key_id(event: Mapping[str, Any]) -> str | None:
    """The secret version the token's header names (``kid``), unverified: it only says which
    versions the authorizer must hold; the signature is checked with them afterwards."""
    token = token_from_request(event)
    if not token or len(token) > MAX_TOKEN_BYTES:
        return None
    try:
        key_id = jwt.get_unverified_header(token).get("kid")
    except jwt.InvalidTokenError:
        return None
    return key_id if isinstance(key_id, str) else None


def decide(event: Mapping[str, Any], find_token: Any, secret: str | Mapping[str, str]) -> Decision:
    """Allow, deny (a genuine token, another room) or refuse (no valid token: no claims).

    ``secret`` is the secret's versions, ``{kid: secret}`` (or one secret, for tests).
    """
    token = find_token(event)
    try:
        claims = verify_token(token, secret)
    except InvalidToken as error:
        return Decision(False, error.message)
    query = event.get("queryStringParameters") or {}
    try:
        room_id = validate_room_id(query.get("roomId"))
    except InvalidIdentifier as error:
        return Decision(False, error.message, claims)
    if not claims.may_join(room_id):
        return Decision(False, f"room {room_id!r} is not in the token's rooms", claims, room_id)
    return Decision(True, "allowed", claims, room_id)


def policy(decision: Decision, method_arn: str) -> dict[str, Any]:
    """The authorizer's answer: a policy on this connection's ``$connect`` only."""
    claims = decision.claims
    assert claims is not None
    response: dict[str, Any] = {
        "principalId": claims.user_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow" if decision.allow else "Deny",
                    "Resource": method_arn,
                }
            ],
        },
    }
    if decision.allow:
        response["context"] = {
            "userId": claims.user_id,
            "roomId": decision.room_id,
            "rooms": ",".join(claims.rooms),
            "tokenId": claims.token_id,  # the jti: names the token, cannot stand in for it
            "expiresAt": claims.expires_at,
        }
    return response


def _log(
    event: Mapping[str, Any], context: Any, decision: Decision, started: float, *, status: int
) -> None:
    request = event.get("requestContext") or {}
    log_invocation(
        route="$connect authorizer",
        outcome="allow" if decision.allow else "deny",
        status=status,
        reason=decision.reason,
        userId=decision.claims.user_id if decision.claims else None,
        connectionId=request.get("connectionId"),
        requestId=getattr(context, "aws_request_id", None),
        durationMs=round((time.perf_counter() - started) * 1000, 2),
    )
