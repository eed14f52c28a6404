"""Every handler path, invoked with API Gateway-shaped events against moto and the stand-in."""

from __future__ import annotations

import json

import pytest

from chatlib import ConnectionStore, LambdaContext, capture_invocation_logs
from chatlib.handlers import broadcast, connect, default, disconnect, room
from chatlib.limits import MAX_PAYLOAD_BYTES

pytestmark = pytest.mark.usefixtures("handler_env")


def join(events, standin, user, room_id, *, open_socket=True):
    """Connect like a client: $connect runs, then the socket is open for posts."""
    connection_id = events.new_connection_id()
    event = events.connect(connection_id, query={"roomId": room_id, "userId": user})
    response = connect.handler(event, LambdaContext("connect"))
    assert response["statusCode"] == 200, response
    if open_socket:
        standin.open(connection_id)
    return connection_id


def say(events, sender_id, message, handler=room.handler, **extra):
    body = {"action": "sendmessage", "message": message, **extra}
    return handler(events.message(sender_id, body), LambdaContext("sendmessage"))


def texts(standin, connection_id):
    return [f.get("message") for f in standin.frames(connection_id) if f.get("type") == "message"]


@pytest.fixture
def abcd(events, standin):
    """The source article's scenario: A, B, C in room 'blue', D in room 'green'."""
    return {
        name: join(events, standin, name, "green" if name == "D" else "blue") for name in "ABCD"
    }


# -- $connect ------------------------------------------------------------------------------
def test_connect_stores_room_user_and_connect_time(events, standin, store):
    cid = events.new_connection_id()
    event = events.connect(cid, query={"roomId": "lobby", "userId": "alice"})
    assert connect.handler(event, None) == {"statusCode": 200, "body": "Connected."}
    row = store.get(cid)
    assert (row.room_id, row.user_id) == ("lobby", "alice")
    assert row.connected_at == event["requestContext"]["connectedAt"]
    assert row.ttl == row.connected_at // 1000 + 24 * 3600


def test_connect_without_a_user_gets_a_guest_name(events, store):
    cid = events.new_connection_id()
    connect.handler(events.connect(cid, query={"roomId": "lobby"}), None)
    assert store.get(cid).user_id.startswith("guest-")


@pytest.mark.parametrize(
    ("query", "says"),
    [
        (None, "roomId is required"),
        ({"userId": "alice"}, "roomId is required"),
        ({"roomId": ""}, "roomId is required"),
        ({"roomId": "../../etc"}, "not allowed"),
        ({"roomId": "r" * 65}, "the limit is 64"),
        ({"roomId": "lobby", "userId": "bad user"}, "userId"),
    ],
)
def test_connect_refuses_a_bad_room_or_user_with_400(events, store, query, says):
    cid = events.new_connection_id()
    response = connect.handler(events.connect(cid, query=query), None)
    assert response["statusCode"] == 400
    assert says in response["body"]
    assert store.get(cid) is None


# -- $disconnect ---------------------------------------------------------------------------
def test_disconnect_forgets_the_connection_and_is_idempotent(events, standin, store):
    cid = join(events, standin, "alice", "lobby")
    assert disconnect.handler(events.disconnect(cid), None)["statusCode"] == 200
    assert store.get(cid) is None
    assert disconnect.handler(events.disconnect(cid), None)["statusCode"] == 200


# -- sendmessage, step 1: broadcast ----------------------------------------------------------
def test_broadcast_reaches_everyone_in_every_room(events, standin, abcd):
    response = say(events, abcd["A"], "hello all", handler=broadcast.handler)
    assert response["statusCode"] == 200
    for name in "ABCD":
        assert texts(standin, abcd[name]) == ["hello all"]


# -- sendmessage, step 2: rooms --------------------------------------------------------------
def test_a_room_message_reaches_the_room_and_nobody_else(events, standin, abcd):
    say(events, abcd["A"], "hi blue")
    assert texts(standin, abcd["B"]) == ["hi blue"]
    assert texts(standin, abcd["C"]) == ["hi blue"]
    assert texts(standin, abcd["A"]) == ["hi blue"]  # the sender's acknowledgement
    assert texts(standin, abcd["D"]) == []


def test_outbound_frames_carry_sender_room_message_and_time(events, standin, abcd):
    say(events, abcd["A"], "hi")
    (frame,) = standin.frames(abcd["B"])
    assert frame["sender"] == "A" and frame["roomId"] == "blue" and frame["message"] == "hi"
    assert frame["type"] == "message" and isinstance(frame["sentAt"], int)


def test_a_room_in_the_body_is_ignored(events, standin, abcd):
    """Article 000 reads roomId from the body; here D cannot be reached by naming its room."""
    say(events, abcd["A"], "spoof", roomId="green", sender="D")
    assert texts(standin, abcd["D"]) == []
    (frame,) = standin.frames(abcd["B"])
    assert frame["roomId"] == "blue" and frame["sender"] == "A"


def test_a_vanished_client_is_cleaned_up_and_the_rest_still_receive(events, standin, store, abcd):
    standin.drop(abcd["C"])  # closed without $disconnect
    with capture_invocation_logs() as logs:
        say(events, abcd["A"], "still here?")
    assert texts(standin, abcd["B"]) == ["still here?"]
    assert store.get(abcd["C"]) is None
    assert logs[-1]["counts"] == {
        "recipients": 3,
        "itemsRead": 3,
        "delivered": 2,
        "gone": 1,
        "failed": 0,
    }


def test_a_failing_post_is_counted_and_the_others_still_receive(
    events, standin, store, abcd, monkeypatch
):
    from chatlib.handlers import invocation

    original = invocation.ConnectionsSender.post_to_all

    def flaky(self, connection_ids, data):
        """B's post fails with an error that is not a 410; the others really go out."""
        others = [cid for cid in connection_ids if cid != abcd["B"]]
        return {**original(self, others, data), abcd["B"]: ConnectionResetError("reset")}

    monkeypatch.setattr(invocation.ConnectionsSender, "post_to_all", flaky)
    with capture_invocation_logs() as logs:
        response = say(events, abcd["A"], "partial")
    assert response["statusCode"] == 200
    assert texts(standin, abcd["C"]) == ["partial"]
    assert store.get(abcd["B"]) is not None  # not gone, so not deleted
    assert logs[-1]["counts"]["failed"] == 1


BAD_BODIES = [
    ("not json at all", 400, "not valid JSON"),
    ('["sendmessage", "hi"]', 400, "not an object"),
    ('{"action": "sendmessage"}', 400, '"message" is missing'),
    ('{"action": "sendmessage", "message": ""}', 400, '"message" is empty'),
    ('{"action": "sendmessage", "message": 42}', 400, "must be a string"),
    (
        json.dumps({"action": "sendmessage", "message": "x" * MAX_PAYLOAD_BYTES}),
        413,
        "128 KB",
    ),
]


@pytest.mark.parametrize(("body", "status", "says"), BAD_BODIES)
def test_bad_input_gets_an_error_frame_and_a_4xx(events, standin, abcd, body, status, says):
    event = events.message(abcd["A"], body, route_key="sendmessage")
    response = room.handler(event, None)
    assert response["statusCode"] == status
    (frame,) = standin.frames(abcd["A"])
    assert frame["type"] == "error" and says in frame["message"]
    assert "Traceback" not in json.dumps(frame)
    assert texts(standin, abcd["B"]) == []


def test_a_sender_with_no_row_is_told_to_reconnect(events, standin):
    stranger = events.new_connection_id()
    standin.open(stranger)
    response = say(events, stranger, "hello?")
    assert response["statusCode"] == 403
    (frame,) = standin.frames(stranger)
    assert frame["error"] == "NotConnected" and "reconnect" in frame["message"]


def test_an_unexpected_error_is_logged_and_answered_without_detail(
    events, standin, abcd, monkeypatch, caplog
):
    def explode(self, room_id):
        raise ValueError("secret internal detail")

    monkeypatch.setattr(ConnectionStore, "room_member_ids", explode)
    with capture_invocation_logs() as logs:
        response = say(events, abcd["A"], "boom")
    assert response == {"statusCode": 500, "body": "Internal server error"}
    (frame,) = standin.frames(abcd["A"])
    assert frame["error"] == "InternalServerError"
    assert "secret" not in json.dumps(frame) and "Traceback" not in json.dumps(frame)
    assert logs[-1]["outcome"] == "error"
    assert "secret internal detail" in caplog.text  # the traceback goes to the log instead


def test_a_missing_table_setting_is_a_clear_500(events, monkeypatch):
    monkeypatch.delenv("CONNECTIONS_TABLE")
    response = connect.handler(events.connect("c", query={"roomId": "lobby"}), None)
    assert response["statusCode"] == 500
    assert "CONNECTIONS_TABLE is not set" in response["body"]


# -- $default ------------------------------------------------------------------------------
def test_default_answers_with_the_actions_and_the_callers_connection(events, standin, abcd):
    event = events.message(abcd["D"], {"action": "dance"})
    assert default.handler(event, None)["statusCode"] == 200
    (frame,) = standin.frames(abcd["D"])
    assert frame["type"] == "help" and frame["validActions"] == ["sendmessage"]
    assert frame["connection"]["roomId"] == "green"
    assert frame["connection"]["userId"] == "D"
    assert frame["connection"]["connectionId"] == abcd["D"]


def test_default_for_an_unregistered_caller_has_no_connection_info(events, standin):
    cid = events.new_connection_id()
    standin.open(cid)
    default.handler(events.message(cid, {"action": "dance"}), None)
    assert standin.frames(cid)[0]["connection"] is None


# -- logging ---------------------------------------------------------------------------------
def test_one_structured_log_line_per_invocation(events, standin):
    with capture_invocation_logs() as logs:
        cid = join(events, standin, "alice", "lobby")
        say(events, cid, "hi")
        disconnect.handler(events.disconnect(cid), LambdaContext(aws_request_id="req-1"))
    assert [line["route"] for line in logs] == ["$connect", "sendmessage", "$disconnect"]
    assert all(line["connectionId"] == cid for line in logs)
    assert [line["outcome"] for line in logs] == ["ok", "ok", "ok"]
    assert logs[1]["counts"]["delivered"] == 1
    assert logs[2]["requestId"] == "req-1"
    assert all(isinstance(line["durationMs"], float) for line in logs)


def test_rejections_are_logged_as_rejected(events):
    with capture_invocation_logs() as logs:
        connect.handler(events.connect("c", query={"roomId": "no spaces"}), None)
    assert logs[0]["outcome"] == "rejected" and logs[0]["status"] == 400


@pytest.mark.parametrize(
    ("body", "kind", "says"),
    [
        ("{broken", "error", "the frame is not valid JSON"),
        ("[1, 2]", "error", "the frame is JSON but not an object (got list)"),
        ('{"message": "hi"}', "help", '"action" is missing'),
        ('{"action": "dance"}', "help", 'unknown action "dance"'),
    ],
)
def test_default_tells_broken_json_apart_from_an_unknown_action(
    events, standin, handler_env, body, kind, says
):
    cid = events.new_connection_id()
    standin.open(cid)
    response = default.handler(events.message(cid, body), None)
    (frame,) = standin.frames(cid)
    assert (frame["type"], response["statusCode"]) == (kind, 400 if kind == "error" else 200)
    assert frame["message"].startswith(says)
