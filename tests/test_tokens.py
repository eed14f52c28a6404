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
    assert token_from_request(event({"token": token})) == (token, None)
    offered = {"Sec-WebSocket-Protocol": f"chat, {token}"}
    assert token_from_request(event(headers=offered)) == (token, token)
    assert token_from_request(event(headers={"sec-websocket-protocol": "chat"})) == ("", None)


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


def test_the_secret_is_read_once_per_cold_start(embedded_aws):
    """A warm function keeps the secret: deleting it from Secrets Manager after the first read
    does not disturb the second (a new process, a cold start, would read it again)."""
    import boto3

    from chatlib.errors import ConfigurationError
    from chatlib.token_secret import read_token_secret, token_secret_from_environment

    secrets = boto3.client("secretsmanager")
    arn = secrets.create_secret(Name="cold-start-test", SecretString=SECRET)["ARN"]
    assert token_secret_from_environment({"TOKEN_SECRET_ID": arn}) == SECRET
    secrets.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    assert read_token_secret(arn) == SECRET
    with pytest.raises(ConfigurationError, match="TOKEN_SECRET_ID is not set"):
        token_secret_from_environment({})
    short = secrets.create_secret(Name="too-short", SecretString="abc")["ARN"]
    with pytest.raises(ConfigurationError, match="shorter than 32"):
        read_token_secret(short)
