"""A token's life through the gateway, on the deployed auth step: rotation of the signing secret,
connections that end with their token, and no credential carried past the handshake.

The stack is deployed with a one-second secret cache (``TokenSecretCacheSeconds``), so a warm
authorizer must see each rotation within a second or two.
"""

from __future__ import annotations

import json
import time

import jwt
import pytest
from gateway_helpers import close_code, nothing_arrives, open_socket, receive_json, wait_for

from chatlib import ConnectionStore
from chatlib.deploy import (
    CHAT_TEMPLATE,
    deploy_stack,
    issue_token,
    rotate_token_secret,
    teardown_stack,
)

STACK = "token-life"


@pytest.fixture(scope="module")
def chat(stack):
    result = deploy_stack(
        CHAT_TEMPLATE,
        stack_name=STACK,
        parameters={"Step": "auth", "TokenSecretCacheSeconds": "1"},
        progress=lambda _: None,
    )
    yield stack.local_url(result.outputs["WebSocketUrl"]), result.outputs
    teardown_stack(STACK, progress=lambda _: None)


def token(user: str = "alice", ttl: int = 600) -> str:
    return issue_token(stack_name=STACK, user_id=user, rooms=["blue"], ttl_seconds=ttl)


def handshake_status(url: str, signed: str) -> int:
    """101 if the handshake with this token succeeds, else the refusal's status."""
    try:
        ws = open_socket(url, query=f"roomId=blue&token={signed}")
    except Exception as refused:
        return int(getattr(refused, "status_code", 0))
    ws.close()
    return 101


def say(ws, message: str) -> None:
    ws.send(json.dumps({"action": "sendmessage", "message": message}))


def test_old_tokens_work_until_the_rotation_after_next_and_warm_authorizers_follow(chat):
    url, _ = chat
    first = token()
    assert jwt.get_unverified_header(first)["kid"]  # names the version that signed it
    assert handshake_status(url, first) == 101  # the authorizer is warm now

    second_version = rotate_token_secret(stack_name=STACK)
    second = token()
    assert jwt.get_unverified_header(second)["kid"] == second_version
    # the warm authorizer reads the new version within its cache time (1 s here)
    wait_for(lambda: handshake_status(url, second) == 101, timeout=10, interval=0.3)
    assert handshake_status(url, first) == 101  # the grace period: AWSPREVIOUS still works

    rotate_token_secret(stack_name=STACK)
    wait_for(lambda: handshake_status(url, first) == 401, timeout=10, interval=0.3)
    assert handshake_status(url, second) == 101  # now the previous version
    assert handshake_status(url, token()) == 101


def test_a_connection_ends_with_its_token(chat, stack):
    url, outputs = chat
    short = token("alice", ttl=3)
    expires_at = jwt.decode(short, options={"verify_signature": False})["exp"]
    alice = open_socket(url, query=f"roomId=blue&token={short}")
    bob = open_socket(url, query=f"roomId=blue&token={token('bob')}")
    say(alice, "before")
    assert receive_json(bob)["message"] == receive_json(alice)["message"] == "before"
    alice.send(json.dumps({"action": "whoami"}))
    alice_id = receive_json(alice)["connection"]["connectionId"]
    rows = ConnectionStore(outputs["TableName"])
    assert rows.get(alice_id).expires_at == expires_at  # the row keeps the token's expiry

    time.sleep(max(0.0, expires_at - time.time()) + 0.5)
    say(bob, "after")  # an expired connection hears nothing more
    assert receive_json(bob)["message"] == "after"  # (its own echo)
    assert nothing_arrives(alice)
    say(alice, "too late")
    frame = receive_json(alice)
    assert (frame["type"], frame["error"]) == ("error", "TokenExpired")
    assert "connect again" in frame["message"]
    assert close_code(alice) == 1000  # closed through DELETE @connections
    assert nothing_arrives(bob)
    wait_for(lambda: rows.get(alice_id) is None)  # $disconnect ran
    bob.close()


def test_the_subprotocol_echo_comes_from_the_handshake_and_no_credential_goes_further(chat, stack):
    url, _ = chat
    signed = token()
    ws = open_socket(url, query="roomId=blue", subprotocols=["chat.v1", signed])
    assert ws.getsubprotocol() == signed.lower()  # websocket-client lower-cases it
    ws.send(json.dumps({"action": "whoami"}))
    connection_id = receive_json(ws)["connection"]["connectionId"]
    api_id, stage = url.rsplit("/", 2)[-2:]
    live = stack.gateway.registry.open(connection_id, api_id, stage)
    carried = live.authorizer  # what every later event's requestContext.authorizer holds
    assert carried["userId"] == "alice" and carried["roomId"] == "blue"
    for value in carried.values():
        assert not any(part in str(value) for part in signed.split(".")), value
    ws.close()
