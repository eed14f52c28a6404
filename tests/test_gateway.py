"""The local gateway behaves as API Gateway's WebSocket data plane does
(shared/reference/apigw-websocket.md), driven by real websocket-client connections."""

from __future__ import annotations

import asyncio
import json
import re
import time

import boto3
import pytest
import websocket
from conftest import load_event
from gateway_helpers import (
    LAMBDAS,
    PROBE,
    close_code,
    log_records,
    nothing_arrives,
    open_socket,
    receive_json,
    refused_status,
    vanish,
    wait_for,
)

from chatlib import ConnectionStore, create_connection_table
from chatlib.local.api_shortcut import AuthorizerSpec, define_api_shortcut
from chatlib.local.gateway.management_api import (
    MAX_URL_BYTES,
    MAX_WAITING_REQUESTS,
    ManagementAPI,
)
from chatlib.local.gateway.stack import start_local_stack

ENV = {"PYTHONPATH": LAMBDAS}


@pytest.fixture(scope="module")
def probe(stack):
    """An API whose routes report what they see."""
    api = define_api_shortcut(
        "probe",
        {
            "$connect": f"{PROBE}.connect",
            "$disconnect": f"{PROBE}.disconnect",
            "$default": f"{PROBE}.report",
            "report": f"{PROBE}.report",
            "sleepy": f"{PROBE}.sleepy",
            "boom": f"{PROBE}.boom",
        },
        environment={**ENV, "PROBE_ONLY": "probe"},
        timeout=1,
    )
    return api, stack.gateway.websocket_url(api.api_id, api.stage)


def management_client(stack, api):
    return boto3.client(
        "apigatewaymanagementapi", endpoint_url=stack.gateway.connections_url(api.api_id, api.stage)
    )


# -- the chat itself ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chat(stack):
    create_connection_table("gateway-chat")
    api = define_api_shortcut(
        "chat-rooms",
        {
            "$connect": "chatlib.handlers.connect.handler",
            "$default": "chatlib.handlers.default.handler",
            "sendmessage": "chatlib.handlers.room.handler",
            # no $disconnect: rows of vanished clients stay until a post answers 410
        },
        environment={"CONNECTIONS_TABLE": "gateway-chat"},
    )
    return stack.gateway.websocket_url(api.api_id, api.stage)


def test_the_abcd_room_scenario_over_real_websockets(chat):
    clients = {
        name: open_socket(chat, query=f"roomId={'green' if name == 'D' else 'blue'}&userId={name}")
        for name in "ABCD"
    }
    clients["A"].send(json.dumps({"action": "sendmessage", "message": "hi blue"}))
    for name in "ABC":
        frame = receive_json(clients[name])
        assert (frame["sender"], frame["roomId"], frame["message"]) == ("A", "blue", "hi blue")
    assert nothing_arrives(clients["D"])
    for ws in clients.values():
        ws.close()


def test_a_bad_room_refuses_the_handshake_with_400(chat):
    assert refused_status(chat, "roomId=no%20spaces") == 400


def test_a_vanished_client_is_gone_410_and_cleaned_up(chat, stack):
    a = open_socket(chat, query="roomId=lobby&userId=a")
    b = open_socket(chat, query="roomId=lobby&userId=b")
    c = open_socket(chat, query="roomId=lobby&userId=c")
    c.send(json.dumps({"action": "whoami"}))  # $default tells c its connection id
    c_id = receive_json(c)["connection"]["connectionId"]
    vanish(c)
    store = ConnectionStore("gateway-chat")
    assert store.get(c_id) is not None  # no $disconnect route: the row stays
    a.send(json.dumps({"action": "sendmessage", "message": "still there?"}))
    assert receive_json(b)["message"] == "still there?"
    wait_for(lambda: store.get(c_id) is None)
    a.close()
    b.close()


# -- handshake ------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [400, 403, 429, 500])
def test_a_non_2xx_from_connect_is_the_handshake_status(probe, status):
    _, url = probe
    assert refused_status(url, f"status={status}") == status


def test_a_post_before_connect_finishes_is_gone(probe, stack):
    _, url = probe
    ws = open_socket(url, query="post_during_connect=1")
    assert "POST DURING CONNECT: GoneException" in stack.logs("probe-connect")
    ws.close()


def test_the_subprotocol_is_echoed_when_connect_returns_it(probe):
    _, url = probe
    ws = open_socket(url, subprotocols=["chat.v1", "token-abc"])
    assert ws.getsubprotocol() == "chat.v1"
    ws.close()


def test_an_offered_subprotocol_not_returned_fails_the_handshake(probe):
    _, url = probe
    with pytest.raises(websocket.WebSocketException, match="Invalid WebSocket Header"):
        open_socket(url, query="echo=no", subprotocols=["chat.v1"])


def test_no_subprotocol_offered_none_returned(probe):
    _, url = probe
    ws = open_socket(url)
    assert ws.getsubprotocol() is None
    ws.close()


def test_an_unknown_api_or_stage_is_forbidden(probe, stack):
    api, url = probe
    assert refused_status(url.rsplit("/", 1)[0] + "/nostage") == 403


# -- authorizer -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def guarded(stack):
    api = define_api_shortcut(
        "guarded",
        {
            "$connect": f"{PROBE}.connect",
            "$disconnect": f"{PROBE}.disconnect",
            "$default": f"{PROBE}.report",
        },
        environment=ENV,
        authorizer=AuthorizerSpec(f"{PROBE}.authorizer", ("route.request.querystring.token",)),
    )
    return api, stack.gateway.websocket_url(api.api_id, api.stage)


def test_a_missing_identity_source_is_401_without_invoking_the_authorizer(guarded, stack):
    _, url = guarded
    before = len(log_records(stack, "guarded-authorizer", "AUTHORIZER"))
    assert refused_status(url, "roomId=blue") == 401
    assert len(log_records(stack, "guarded-authorizer", "AUTHORIZER")) == before


@pytest.mark.parametrize(
    ("token", "status"), [("deny", 403), ("unauthorized", 401), ("crash", 500), ("garbage", 500)]
)
def test_authorizer_refusals_get_aws_statuses(guarded, token, status):
    _, url = guarded
    assert refused_status(url, f"token={token}") == status


def test_a_malformed_policy_is_500_and_leaves_no_connection_behind(guarded, stack):
    _, url = guarded
    registered = len(stack.gateway.registry)
    assert refused_status(url, "token=bad-action") == 500
    assert len(stack.gateway.registry) == registered


def test_an_allowed_connection_carries_the_authorizer_context_on_every_event(guarded, stack):
    _, url = guarded
    ws = open_socket(url, query="token=allow")
    (auth_event,) = log_records(stack, "guarded-authorizer", "AUTHORIZER")[-1:]
    assert auth_event["type"] == "REQUEST"
    assert re.fullmatch(
        r"arn:aws:execute-api:us-east-1:123456789012:\w+/dev/\$connect", auth_event["methodArn"]
    )
    connect_event = log_records(stack, "guarded-connect", "CONNECT")[-1]
    expected = {
        "principalId": "user-42",
        "userId": "alice",
        "rooms": "blue,green",
        "level": 3,
        "admin": False,
    }
    assert connect_event["requestContext"]["authorizer"] == expected
    ws.send(json.dumps({"action": "anything"}))
    assert receive_json(ws)["event"]["requestContext"]["authorizer"] == expected
    ws.close()
    wait_for(lambda: log_records(stack, "guarded-disconnect", "DISCONNECT"))
    assert log_records(stack, "guarded-disconnect", "DISCONNECT")[-1]["authorizer"] == expected


def test_a_wildcard_resource_in_the_policy_allows(guarded):
    _, url = guarded
    open_socket(url, query="token=allow-wildcard").close()


# -- routes ---------------------------------------------------------------------------------
def test_an_exact_action_selects_its_route(probe):
    _, url = probe
    ws = open_socket(url)
    ws.send(json.dumps({"action": "report", "n": 1}))
    assert receive_json(ws)["event"]["requestContext"]["routeKey"] == "report"
    ws.close()


@pytest.mark.parametrize(
    "frame", ['{"action": "nope"}', '{"no": "action"}', "not json", '{"action": 7}', "[1]"]
)
def test_anything_else_goes_to_default(probe, frame):
    _, url = probe
    ws = open_socket(url)
    ws.send(frame)
    event = receive_json(ws)["event"]
    assert event["requestContext"]["routeKey"] == "$default"
    assert event["body"] == frame
    ws.close()


def test_binary_frames_arrive_base64_encoded_on_default(probe):
    _, url = probe
    ws = open_socket(url)
    ws.send_binary(b"\x00\xffbinary")
    event = receive_json(ws)["event"]
    assert event["isBase64Encoded"] is True and event["body"] == "AP9iaW5hcnk="
    ws.close()


def test_nested_selection_expressions_and_no_default_means_forbidden(stack):
    api = define_api_shortcut(
        "nested",
        {"report": f"{PROBE}.report"},
        environment=ENV,
        route_selection_expression="$request.body.meta.kind",
    )
    ws = open_socket(stack.gateway.websocket_url(api.api_id, api.stage))
    ws.send(json.dumps({"meta": {"kind": "report"}}))
    assert receive_json(ws)["event"]["requestContext"]["routeKey"] == "report"
    ws.send(json.dumps({"action": "report"}))
    forbidden = receive_json(ws)
    assert forbidden["message"] == "Forbidden"
    assert set(forbidden) == {"message", "connectionId", "requestId"}
    ws.close()


# -- events ---------------------------------------------------------------------------------
def test_message_events_have_every_field_of_aws_and_a_fixed_connected_at(probe):
    _, url = probe
    ws = open_socket(url)
    ws.send(json.dumps({"action": "report"}))
    first = receive_json(ws)["event"]
    time.sleep(0.01)
    ws.send(json.dumps({"action": "report"}))
    second = receive_json(ws)["event"]
    sample = load_event("message")
    assert set(sample["requestContext"]) <= set(first["requestContext"])
    assert set(sample) <= set(first)
    context = first["requestContext"]
    assert context["eventType"] == "MESSAGE" and context["messageDirection"] == "IN"
    assert context["stage"] == "dev" and context["identity"]["sourceIp"] == "127.0.0.1"
    assert re.fullmatch(r"[A-Za-z0-9_-]{15}=", context["connectionId"])
    assert context["connectedAt"] == second["requestContext"]["connectedAt"]
    assert context["requestId"] != second["requestContext"]["requestId"]
    ws.close()


def test_connect_and_disconnect_events_have_every_field_of_aws(probe, stack):
    _, url = probe
    ws = open_socket(url, query="roomId=blue&userId=zed")
    ws.close(status=1000, reason=b"bye")
    connect_event = log_records(stack, "probe-connect", "CONNECT")[-1]
    assert set(load_event("connect")["requestContext"]) <= set(connect_event["requestContext"])
    assert connect_event["queryStringParameters"] == {"roomId": "blue", "userId": "zed"}
    assert connect_event["multiValueQueryStringParameters"] == {
        "roomId": ["blue"],
        "userId": ["zed"],
    }
    disconnected = wait_for(
        lambda: [
            d
            for d in log_records(stack, "probe-disconnect", "DISCONNECT")
            if d["connectionId"] == connect_event["requestContext"]["connectionId"]
        ]
    )[0]
    assert set(load_event("disconnect")["requestContext"]) <= set(disconnected)
    assert (disconnected["disconnectStatusCode"], disconnected["disconnectReason"]) == (1000, "bye")
    assert disconnected["connectedAt"] == connect_event["requestContext"]["connectedAt"]


# -- closing --------------------------------------------------------------------------------
def _disconnect_of(stack, ws_id):
    return wait_for(
        lambda: [
            d
            for d in log_records(stack, "probe-disconnect", "DISCONNECT")
            if d["connectionId"] == ws_id
        ]
    )[0]


def _connection_id(ws):
    ws.send(json.dumps({"action": "report"}))
    return receive_json(ws)["event"]["requestContext"]["connectionId"]


def test_a_close_frame_without_status_is_1005(probe, stack):
    _, url = probe
    ws = open_socket(url)
    ws_id = _connection_id(ws)
    ws.send(b"", opcode=websocket.ABNF.OPCODE_CLOSE)
    assert close_code(ws) == 1005  # the server answers the close handshake
    event = _disconnect_of(stack, ws_id)
    assert event["disconnectStatusCode"] == 1005
    assert event["disconnectReason"] == "Client-side close frame status not set"


def test_a_client_that_vanishes_still_gets_disconnect_and_then_410(probe, stack):
    api, url = probe
    ws = open_socket(url)
    ws_id = _connection_id(ws)
    vanish(ws)
    assert _disconnect_of(stack, ws_id)["disconnectStatusCode"] == 1006
    client = management_client(stack, api)
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId=ws_id, Data=b"anyone?")


def test_a_frame_over_32_kb_closes_with_1009(probe, stack):
    _, url = probe
    ws = open_socket(url)
    ws_id = _connection_id(ws)
    ws.send("x" * (32 * 1024 + 1))
    assert close_code(ws) == 1009
    assert _disconnect_of(stack, ws_id)["disconnectStatusCode"] == 1009


def test_a_client_that_leaves_its_socket_open_after_the_close_handshake_is_ended(probe, stack):
    """websocket-client, once it has read the server's close frame, never closes its socket;
    the gateway ends the half-closed connection itself, so $disconnect still runs."""
    _, url = probe
    ws = open_socket(url)
    ws_id = _connection_id(ws)
    ws.send("x" * (32 * 1024 + 1))
    ws.settimeout(10)
    opcode, _ = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    ws.close()  # a no-op here: the socket itself stays open
    assert ws.sock is not None
    assert _disconnect_of(stack, ws_id)["disconnectStatusCode"] == 1009
    ws.shutdown()


def test_a_message_over_128_kb_in_small_frames_closes_with_1009(probe):
    _, url = probe
    ws = open_socket(url)
    chunk = "y" * (30 * 1024)
    ws.send_frame(websocket.ABNF.create_frame(chunk, websocket.ABNF.OPCODE_TEXT, fin=0))
    for _ in range(4):
        ws.send_frame(websocket.ABNF.create_frame(chunk, websocket.ABNF.OPCODE_CONT, fin=0))
    ws.send_frame(websocket.ABNF.create_frame(chunk, websocket.ABNF.OPCODE_CONT, fin=1))
    assert close_code(ws) == 1009


def test_a_message_of_exactly_32_kb_is_fine(probe):
    _, url = probe
    ws = open_socket(url)
    body = json.dumps({"action": "report", "pad": ""})
    ws.send(json.dumps({"action": "report", "pad": "p" * (32 * 1024 - len(body))}))
    assert receive_json(ws)["event"]["requestContext"]["routeKey"] == "report"
    ws.close()


@pytest.mark.parametrize("limit", ["idle_timeout", "max_duration"])
def test_idle_and_overlong_connections_are_closed_with_1001(probe, stack, limit):
    _, url = probe
    original = getattr(stack.gateway.options, limit)
    setattr(stack.gateway.options, limit, 0.5)
    try:
        ws = open_socket(url)
        ws_id = _connection_id(ws)
        assert close_code(ws) == 1001
    finally:
        setattr(stack.gateway.options, limit, original)
    event = _disconnect_of(stack, ws_id)
    assert (event["disconnectStatusCode"], event["disconnectReason"]) == (1001, "Going away")


# -- @connections ---------------------------------------------------------------------------
def test_connections_post_get_and_delete(probe, stack):
    api, url = probe
    ws = open_socket(url)
    ws_id = _connection_id(ws)
    client = management_client(stack, api)
    client.post_to_connection(ConnectionId=ws_id, Data=b'{"from": "server"}')
    assert receive_json(ws) == {"from": "server"}
    info = client.get_connection(ConnectionId=ws_id)
    assert info["Identity"]["SourceIp"] == "127.0.0.1"
    assert {"ConnectedAt", "LastActiveAt"} <= set(info)
    response = client.delete_connection(ConnectionId=ws_id)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert close_code(ws) == 1000
    _disconnect_of(stack, ws_id)
    with pytest.raises(client.exceptions.GoneException):
        client.get_connection(ConnectionId=ws_id)


def test_connections_errors_are_modeled(probe, stack):
    api, url = probe
    client = management_client(stack, api)
    with pytest.raises(client.exceptions.GoneException) as gone:
        client.post_to_connection(ConnectionId="NeverExisted0A=", Data=b"x")
    headers = gone.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-errortype"] == "GoneException"
    ws = open_socket(url)
    ws_id = _connection_id(ws)
    with pytest.raises(client.exceptions.PayloadTooLargeException):
        client.post_to_connection(ConnectionId=ws_id, Data=b"z" * (128 * 1024 + 1))
    ws.close()


def _raw_http(stack, payload: bytes, *, replies: int = 1) -> tuple[list[bytes], bool]:
    """Send raw bytes to @connections; return the replies' heads and whether it hung up."""
    import socket

    with socket.create_connection(("127.0.0.1", stack.gateway.connections_port), timeout=5) as s:
        s.sendall(payload)
        received = b""
        heads: list[bytes] = []
        while len(heads) < replies:
            chunk = s.recv(65536)
            if not chunk:
                break
            received += chunk
            while b"\r\n\r\n" in received:
                head, _, rest = received.partition(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: (\d+)", head)
                size = int(length.group(1)) if length else 0
                if len(rest) < size:
                    break
                heads.append(head)
                received = rest[size:]
        s.settimeout(1)
        try:
            closed = s.recv(1) == b""
        except TimeoutError:
            closed = False
    return heads, closed


def _post_request(path: str, body: bytes, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


def test_connections_answers_requests_on_one_kept_alive_connection_in_order(probe, stack):
    api, url = probe
    ws = open_socket(url)
    path = f"/{api.api_id}/{api.stage}/@connections/{_connection_id(ws)}"
    gone = f"/{api.api_id}/{api.stage}/@connections/NeverExisted0A="
    # three requests in one write (pipelined): each answered, in order, connection kept
    requests = (
        _post_request(path, b'"one"') + _post_request(gone, b"x") + _post_request(path, b'"two"')
    )
    heads, closed = _raw_http(stack, requests, replies=3)
    assert [head.split(b"\r\n")[0] for head in heads] == [
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 410 Gone",
        b"HTTP/1.1 200 OK",
    ]
    assert not closed
    assert [ws.recv(), ws.recv()] == ['"one"', '"two"']
    ws.close()


def test_connections_answers_a_long_pipeline_in_order_without_holding_it_all(probe, stack):
    api, url = probe
    ws = open_socket(url)
    path = f"/{api.api_id}/{api.stage}/@connections/{_connection_id(ws)}"
    count = 3 * MAX_WAITING_REQUESTS  # reading pauses at the limit and resumes: none lost
    requests = b"".join(_post_request(path, f'"{n}"'.encode()) for n in range(count))
    heads, closed = _raw_http(stack, requests, replies=count)
    assert [head.split(b"\r\n")[0] for head in heads] == [b"HTTP/1.1 200 OK"] * count
    assert not closed
    assert [ws.recv() for _ in range(count)] == [f'"{n}"' for n in range(count)]
    ws.close()


class _RecordingTransport(asyncio.Transport):
    """What the @connections protocol wrote, and whether it closed: no socket needed."""

    def __init__(self) -> None:
        super().__init__()
        self.written, self.closed = bytearray(), False

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 1), "sockname": ("127.0.0.1", 2)}.get(name, default)

    def write(self, data) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def test_connections_answers_a_client_that_stopped_sending_before_closing():
    class SlowAPI:  # a DELETE waits for $disconnect; here, for the test to say so
        def __init__(self) -> None:
            self.release = asyncio.Event()

        async def handle(self, method, target, body, *, from_this_machine):
            await self.release.wait()
            return 204, {}, b""

    async def scenario() -> None:
        api = SlowAPI()
        client = ManagementAPI.connection_factory(api)
        transport = _RecordingTransport()
        client.connection_made(transport)
        client.data_received(b"DELETE /a/dev/@connections/x HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.eof_received() is True  # keep the transport open: an answer is due
        await asyncio.sleep(0.01)
        assert not transport.written and not transport.closed
        api.release.set()
        await asyncio.sleep(0.01)
        assert transport.written.startswith(b"HTTP/1.1 204 No Content\r\n")
        assert transport.closed
        idle = ManagementAPI.connection_factory(api)
        idle.connection_made(_RecordingTransport())
        assert idle.eof_received() is False  # nothing due: close at once

    asyncio.run(scenario())


def test_connections_refuses_an_overlong_url_with_400(probe, stack):
    api, _ = probe
    long_id = "x" * (MAX_URL_BYTES + 1)
    heads, closed = _raw_http(
        stack, _post_request(f"/{api.api_id}/{api.stage}/@connections/{long_id}", b"x")
    )
    assert heads[0].startswith(b"HTTP/1.1 400 Bad Request") and closed


def test_connections_refuses_malformed_http_with_400_and_hangs_up(probe, stack):
    heads, closed = _raw_http(stack, b"THIS IS NOT HTTP\r\n\r\n")
    assert heads[0].startswith(b"HTTP/1.1 400 Bad Request")
    assert b"x-amzn-ErrorType: BadRequestException" in heads[0]
    assert closed
    api, _ = probe
    with pytest.raises(management_client(stack, api).exceptions.GoneException):
        management_client(stack, api).post_to_connection(ConnectionId="Still0Serving=", Data=b"x")


def test_connections_answers_an_oversized_body_413_and_keeps_serving(probe, stack):
    api, url = probe
    ws = open_socket(url)
    path = f"/{api.api_id}/{api.stage}/@connections/{_connection_id(ws)}"
    huge = b"z" * (4 * 1024 * 1024)
    heads, closed = _raw_http(
        stack, _post_request(path, huge) + _post_request(path, b'"ok"'), replies=2
    )
    assert [head.split(b"\r\n")[0] for head in heads] == [
        b"HTTP/1.1 413 Request Entity Too Large",
        b"HTTP/1.1 200 OK",
    ]
    assert ws.recv() == '"ok"'
    ws.close()


def test_connections_honours_connection_close(probe, stack):
    api, _ = probe
    gone = f"/{api.api_id}/{api.stage}/@connections/NeverExisted0A="
    heads, closed = _raw_http(stack, _post_request(gone, b"x", "Connection: close\r\n"))
    assert heads[0].startswith(b"HTTP/1.1 410 Gone") and b"Connection: close" in heads[0]
    assert closed


# -- the Lambda runtime ---------------------------------------------------------------------
def test_each_function_sees_exactly_its_own_environment(probe, stack):
    _, url = probe
    other = define_api_shortcut(
        "other", {"$default": f"{PROBE}.report"}, environment={**ENV, "OTHER_ONLY": "other"}
    )
    ws = open_socket(url)
    ws.send(json.dumps({"action": "report"}))
    mine = receive_json(ws)["environment"]
    ws2 = open_socket(stack.gateway.websocket_url(other.api_id, other.stage))
    ws2.send("x")
    theirs = receive_json(ws2)["environment"]
    assert mine["PROBE_ONLY"] == "probe" and "OTHER_ONLY" not in mine
    assert theirs["OTHER_ONLY"] == "other" and "PROBE_ONLY" not in theirs
    assert mine["AWS_LAMBDA_FUNCTION_NAME"] == "probe-report"
    assert "PYTEST_CURRENT_TEST" not in mine and "HOME" not in mine
    ws.close()
    ws2.close()


def test_the_context_object_and_warm_module_state(probe, stack):
    _, url = probe
    ws = open_socket(url)

    def report_once():
        finished = sum(line.startswith("END ") for line in stack.logs("probe-report"))
        ws.send(json.dumps({"action": "report"}))
        reply = receive_json(ws)
        # the reply is posted before the handler returns; wait until the instance is free
        wait_for(
            lambda: sum(line.startswith("END ") for line in stack.logs("probe-report")) > finished
        )
        return reply

    first, second = report_once(), report_once()
    assert first["context"]["function_name"] == "probe-report"
    assert 0 < first["context"]["remaining_ms"] <= 1000
    assert first["context"]["aws_request_id"] != second["context"]["aws_request_id"]
    assert second["pid"] == first["pid"]
    assert second["invocations"] == first["invocations"] + 1
    ws.close()


def test_a_timeout_gets_the_internal_error_frame_and_the_next_message_is_served(probe, stack):
    _, url = probe
    ws = open_socket(url)
    ws.send(json.dumps({"action": "sleepy", "seconds": 5}))
    frame = receive_json(ws)
    assert frame["message"] == "Internal server error"
    assert set(frame) == {"message", "connectionId", "requestId"}
    assert any("Task timed out after 1.00 seconds" in line for line in stack.logs("probe-sleepy"))
    ws.send(json.dumps({"action": "report"}))
    assert receive_json(ws)["event"]["requestContext"]["routeKey"] == "report"
    ws.close()


def test_an_exception_is_logged_and_the_gateway_keeps_serving(probe, stack):
    _, url = probe
    ws = open_socket(url)
    ws.send(json.dumps({"action": "boom"}))
    assert receive_json(ws)["message"] == "Internal server error"
    logs = "\n".join(stack.logs("probe-boom"))
    assert "[ERROR] RuntimeError: handler exploded on purpose" in logs
    assert "Traceback" in logs
    ws.send(json.dumps({"action": "report"}))
    assert receive_json(ws)["event"]["requestContext"]["routeKey"] == "report"
    ws.close()


def test_starting_the_stack_again_returns_the_running_one(stack):
    assert start_local_stack() is stack


def test_a_route_removed_from_the_deployment_is_no_longer_served(stack):
    api = define_api_shortcut(
        "shrinking", {"$default": f"{PROBE}.report", "report": f"{PROBE}.report"}, environment=ENV
    )
    url = stack.gateway.websocket_url(api.api_id, api.stage)
    ws = open_socket(url)
    ws.send(json.dumps({"action": "report"}))
    assert receive_json(ws)["event"]["requestContext"]["routeKey"] == "report"
    ws.close()
    apigateway = boto3.client("apigatewayv2")
    (route,) = [
        r for r in apigateway.get_routes(ApiId=api.api_id)["Items"] if r["RouteKey"] == "report"
    ]
    apigateway.delete_route(ApiId=api.api_id, RouteId=route["RouteId"])
    stack.refresh()
    ws = open_socket(url)
    ws.send(json.dumps({"action": "report"}))
    assert receive_json(ws)["event"]["requestContext"]["routeKey"] == "$default"
    ws.close()


def test_edited_function_code_gets_fresh_instances_when_the_api_is_defined_again(stack, tmp_path):
    """On Lambda new code means new instances: a learner who edits a handler and defines the
    API again (a new API, so new instances) runs the edited code, not a warm old copy."""
    module = tmp_path / "edited_echo.py"

    def define(version: str) -> str:
        module.write_text(
            "def connect(event, context):\n    return {'statusCode': 200}\n"
            "def echo(event, context):\n"
            f"    return {{'statusCode': 200, 'body': '{version}'}}\n"
        )
        api = define_api_shortcut(
            "edited-echo",
            {"$connect": "edited_echo.connect", "$default": "edited_echo.echo"},
            environment={"PYTHONPATH": str(tmp_path)},
        )
        boto3.client("apigatewayv2").update_route(  # a two-way route: the body comes back
            ApiId=api.api_id,
            RouteId=_route_id(api.api_id, "$default"),
            RouteResponseSelectionExpression="$default",
        )
        return stack.gateway.websocket_url(api.api_id, api.stage)

    for version in ("first", "second"):
        url = define(version)
        stack.refresh()
        ws = open_socket(url)
        ws.send("hello")
        ws.settimeout(10)
        assert ws.recv() == version
        ws.close()


def _route_id(api_id: str, key: str) -> str:
    routes = boto3.client("apigatewayv2").get_routes(ApiId=api_id)["Items"]
    return next(route["RouteId"] for route in routes if route["RouteKey"] == key)


def test_the_init_phase_does_not_count_against_the_function_timeout(stack):
    """Lambda times the init phase (imports) separately, with 10 s of its own."""
    api = define_api_shortcut(
        "slow-init", {"$connect": "slow_init.connect"}, environment=ENV, timeout=1
    )
    ws = open_socket(stack.gateway.websocket_url(api.api_id, api.stage))
    assert ws.getstatus() == 101
    ws.close()
