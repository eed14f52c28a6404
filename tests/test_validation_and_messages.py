"""The pure chat rules: identifiers, the inbound body, the outbound frames and their size."""

from __future__ import annotations

import json

import pytest

from chatlib.errors import BadRequest, InvalidIdentifier, MessageTooLarge
from chatlib.limits import IDENTIFIER_MAX_LENGTH, MAX_PAYLOAD_BYTES
from chatlib.messages import chat_frame, encode_frame, help_frame, parse_send_request
from chatlib.validation import validate_room_id, validate_user_id


@pytest.mark.parametrize("room", ["lobby", "room-1", "A_b-9", "x" * IDENTIFIER_MAX_LENGTH])
def test_valid_room_ids_pass_unchanged(room):
    assert validate_room_id(room) == room


@pytest.mark.parametrize(
    ("room", "says"),
    [
        (None, "roomId is required"),
        ("", "roomId is required"),
        ("x" * (IDENTIFIER_MAX_LENGTH + 1), "the limit is 64"),
        ("lobby/../admin", "not allowed"),
        ("room 1", "not allowed"),
        ("ロビー", "not allowed"),
        ("a\nb", "not allowed"),
        (["lobby"], "must be a string"),
    ],
)
def test_bad_room_ids_are_refused_with_a_reason(room, says):
    with pytest.raises(InvalidIdentifier) as caught:
        validate_room_id(room)
    assert says in caught.value.message
    assert caught.value.status == 400


def test_user_ids_follow_the_same_rule():
    assert validate_user_id("alice") == "alice"
    with pytest.raises(InvalidIdentifier, match="userId"):
        validate_user_id("<script>")


def test_a_well_formed_body_yields_its_message():
    body = json.dumps({"action": "sendmessage", "message": "hello"})
    assert parse_send_request(body) == "hello"


def test_a_room_in_the_body_is_not_part_of_what_is_parsed():
    body = json.dumps({"action": "sendmessage", "message": "hi", "roomId": "other", "sender": "x"})
    assert parse_send_request(body) == "hi"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (None, "empty frame"),
        ("", "empty frame"),
        ("hello", "not valid JSON"),
        ("{'message': 1}", "not valid JSON"),
        ("[1, 2]", "not an object (got list)"),
        ('"just a string"', "not an object (got str)"),
        ("42", "not an object (got int)"),
        ("null", "not an object (got NoneType)"),
        ('{"action": "sendmessage"}', '"message" is missing'),
        ('{"action": "sendmessage", "message": 5}', "must be a string, not int"),
        ('{"action": "sendmessage", "message": {"text": "hi"}}', "must be a string, not dict"),
        ('{"action": "sendmessage", "message": ""}', '"message" is empty'),
        ('{"action": "sendmessage", "message": "   "}', '"message" is empty'),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
        ('{"message": "\\udc00 lone surrogate"}', "valid Unicode"),
    ],
)
def test_bad_bodies_are_refused_with_a_reason(body, says):
    with pytest.raises(BadRequest) as caught:
        parse_send_request(body)
    assert says in caught.value.message
    assert caught.value.status == 400


def test_frames_are_compact_utf8_json():
    frame = chat_frame(sender="alice", room_id="lobby", message="こんにちは", sent_at_ms=1)
    data = encode_frame(frame)
    assert json.loads(data) == {
        "type": "message",
        "sender": "alice",
        "roomId": "lobby",
        "message": "こんにちは",
        "sentAt": 1,
    }
    assert "こんにちは".encode() in data


def test_a_frame_over_128_kb_is_refused_with_413():
    fits = chat_frame(sender="a", room_id="r", message="", sent_at_ms=1)
    overhead = len(encode_frame(fits))
    exactly = chat_frame(
        sender="a", room_id="r", message="x" * (MAX_PAYLOAD_BYTES - overhead), sent_at_ms=1
    )
    assert len(encode_frame(exactly)) == MAX_PAYLOAD_BYTES
    one_more = dict(exactly, message=exactly["message"] + "x")
    with pytest.raises(MessageTooLarge) as caught:
        encode_frame(one_more)
    assert caught.value.status == 413
    assert "131073-byte frame" in caught.value.message


def test_multibyte_characters_count_as_bytes_not_characters():
    message = "あ" * (MAX_PAYLOAD_BYTES // 3)  # fewer than 128 K characters, more bytes
    with pytest.raises(MessageTooLarge):
        encode_frame(chat_frame(sender="a", room_id="r", message=message, sent_at_ms=1))


def test_help_frame_names_the_actions_and_the_caller():
    frame = help_frame({"connectionId": "c", "roomId": "r", "userId": "u", "connectedAt": 1})
    assert frame["validActions"] == ["sendmessage"]
    assert frame["example"] == {"action": "sendmessage", "message": "hello"}
    assert frame["connection"]["roomId"] == "r"
