"""Faults through the whole chain: vanished clients, a failing $disconnect, an unreachable
DynamoDB. Each ends in a clear outcome, never a hang, and the chat keeps working."""

from __future__ import annotations

import time

import pytest
import websocket
from chat_deployments import deploy_test_chat
from gateway_helpers import PROBE, wait_for

from chatlib import ChatClient, ConnectionStore


def test_a_fifth_of_a_room_killed_mid_broadcast_the_rest_receive_and_rows_are_cleaned(stack):
    url, table, _ = deploy_test_chat(stack)
    store = ConnectionStore(table)
    clients = [ChatClient.connect(url, room_id="crowd", user_id=f"u{i}") for i in range(20)]
    sender, doomed, survivors = clients[0], clients[1:5], clients[5:]
    sender.send("before")
    for client in clients:
        assert client.receive()["message"] == "before"
    sender.send("during")
    for client in doomed:  # 20% vanish while the fan-out is under way
        client.vanish()
    for client in survivors:
        assert client.receive()["message"] == "during"
    sender.send("after")
    for client in survivors:
        assert client.receive()["message"] == "after"
    stack.wait_until_idle()
    assert len(store.room_member_ids("crowd")) == 16


def test_when_disconnect_fails_the_410_path_still_cleans_up(stack):
    url, table, prefix = deploy_test_chat(stack, replace={"$disconnect": f"{PROBE}.boom"})
    store = ConnectionStore(table)
    alice = ChatClient.connect(url, room_id="r", user_id="alice")
    bob = ChatClient.connect(url, room_id="r", user_id="bob")
    bob_id = bob.whoami()["connectionId"]
    bob.vanish()
    stack.wait_until_idle()
    assert store.get(bob_id) is not None, "$disconnect failed, so the row should still be there"
    alice.send("bob?")
    assert alice.receive()["message"] == "bob?"
    stack.wait_until_idle()
    assert store.get(bob_id) is None
    assert stack.invocations(f"{prefix}-sendmessage")[-1]["counts"]["gone"] == 1
    alice.close()


def test_an_unreachable_dynamodb_is_a_clear_refusal_not_a_hang(stack):
    url, _, prefix = deploy_test_chat(
        stack, environment={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, timeout=10
    )
    started = time.monotonic()
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        ChatClient.connect(url, room_id="r", user_id="nobody")
    assert refused.value.status_code == 500
    assert time.monotonic() - started < 10
    stack.wait_until_idle()
    log = "\n".join(stack.logs(f"{prefix}-connect"))
    assert "Could not connect to the endpoint URL" in log


def test_messages_keep_flowing_after_a_handler_times_out(stack):
    url, _, _ = deploy_test_chat(stack, replace={"slow": f"{PROBE}.sleepy"}, timeout=1)
    client = ChatClient.connect(url, room_id="r", user_id="patient")
    client.send_raw({"action": "slow", "seconds": 3})
    assert client.receive(timeout=10)["message"] == "Internal server error"
    client.send("still here")
    assert wait_for(lambda: client.receive()["message"] == "still here")
    client.close()
