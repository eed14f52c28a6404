"""Malformed input through the whole chain: every frame gets its documented answer, no frame
ever carries a traceback, nothing reaches the rest of the room, and the gateway keeps serving.

Documented answers (docs/local-gateway.md, chatlib.messages):
    error  not a JSON object (broken JSON, other JSON, binary, empty) -> $default's error frame
    help   a JSON object with a missing or unknown action -> $default's help frame
    error  action "sendmessage" with an unusable message -> an error frame with its reason
    close  a frame over 32 KB, a message over 128 KB (1009) or text that is not UTF-8 (1007)
    refuse a bad room or user at connect -> the handshake's HTTP status
"""

from __future__ import annotations

import json

import pytest
import websocket
from chat_deployments import deploy_test_chat
from gateway_helpers import close_code, refused_status

from chatlib import ChatClient

DEEP = "[" * 5000 + "]" * 5000


def send(action_frame: object) -> str:
    return action_frame if isinstance(action_frame, str) else json.dumps(action_frame)


# (frame, expected type of the answer, a phrase the answer must contain)
BAD_FRAMES = [
    ("hello", "error", "not valid JSON"),
    ("{", "error", "not valid JSON"),
    ("}", "error", "not valid JSON"),
    ("{'action': 'sendmessage'}", "error", "not valid JSON"),
    ('{"action": "sendmessage", "message": "hi"', "error", "not valid JSON"),
    ("null", "error", "JSON but not an object"),
    ("true", "error", "JSON but not an object"),
    ("42", "error", "JSON but not an object"),
    ('"sendmessage"', "error", "JSON but not an object"),
    ("[]", "error", "JSON but not an object"),
    ('["sendmessage", "hi"]', "error", "JSON but not an object"),
    ("{}", "help", '"action" is missing'),
    ({"action": None}, "help", '"action" is missing'),
    ({"action": ""}, "help", '"action" is missing'),
    ({"action": 5}, "help", "unknown action"),
    ({"action": ["sendmessage"]}, "help", "unknown action"),
    ({"action": {"name": "sendmessage"}}, "help", "unknown action"),
    ({"action": "SENDMESSAGE", "message": "hi"}, "help", "unknown action"),
    ({"action": " sendmessage", "message": "hi"}, "help", "unknown action"),
    ({"action": "$connect"}, "help", "unknown action"),
    ({"action": "$disconnect"}, "help", "unknown action"),
    ({"action": "$default"}, "help", "unknown action"),
    ({"action": "sendmessage\u0000", "message": "hi"}, "help", "unknown action"),
    ('{"action": "sendmessage", "n": ' + DEEP + "}", "error", "not valid JSON"),
    ({"action": "sendmessage"}, "error", '"message" is missing'),
    ({"action": "sendmessage", "message": None}, "error", '"message" is missing'),
    ({"action": "sendmessage", "message": ""}, "error", '"message" is empty'),
    ({"action": "sendmessage", "message": " \n\t "}, "error", '"message" is empty'),
    ({"action": "sendmessage", "message": 42}, "error", "must be a string, not int"),
    ({"action": "sendmessage", "message": 4.2}, "error", "must be a string, not float"),
    ({"action": "sendmessage", "message": True}, "error", "must be a string, not bool"),
    ({"action": "sendmessage", "message": []}, "error", "must be a string, not list"),
    ({"action": "sendmessage", "message": {"text": "hi"}}, "error", "not dict"),
    ({"action": "sendmessage", "message": ["a"] * 100}, "error", "not list"),
    ('{"action": "sendmessage", "message": "\\ud800"}', "error", "valid Unicode"),
    ('{"action": "sendmessage", "message": "hi", "x": NaN}', "error", "not valid JSON"),
]


@pytest.fixture(scope="module")
def chat(stack):
    url, _, _ = deploy_test_chat(stack)
    return url


def test_there_are_at_least_forty_malformed_inputs():
    # frames here, plus the closing, binary, oversized and handshake cases below
    assert len(BAD_FRAMES) + 4 + len(BAD_HANDSHAKES) >= 40


def test_each_malformed_frame_gets_its_documented_answer_and_nobody_else_hears(chat):
    sender = ChatClient.connect(chat, room_id="bad-input", user_id="fuzzer")
    bystander = ChatClient.connect(chat, room_id="bad-input", user_id="bystander")
    for frame, kind, phrase in BAD_FRAMES:
        sender.send_raw(send(frame))
        answer = sender.receive(timeout=10)
        assert answer["type"] == kind, (frame, answer)
        assert phrase in answer["message"], (frame, answer)
        assert "Traceback" not in json.dumps(answer)
    assert bystander.receive_all() == []
    sender.send("still working?")
    assert bystander.receive()["message"] == "still working?"
    sender.close()
    bystander.close()


def test_binary_frames_get_an_error_frame_saying_so(chat):
    client = ChatClient.connect(chat, room_id="bad-input", user_id="binary")
    client.ws.send_binary(b"\x00\x01\xfe\xff")
    answer = client.receive()
    assert answer["type"] == "error"
    assert answer["message"].startswith("binary frames are not understood")
    client.close()


def test_messages_up_to_the_frame_limit_are_delivered(chat):
    client = ChatClient.connect(chat, room_id="bad-input", user_id="big")
    envelope = len(json.dumps({"action": "sendmessage", "message": ""}, separators=(",", ":")))
    client.send("x" * (32 * 1024 - envelope))  # the largest single frame: fine
    assert client.receive()["type"] == "message"
    client.send("\U0001f600" * 8000)  # 32 KB of UTF-8 text in 8,000 characters: fine
    assert client.receive()["type"] == "message"
    client.close()


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("x" * (32 * 1024 + 1), 1009),  # one frame over 32 KB
        (b"\xff\xfe not utf-8", 1007),  # a text frame that is not UTF-8
    ],
)
def test_frames_the_gateway_cannot_take_close_the_connection(chat, payload, code):
    client = ChatClient.connect(chat, room_id="bad-input", user_id="closer")
    if isinstance(payload, bytes):
        client.ws.send(payload, opcode=websocket.ABNF.OPCODE_TEXT)
    else:
        client.ws.send(payload)
    assert close_code(client.ws) == code
    after = ChatClient.connect(chat, room_id="bad-input", user_id="after")  # still serving
    after.send("fine")
    assert after.receive()["message"] == "fine"
    after.close()


BAD_HANDSHAKES = [
    ("", 400),
    ("roomId=", 400),
    ("roomId=" + "r" * 65, 400),
    ("roomId=" + "r" * 5000, 400),
    ("roomId=a%20b", 400),
    ("roomId=%00", 400),
    ("roomId=%F0%9F%98%80", 400),
    ("roomId=lobby&userId=" + "u" * 65, 400),
    ("roomId=lobby&userId=%3Cscript%3E", 400),
    ("roomId=../etc", 400),
]


@pytest.mark.parametrize(("query", "status"), BAD_HANDSHAKES)
def test_bad_rooms_and_users_are_refused_at_the_handshake(chat, query, status):
    assert refused_status(chat, query) == status


def test_a_query_string_too_long_for_any_server_is_refused_not_fatal(chat):
    with pytest.raises(websocket.WebSocketException):
        websocket.create_connection(f"{chat}?roomId=lobby&pad={'p' * 20000}", timeout=10)
    client = ChatClient.connect(chat, room_id="bad-input", user_id="after-long-url")
    client.send("ok")
    assert client.receive()["message"] == "ok"
    client.close()
