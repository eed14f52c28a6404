"""Tokens and the authorizer's decision, without a gateway: each rule, and each refusal's reason."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from chatlib.errors import InvalidToken
from chatlib.handlers.authorizer import decide, policy, token_from_request
from chatlib.tokens import MAX_TOKEN_BYTES, mint_token, verify_token

SECRET = "s3cr3t-" + "x" * 57
OTHER_SECRET = "other-" + "y" * 58
ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/dev/$connect"


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims(**overrides):
    now = int(time.time())
    base = {
        "sub": "alice",
        "rooms": ["blue"],
        "iss": "chatlib",
        "aud": "chat",
        "iat": now,
        "exp": now + 600,
        "jti": "j1",
    }
    return {k: v for k, v in {**base, **overrides}.items() if v is not None}


def test_a_minted_token_verifies_and_carries_user_rooms_and_a_unique_id():
    token = mint_token(SECRET, user_id="alice", rooms=["green", "blue", "blue"], ttl_seconds=60)
    verified = verify_token(token, SECRET)
    assert (verified.user_id, verified.rooms) == ("alice", ("blue", "green"))
    assert verified.may_join("blue") and not verified.may_join("red")
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "HS256", "typ": "JWT"}
    other = verify_token(mint_token(SECRET, user_id="alice", rooms=["blue"]), SECRET)
    assert other.token_id != verified.token_id


FORGERIES = {
    "garbage": lambda: "not-a-jwt",
    "alg none": lambda: f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}.",
    "wrong secret": lambda: jwt.encode(claims(), OTHER_SECRET, algorithm="HS256"),
    "tampered payload": lambda: _tampered(),
    "expired": lambda: jwt.encode(claims(exp=int(time.time()) - 120), SECRET, algorithm="HS256"),
    "not yet valid": lambda: jwt.encode(
        claims(nbf=int(time.time()) + 600), SECRET, algorithm="HS256"
    ),
    "wrong audience": lambda: jwt.encode(claims(aud="admin"), SECRET, algorithm="HS256"),
    "wrong issuer": lambda: jwt.encode(claims(iss="evil"), SECRET, algorithm="HS256"),
    "no exp": lambda: jwt.encode(claims(exp=None), SECRET, algorithm="HS256"),
    "HS512 instead of HS256": lambda: jwt.encode(claims(), SECRET, algorithm="HS512"),
    "rooms not a list": lambda: jwt.encode(claims(rooms="blue"), SECRET, algorithm="HS256"),
    "oversized": lambda: jwt.encode(claims(pad="x" * MAX_TOKEN_BYTES), SECRET, algorithm="HS256"),
}
REASONS = {
    "garbage": "not a well-formed JWT",
    "alg none": "algorithm is not HS256",
    "wrong secret": "signature does not match",
    "tampered payload": "signature does not match",
    "expired": "has expired",
    "not yet valid": "not valid yet",
    "wrong audience": "another audience",
    "wrong issuer": "another issuer",
    "no exp": 'required claim is missing: Token is missing the "exp" claim',
    "HS512 instead of HS256": "algorithm is not HS256",
    "rooms not a list": "rooms claim must be a list",
    "oversized": f"longer than {MAX_TOKEN_BYTES} bytes",
}


def _tampered() -> str:
    header, _, signature = jwt.encode(claims(), SECRET, algorithm="HS256").split(".")
    return f"{header}.{b64(claims(rooms=['blue', 'admin']))}.{signature}"


@pytest.mark.parametrize("name", FORGERIES)
def test_every_forgery_is_refused_with_its_reason(name):
    with pytest.raises(InvalidToken) as caught:
        verify_token(FORGERIES[name](), SECRET)
    assert REASONS[name] in caught.value.message
    assert caught.value.status == 401


def test_clock_skew_within_the_leeway_is_tolerated():
    token = jwt.encode(claims(exp=int(time.time()) - 10), SECRET, algorithm="HS256")
    assert verify_token(token, SECRET).user_id == "alice"


# ---------------------------------------------------------------------- the authorizer
def event(query=None, headers=None):
    return {"type": "REQUEST", "methodArn": ARN, "queryStringParameters": query or {},
            "headers": headers or {}}  # fmt: skip


def test_the_token_is_found_in_the_query_or_in_the_subprotocol_header():
    token = mint_token(SECRET, user_id="alice", rooms=["blue"])
    assert token_from_request(event({"token": token})) == token
    offered = {"Sec-WebSocket-Protocol": f"chat, {token}"}
    assert token_from_request(event(headers=offered)) == token
    assert token_from_request(event(headers={"sec-websocket-protocol": "chat"})) == ""


def test_allow_covers_only_this_connection_and_carries_the_verified_identity():
    token = mint_token(SECRET, user_id="alice", rooms=["blue", "green"])
    decision = decide(event({"token": token, "roomId": "blue"}), token_from_request, SECRET)
    assert decision.allow
    answer = policy(decision, ARN)
    assert answer["principalId"] == "alice"
    assert answer["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": ARN}
    ]
    assert answer["context"]["userId"] == "alice" and answer["context"]["roomId"] == "blue"
    assert answer["context"]["rooms"] == "blue,green"
    assert answer["context"]["expiresAt"] == decision.claims.expires_at


def test_the_authorizer_context_holds_no_credential():
    """Whatever carried the token, no context value is the token or any part of it."""
    token = mint_token(SECRET, user_id="alice", rooms=["blue"])
    for request in (
        event({"token": token, "roomId": "blue"}),
        event({"roomId": "blue"}, {"Sec-WebSocket-Protocol": f"chat, {token}"}),
    ):
        context = policy(decide(request, token_from_request, SECRET), ARN)["context"]
        assert set(context) == {"userId", "roomId", "rooms", "tokenId", "expiresAt"}
        for value in context.values():
            assert not any(part in str(value) for part in token.split(".")), value


def test_a_genuine_token_for_another_room_is_denied_not_unauthorized():
    token = mint_token(SECRET, user_id="alice", rooms=["blue"])
    decision = decide(event({"token": token, "roomId": "red"}), token_from_request, SECRET)
    assert not decision.allow and decision.claims is not None
    answer = policy(decision, ARN)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert "context" not in answer


def test_a_bad_token_has_no_claims_so_the_handler_answers_unauthorized():
    decision = decide(event({"token": "x.y.z", "roomId": "blue"}), token_from_request, SECRET)
    assert not decision.allow and decision.claims is None


# ---------------------------------------------------------------------- key ids (kid)
KEYS = {"v-current": SECRET, "v-previous": OTHER_SECRET}


@pytest.mark.parametrize("kid", ["v-current", "v-previous"])
def test_a_token_naming_a_version_held_verifies_with_that_version(kid):
    token = mint_token(KEYS[kid], user_id="alice", rooms=["blue"], key_id=kid)
    assert jwt.get_unverified_header(token)["kid"] == kid
    assert verify_token(token, KEYS).user_id == "alice"


def test_a_token_without_kid_verifies_with_the_current_version_only():
    assert verify_token(mint_token(SECRET, user_id="alice", rooms=["b"]), KEYS).user_id == "alice"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        # no kid (minted before tokens carried one): the current version only
        (lambda: mint_token(OTHER_SECRET, user_id="a", rooms=["b"]), "signature does not match"),
        (
            lambda: mint_token(SECRET, user_id="a", rooms=["b"], key_id="v-rotated-out"),
            "neither the current nor the previous",
        ),
        # the kid of one version, the signature of another: the signature decides
        (
            lambda: mint_token(OTHER_SECRET, user_id="a", rooms=["b"], key_id="v-current"),
            "signature does not match",
        ),
        (lambda: "not-a-jwt", "not a well-formed JWT"),
        (lambda: f"{b64({'alg': 'HS256', 'kid': 7})}.{b64(claims())}.c2ln", "not a well-formed"),
    ],
)
def test_a_token_naming_no_held_version_is_refused(make, reason):
    with pytest.raises(InvalidToken, match=reason):
        verify_token(make(), KEYS)


# ---------------------------------------------------------------------- the secret's versions
@pytest.fixture
def secret_arn(stored_secret):
    return stored_secret(SECRET)


def test_rotation_moves_current_to_previous_and_drops_the_one_before(secret_arn):
    from chatlib.deploy import rotate_token_secret
    from chatlib.token_secret import read_signing_keys

    first = read_signing_keys(secret_arn)
    assert first.previous is None and first.current.secret == SECRET
    second_id = rotate_token_secret(secret_id=secret_arn)
    second = read_signing_keys(secret_arn)
    assert (second.current.key_id, second.previous) == (second_id, first.current)
    rotate_token_secret(secret_id=secret_arn)
    third = read_signing_keys(secret_arn)
    assert third.previous == second.current
    assert first.current.key_id not in third.by_key_id()
    assert len(third.current.secret) == 64


def test_a_warm_function_keeps_the_secret_for_a_bounded_time(secret_arn):
    """Within max_age the versions come from memory; past it they are read again."""
    from chatlib.deploy import rotate_token_secret
    from chatlib.token_secret import signing_keys

    now = [1000.0]
    before = signing_keys(secret_arn, max_age=60, clock=lambda: now[0])
    rotate_token_secret(secret_id=secret_arn)
    now[0] += 59
    assert signing_keys(secret_arn, max_age=60, clock=lambda: now[0]) == before
    now[0] += 1
    after = signing_keys(secret_arn, max_age=60, clock=lambda: now[0])
    assert after.previous == before.current and after.current != before.current


def test_the_environment_names_the_secret_and_the_cache_time(secret_arn):
    from chatlib.errors import ConfigurationError
    from chatlib.token_secret import signing_keys_from_environment

    environ = {"TOKEN_SECRET_ID": secret_arn, "TOKEN_SECRET_CACHE_SECONDS": "0"}
    assert signing_keys_from_environment(environ).current.secret == SECRET
    with pytest.raises(ConfigurationError, match="TOKEN_SECRET_ID is not set"):
        signing_keys_from_environment({})
    with pytest.raises(ConfigurationError, match="number of seconds"):
        signing_keys_from_environment({**environ, "TOKEN_SECRET_CACHE_SECONDS": "soon"})


def test_a_short_secret_is_refused(embedded_aws):
    import boto3

    from chatlib.errors import ConfigurationError
    from chatlib.token_secret import read_signing_keys

    short = boto3.client("secretsmanager").create_secret(Name="too-short", SecretString="abc")
    with pytest.raises(ConfigurationError, match="shorter than 32"):
        read_signing_keys(short["ARN"])
