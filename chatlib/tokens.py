"""JSON Web Tokens for the chat: who the user is and which rooms they may join.

A token is signed with HS256 and a secret that lives in AWS Secrets Manager (the template
generates it; it is never in code or in a template's text). Its header names the version of
the secret that signed it (``kid``, see :mod:`chatlib.token_secret`). Its claims:

    sub    the user id                      iss  who issued it ("chatlib")
    rooms  the rooms the user may join      aud  who it is for ("chat")
    iat    issued at                        exp  expires at (required)
    jti    a unique id (for audit or revocation lists)

Verification pins the algorithm to HS256 (so ``alg: none`` and algorithm confusion are
refused), requires every claim above, and checks ``exp``, ``nbf``, ``iss`` and ``aud`` with a
small leeway for clock skew. Given the secret's versions (``{kid: secret}``), it picks the one
the token names and refuses a token that names none or one it does not hold. It is PyJWT's
work; this module decides the rules and turns PyJWT's errors into one
:class:`~chatlib.errors.InvalidToken` with a reason.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import jwt

from chatlib.errors import InvalidIdentifier, InvalidToken
from chatlib.validation import validate_room_id, validate_user_id

__all__ = [
    "ALGORITHM",
    "AUDIENCE",
    "ISSUER",
    "LEEWAY_SECONDS",
    "MAX_TOKEN_BYTES",
    "TokenClaims",
    "looks_like_jwt",
    "mint_token",
    "verify_token",
]

ALGORITHM = "HS256"
ISSUER = "chatlib"
AUDIENCE = "chat"
LEEWAY_SECONDS = 30
#: A longer token is refused before it is parsed: a real one is a few hundred bytes.
MAX_TOKEN_BYTES = 4096
_REQUIRED = ["sub", "rooms", "iss", "aud", "iat", "exp", "jti"]
_JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


def looks_like_jwt(text: str) -> bool:
    """Whether ``text`` has a JWT's three base64url parts (says nothing of its validity)."""
    return bool(_JWT_SHAPE.match(text))


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    rooms: tuple[str, ...]
    token_id: str
    expires_at: int

    def may_join(self, room_id: str) -> bool:
        return room_id in self.rooms


def mint_token(
    secret: str,
    *,
    user_id: str,
    rooms: Iterable[str],
    ttl_seconds: int = 3600,
    issuer: str = ISSUER,
    audience: str = AUDIENCE,
    now: float | None = None,
    not_before: float | None = None,
    key_id: str | None = None,
) -> str:
    """A signed token for ``user_id`` allowing ``rooms``, valid for ``ttl_seconds``;
    ``key_id`` names the secret's version in the ``kid`` header."""
    if not secret:
        raise ValueError("a token needs a secret to be signed with")
    issued = int(time.time() if now is None else now)
    claims = {
        "sub": validate_user_id(user_id),
        "rooms": sorted({validate_room_id(room) for room in rooms}),
        "iss": issuer,
        "aud": audience,
        "iat": issued,
        "exp": issued + int(ttl_seconds),
        "jti": uuid.uuid4().hex,
    }
    if not_before is not None:
        claims["nbf"] = int(not_before)
    headers = {"kid": key_id} if key_id else None
    return jwt.encode(claims, secret, algorithm=ALGORITHM, headers=headers)


def verify_token(
    token: str,
    secret: str | Mapping[str, str],
    *,
    issuer: str = ISSUER,
    audience: str = AUDIENCE,
) -> TokenClaims:
    """The token's claims if it is genuine, current and meant for us; else InvalidToken.

    ``secret`` is one secret, or the secret's versions as ``{kid: secret}``, the current one
    first: a token must then name one of them in its ``kid`` header, or, naming none (minted
    before tokens carried one), verify with the current version.
    """
    if not token:
        raise InvalidToken("no token: connect with ?token=<JWT> or as a subprotocol")
    if len(token.encode("utf-8", "replace")) > MAX_TOKEN_BYTES:
        raise InvalidToken(f"the token is longer than {MAX_TOKEN_BYTES} bytes")
    if not isinstance(secret, str):
        secret = _key_for(token, secret)
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],  # pinned: never taken from the token's own header
            issuer=issuer,
            audience=audience,
            leeway=LEEWAY_SECONDS,
            options={"require": _REQUIRED},
        )
    except jwt.InvalidTokenError as error:
        raise InvalidToken(_reason(error)) from None
    return _claims(claims)


def _key_for(token: str, keys: Mapping[str, str]) -> str:
    try:
        key_id = jwt.get_unverified_header(token).get("kid")
    except jwt.InvalidTokenError:
        raise InvalidToken("the token is not a well-formed JWT") from None
    if key_id is None and keys:
        return next(iter(keys.values()))  # no kid: the current version, and only that one
    if not isinstance(key_id, str) or key_id not in keys:
        raise InvalidToken("the token's signing key is neither the current nor the previous one")
    return keys[key_id]


def _claims(claims: dict) -> TokenClaims:
    rooms = claims.get("rooms")
    if not isinstance(rooms, list) or not all(isinstance(room, str) for room in rooms):
        raise InvalidToken("the rooms claim must be a list of room ids")
    try:
        user_id = validate_user_id(claims["sub"])
        allowed = tuple(validate_room_id(room) for room in rooms)
    except InvalidIdentifier as error:
        raise InvalidToken(f"a claim is malformed: {error.message}") from None
    return TokenClaims(user_id, allowed, str(claims["jti"]), int(claims["exp"]))


def _reason(error: jwt.InvalidTokenError) -> str:
    """A short, safe reason (it goes to logs, never to the client)."""
    reasons = {
        jwt.ExpiredSignatureError: "the token has expired",
        jwt.ImmatureSignatureError: "the token is not valid yet (nbf)",
        jwt.InvalidAudienceError: "the token is for another audience",
        jwt.InvalidIssuerError: "the token has another issuer",
        jwt.InvalidSignatureError: "the signature does not match",
        jwt.InvalidAlgorithmError: f"the algorithm is not {ALGORITHM}",
        jwt.MissingRequiredClaimError: "a required claim is missing",
        jwt.DecodeError: "the token is not a well-formed JWT",
    }
    for kind, reason in reasons.items():
        if isinstance(error, kind):
            return reason if kind is not jwt.MissingRequiredClaimError else f"{reason}: {error}"
    return "the token is invalid"
