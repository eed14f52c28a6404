"""The attack suite: the auth step of infra_cfn/chat.yaml, attacked with websocket-client.

Every forged, stale or misdirected token is refused at the handshake with the status API
Gateway gives (401 for no or a bad token, 403 for a genuine token that does not allow the
room); none of them connects. A valid token connects, from the query string or as a
subprotocol (echoed back). Once connected, a client's user and room are the token's, whatever
it writes in the query or in a message.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time

import boto3
import jwt
import pytest
import websocket
from gateway_helpers import nothing_arrives, open_socket, receive_json, refused_status

from chatlib import ConnectionStore
from chatlib.deploy import CHAT_TEMPLATE, deploy_stack, teardown_stack
from chatlib.tokens import MAX_TOKEN_BYTES, mint_token, verify_token

CHAT = CHAT_TEMPLATE
STACK = "auth-attacks"
WRONG_SECRET = "w" * 64


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims(**overrides):
    now = int(time.time())
    base = {"sub": "alice", "rooms": ["blue"], "iss": "chatlib", "aud": "chat",
            "iat": now, "exp": now + 600, "jti": "attack"}  # fmt: skip
    return {**base, **overrides}


@pytest.fixture(scope="module")
def auth_chat(stack):
    result = deploy_stack(CHAT, stack_name=STACK, parameters={"Step": "auth"}, progress=lambda _: 0)
    secret = boto3.client("secretsmanager").get_secret_value(
        SecretId=result.outputs["TokenSecretArn"]
    )["SecretString"]
    yield stack.local_url(result.outputs["WebSocketUrl"]), secret, result.outputs
    teardown_stack(STACK, progress=lambda _: 0)


def tampered(secret: str) -> str:
    header, _, signature = jwt.encode(claims(), secret, algorithm="HS256").split(".")
    return f"{header}.{b64(claims(rooms=['blue', 'green']))}.{signature}"


ATTACKS = {
    # name: (token maker given the real secret, room asked for, status API Gateway gives)
    "no token": (lambda s: None, "blue", 401),
    "garbage": (lambda s: "garbage", "blue", 401),
    "alg none": (lambda s: f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}.", "blue", 401),
    "wrong secret": (lambda s: jwt.encode(claims(), WRONG_SECRET, algorithm="HS256"), "blue", 401),
    "tampered payload, old signature": (tampered, "green", 401),
    "expired": (
        lambda s: jwt.encode(claims(exp=int(time.time()) - 300), s, algorithm="HS256"),
        "blue",
        401,
    ),
    "nbf in the future": (
        lambda s: jwt.encode(claims(nbf=int(time.time()) + 3600), s, algorithm="HS256"),
        "blue",
        401,
    ),
    "wrong aud": (lambda s: jwt.encode(claims(aud="admin"), s, algorithm="HS256"), "blue", 401),
    "wrong iss": (lambda s: jwt.encode(claims(iss="evil"), s, algorithm="HS256"), "blue", 401),
    "room not in the claim": (
        lambda s: mint_token(s, user_id="alice", rooms=["blue"]),
        "green",
        403,
    ),
    "oversized token": (
        lambda s: jwt.encode(claims(pad="x" * MAX_TOKEN_BYTES), s, algorithm="HS256"),
        "blue",
        401,
    ),
    "another HMAC algorithm (HS512)": (
        lambda s: jwt.encode(claims(), s, algorithm="HS512"),
        "blue",
        401,
    ),
    "an RS256 header on an HMAC signature": (
        lambda s: _relabelled(jwt.encode(claims(), s, algorithm="HS256"), "RS256"),
        "blue",
        401,
    ),
}


def _relabelled(token: str, algorithm: str) -> str:
    _, payload, signature = token.split(".")
    return f"{b64({'alg': algorithm, 'typ': 'JWT'})}.{payload}.{signature}"


def authorizer_calls(stack) -> int:
    return len(stack.invocations(f"{STACK}-authorizer"))


@pytest.mark.parametrize("attack", ATTACKS)
def test_the_attack_is_refused_with_the_status_aws_gives(auth_chat, stack, attack):
    url, secret, outputs = auth_chat
    make, room, status = ATTACKS[attack]
    token = make(secret)
    query = f"roomId={room}&userId=alice" + (f"&token={token}" if token else "")
    before = len(ConnectionStore(outputs["TableName"]).all_connections())
    assert refused_status(url, query=query) == status
    assert len(ConnectionStore(outputs["TableName"]).all_connections()) == before
    last = stack.invocations(f"{STACK}-authorizer")[-1]
    assert last["outcome"] == "deny" and last["status"] == status
    if token:  # the token itself is never logged
        assert token not in "\n".join(stack.logs(f"{STACK}-authorizer"))


def test_the_same_attacks_as_a_subprotocol_are_refused_too(auth_chat):
    url, secret, _ = auth_chat
    for attack in ("wrong secret", "expired", "room not in the claim"):
        make, room, status = ATTACKS[attack]
        assert refused_status(url, query=f"roomId={room}", subprotocols=[make(secret)]) == status


def test_without_the_identity_source_the_authorizer_is_not_even_called(auth_chat, stack):
    url, secret, _ = auth_chat
    token = mint_token(secret, user_id="alice", rooms=["blue"])
    calls = authorizer_calls(stack)
    assert refused_status(url, query=f"token={token}") == 401
    assert authorizer_calls(stack) == calls


def test_a_valid_token_connects_from_the_query_or_as_an_echoed_subprotocol(auth_chat):
    url, secret, _ = auth_chat
    token = mint_token(secret, user_id="alice", rooms=["blue", "green"])
    by_query = open_socket(url, query=f"roomId=green&token={token}")
    by_subprotocol = open_socket(url, query="roomId=blue", subprotocols=[token])
    # websocket-client lower-cases the subprotocol it reports
    assert by_subprotocol.getsubprotocol() == token.lower()
    by_query.close()
    by_subprotocol.close()


def test_user_and_room_come_from_the_token_whatever_the_client_writes(auth_chat, stack):
    url, secret, outputs = auth_chat
    alice = mint_token(secret, user_id="alice", rooms=["blue"])
    bob = mint_token(secret, user_id="bob", rooms=["blue"])
    carol = mint_token(secret, user_id="carol", rooms=["green"])
    liar = open_socket(url, query=f"roomId=blue&userId=mallory&token={alice}")
    listener = open_socket(url, query=f"roomId=blue&token={bob}")
    elsewhere = open_socket(url, query=f"roomId=green&token={carol}")
    liar.send(json.dumps({"action": "whoami"}))
    me = receive_json(liar)["connection"]
    assert (me["userId"], me["roomId"]) == ("alice", "blue")
    liar.send(
        json.dumps(
            {"action": "sendmessage", "message": "hi", "roomId": "green", "sender": "mallory",
             "userId": "mallory"}
        )
    )  # fmt: skip
    frame = receive_json(listener)
    assert (frame["sender"], frame["roomId"], frame["message"]) == ("alice", "blue", "hi")
    assert nothing_arrives(elsewhere)
    rows = {c.user_id: c.room_id for c in ConnectionStore(outputs["TableName"]).all_connections()}
    assert rows.get("alice") == "blue" and "mallory" not in rows
    for ws in (liar, listener, elsewhere):
        ws.close()


def test_none_of_the_attacks_left_a_connection_behind(auth_chat, stack):
    url, secret, outputs = auth_chat
    stack.wait_until_idle()
    users = {c.user_id for c in ConnectionStore(outputs["TableName"]).all_connections()}
    assert users <= {"alice", "bob", "carol"}, users


def test_the_connect_function_refuses_to_run_without_an_authorizer(stack):
    """Fail closed: connect_verified behind no authorizer answers 500, stores nothing."""
    from chat_deployments import deploy_test_chat

    url, table, _ = deploy_test_chat(
        stack, replace={"$connect": "chatlib.handlers.connect_verified.handler"}
    )
    assert refused_status(url, query="roomId=blue&userId=alice") == 500
    assert len(ConnectionStore(table).all_connections()) == 0
    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(url + "?roomId=blue", timeout=5)


def test_the_cli_mints_a_token_from_the_deployed_secret_and_it_connects(auth_chat, stack):
    url, secret, _ = auth_chat
    command = [sys.executable, "-m", "chatlib.tools", "token", "--stack", STACK, "--user", "dave",
               "--room", "blue", "--ttl", "120",
               "--endpoint-url", stack.aws_endpoint_url]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert verify_token(token, secret).rooms == ("blue",)
    ws = open_socket(url, query=f"roomId=blue&token={token}")
    ws.send(json.dumps({"action": "whoami"}))
    assert receive_json(ws)["connection"]["userId"] == "dave"
    ws.close()
    missing = subprocess.run(
        [*command[:4], "no-such-stack", *command[5:]], capture_output=True, text=True, timeout=60
    )
    assert missing.returncode != 0 and "Traceback" not in missing.stderr


def test_a_token_in_the_query_with_another_subprotocol_offered_still_handshakes(auth_chat):
    """A client that offers subprotocols must get one back, or its handshake fails."""
    url, secret, _ = auth_chat
    token = mint_token(secret, user_id="alice", rooms=["blue"])
    ws = open_socket(url, query=f"roomId=blue&token={token}", subprotocols=["chat.v1", "x"])
    assert ws.getsubprotocol() == "chat.v1"
    ws.close()
