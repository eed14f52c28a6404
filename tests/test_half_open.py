"""A client that vanished without a close frame or even a FIN (a laptop lid closed, Wi-Fi lost)
is *half-open*: the gateway cannot tell it from a quiet client, because API Gateway sends no
pings of its own. Posts to it answer 200 (the bytes go to a socket nobody reads) until the
gateway itself declares the connection closed: the idle time-out, the maximum duration, or a
write that cannot complete. Only then does ``$disconnect`` run and a post answer 410.

A client that stops reading but keeps its socket open is such a client as far as the gateway
can see: its machine still acknowledges the bytes, as a vanished one's network path buffers
them until TCP gives up.
"""

from __future__ import annotations

import json
import socket
import time

import boto3
import pytest
import websocket
from gateway_helpers import LAMBDAS, PROBE, log_records, open_socket, receive_json, wait_for

from chatlib.local.api_shortcut import define_api_shortcut


@pytest.fixture(scope="module")
def probe(stack):
    api = define_api_shortcut(
        "half-open",
        {
            "$connect": f"{PROBE}.connect",
            "$disconnect": f"{PROBE}.disconnect",
            "$default": f"{PROBE}.report",
        },
        environment={"PYTHONPATH": LAMBDAS},
    )
    url = stack.gateway.websocket_url(api.api_id, api.stage)
    management = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=stack.gateway.connections_url(api.api_id, api.stage),
    )
    return url, management


@pytest.fixture
def short_idle_timeout(stack):
    """Shorten the gateway's idle time-out (AWS: 10 minutes) when the test says so."""
    original = stack.gateway.options.idle_timeout

    def shorten(seconds: float = 0.3) -> None:
        stack.gateway.options.idle_timeout = seconds

    yield shorten
    stack.gateway.options.idle_timeout = original


def connection_id(ws: websocket.WebSocket) -> str:
    ws.send(json.dumps({"action": "who am I"}))
    return receive_json(ws)["event"]["requestContext"]["connectionId"]


def is_gone(management, connection_id: str) -> bool:
    """GET, which (unlike a post) does not count as activity on the connection."""
    try:
        management.get_connection(ConnectionId=connection_id)
    except management.exceptions.GoneException:
        return True
    return False


def disconnect_of(stack, connection_id: str) -> dict:
    return wait_for(
        lambda: [
            event
            for event in log_records(stack, "half-open-disconnect", "DISCONNECT")
            if event["connectionId"] == connection_id
        ]
    )[0]


def test_posts_to_a_client_that_stopped_reading_succeed_until_the_idle_timeout(
    stack, probe, short_idle_timeout
):
    url, management = probe
    frozen = open_socket(url)
    frozen_id = connection_id(frozen)  # from here on, nothing reads this socket
    try:
        for n in range(3):
            answer = management.post_to_connection(ConnectionId=frozen_id, Data=f"#{n}".encode())
            assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert not is_gone(management, frozen_id)
        disconnected = log_records(stack, "half-open-disconnect", "DISCONNECT")
        assert frozen_id not in {event["connectionId"] for event in disconnected}

        short_idle_timeout()
        wait_for(lambda: is_gone(management, frozen_id))
        with pytest.raises(management.exceptions.GoneException):
            management.post_to_connection(ConnectionId=frozen_id, Data=b"too late")
        # The client never answered the close frame; $disconnect ran all the same.
        event = disconnect_of(stack, frozen_id)
        assert (event["disconnectStatusCode"], event["disconnectReason"]) == (1001, "Going away")
    finally:
        frozen.sock.close()


def test_a_ping_is_answered_with_a_pong_and_is_not_activity(probe):
    url, management = probe
    ws = open_socket(url)
    ws_id = connection_id(ws)
    before = management.get_connection(ConnectionId=ws_id)["LastActiveAt"]
    time.sleep(0.01)  # so that activity now would show in lastActiveAt (milliseconds)
    ws.ping(b"are you there?")
    ws.settimeout(10)
    assert ws.recv_data(control_frame=True) == (websocket.ABNF.OPCODE_PONG, b"are you there?")
    assert management.get_connection(ConnectionId=ws_id)["LastActiveAt"] == before

    # a post, by contrast, is activity: the server's messages keep a connection open too
    management.post_to_connection(ConnectionId=ws_id, Data=b"hello")
    assert ws.recv() == "hello"
    assert management.get_connection(ConnectionId=ws_id)["LastActiveAt"] > before
    ws.close()


def test_a_client_that_only_pings_is_closed_by_the_idle_timeout(stack, probe, short_idle_timeout):
    url, management = probe
    ws = open_socket(url)
    ws_id = connection_id(ws)
    short_idle_timeout()
    ws.settimeout(10)
    code = None
    for _ in range(200):  # each round trip takes well under the time-out
        try:
            ws.ping(b"still here")
        except (websocket.WebSocketConnectionClosedException, OSError):
            break
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            code = int.from_bytes(data[:2], "big")
            break
        time.sleep(0.05)
    assert code == 1001
    assert disconnect_of(stack, ws_id)["disconnectStatusCode"] == 1001
    ws.shutdown()


def test_a_post_that_cannot_be_written_ends_the_connection(stack, probe):
    """A client that stops reading until every buffer on the way is full: the write is stuck,
    and after ``write_timeout`` the connection is declared closed and the post is 410."""
    url, management = probe
    frozen = open_socket(url, sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    frozen_id = connection_id(frozen)
    original = stack.gateway.options.write_timeout
    stack.gateway.options.write_timeout = 0.5
    chunk = b"x" * (120 * 1024)
    delivered = 0
    try:
        with pytest.raises(management.exceptions.GoneException):
            for _ in range(2000):  # at most 240 MB, far more than any socket buffer holds
                management.post_to_connection(ConnectionId=frozen_id, Data=chunk)
                delivered += 1
    finally:
        stack.gateway.options.write_timeout = original
        frozen.sock.close()
    assert delivered > 0  # the first posts were written, as to any client
    event = disconnect_of(stack, frozen_id)
    assert event["disconnectStatusCode"] == 1006


def test_the_gateway_sends_no_pings_of_its_own(stack, probe):
    """What makes a half-open connection last: nothing probes the client. (The websockets
    default would ping every 20 s and close a silent peer 20 s later.)"""
    url, _ = probe
    ws = open_socket(url)
    ws_id = connection_id(ws)
    api_id, stage = url.rsplit("/", 2)[1:]

    async def keepalive_settings():
        websocket_ = stack.gateway.registry.open(ws_id, api_id, stage).websocket
        return websocket_.ping_interval, websocket_.ping_timeout

    assert stack.run(keepalive_settings()) == (None, None)
    ws.close()


def test_a_delete_is_a_normal_closure(stack, probe):
    """Unlike the limits and a stuck write, a DELETE @connections closes with 1000, as API
    Gateway's logs show for it (boto/boto3#3789): a client tells a kick from a drop by it."""
    url, management = probe
    ws = open_socket(url)
    ws_id = connection_id(ws)
    management.delete_connection(ConnectionId=ws_id)
    ws.settimeout(10)
    opcode, data = ws.recv_data(control_frame=True)
    assert (opcode, int.from_bytes(data[:2], "big")) == (websocket.ABNF.OPCODE_CLOSE, 1000)
    event = disconnect_of(stack, ws_id)
    assert (event["disconnectStatusCode"], event["disconnectReason"]) == (
        1000,
        "Connection Closed Normally",
    )
    ws.shutdown()
