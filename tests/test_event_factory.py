"""Events built by the factory have the shape of AWS's own (tests/events/*.json)."""

from __future__ import annotations

import re

import pytest
from conftest import load_event

from chatlib import EventFactory, WebSocketEvent, new_connection_id


def keys(value, prefix=""):
    """Every key path in a nested dict, e.g. ``requestContext.identity.sourceIp``."""
    if not isinstance(value, dict):
        return set()
    found = set()
    for key, inner in value.items():
        path = f"{prefix}{key}"
        found.add(path)
        found |= keys(inner, path + ".") if key not in {"headers", "multiValueHeaders"} else set()
    return found


@pytest.fixture
def factory():
    return EventFactory(seed=1)


def test_connect_has_every_key_of_the_aws_sample(factory):
    event = factory.connect("L0SM9cOFvHcCIhw=", query={"roomId": "lobby", "userId": "alice"})
    assert keys(load_event("connect")) <= keys(event)
    assert event["requestContext"]["eventType"] == "CONNECT"
    assert event["multiValueQueryStringParameters"] == {"roomId": ["lobby"], "userId": ["alice"]}


def test_message_has_every_key_of_the_aws_sample(factory):
    factory.connect("c")
    event = factory.message("c", {"action": "sendmessage", "message": "hello"})
    assert keys(load_event("message")) <= keys(event)
    assert event["requestContext"]["routeKey"] == "sendmessage"


def test_disconnect_has_every_key_of_the_aws_sample(factory):
    factory.connect("c")
    event = factory.disconnect(
        "c", status_code=1005, reason="Client-side close frame status not set"
    )
    sample = load_event("disconnect")
    assert keys(sample) <= keys(event)
    assert event["requestContext"]["disconnectStatusCode"] == 1005


def test_connected_at_is_fixed_for_the_life_of_a_connection():
    ticks = iter([100.0, 105.0, 130.0])
    factory = EventFactory(clock=lambda: next(ticks))
    connected = factory.connect("c")["requestContext"]
    message = factory.message("c", "hi")["requestContext"]
    gone = factory.disconnect("c")["requestContext"]
    assert connected["connectedAt"] == message["connectedAt"] == gone["connectedAt"] == 100_000
    assert [connected["requestTimeEpoch"], message["requestTimeEpoch"]] == [100_000, 105_000]
    assert gone["requestTimeEpoch"] == 130_000


def test_routes_follow_the_action_and_fall_back_to_default(factory):
    assert factory.message("c", {"action": "sendmessage"})["requestContext"]["routeKey"] == (
        "sendmessage"
    )
    assert factory.message("c", "not json")["requestContext"]["routeKey"] == "$default"
    assert (
        factory.message("c", {"message": "no action"})["requestContext"]["routeKey"] == "$default"
    )


def test_connection_ids_look_like_api_gateways():
    for _ in range(50):
        assert re.fullmatch(r"[A-Za-z0-9_-]{15}=", new_connection_id())


def test_a_seed_makes_ids_repeatable():
    first = EventFactory(seed=3)
    second = EventFactory(seed=3)
    assert [first.new_connection_id() for _ in range(3)] == [
        second.new_connection_id() for _ in range(3)
    ]


def test_the_wrapper_reads_the_aws_samples():
    connect = WebSocketEvent(load_event("connect"))
    assert connect.query == {"roomId": "lobby", "userId": "alice"}
    assert connect.connected_at == 1795431600000
    message = WebSocketEvent(load_event("message"))
    assert message.route_key == "sendmessage" and message.event_type == "MESSAGE"
    assert message.body == '{"action": "sendmessage", "message": "hello"}'
    assert message.domain_name == "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
    assert message.authorizer == {}


def test_binary_frames_have_no_text_body():
    event = load_event("message")
    event["isBase64Encoded"] = True
    assert WebSocketEvent(event).body is None
