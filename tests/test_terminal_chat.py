"""The terminal chat, used as a person would: each client in its own pseudo-terminal."""

from __future__ import annotations

import json
import sys

import pexpect
import pytest
from chat_deployments import deploy_test_chat

from chatlib.tools.terminal_chat import describe_frame


@pytest.fixture(scope="module")
def chat_url(stack):
    url, _, _ = deploy_test_chat(stack)
    return url


def terminal(url, *arguments):
    child = pexpect.spawn(
        sys.executable,
        ["-m", "chatlib.tools", "chat", url, *arguments],
        encoding="utf-8",
        timeout=20,
    )
    return child


def test_two_people_in_a_room_see_each_other_and_a_third_elsewhere_sees_nothing(chat_url):
    alice = terminal(chat_url, "--room", "blue", "--user", "alice")
    bob = terminal(chat_url, "--room", "blue", "--user", "bob")
    carol = terminal(chat_url, "--room", "green", "--user", "carol")
    for person in (alice, bob, carol):
        person.expect("connected to room")
    alice.sendline("good morning, blue")
    bob.expect(r"\[blue\] alice: good morning, blue")
    alice.expect(r"\[blue\] alice: good morning, blue")  # the server's acknowledgement
    bob.sendline("morning!")
    alice.expect(r"\[blue\] bob: morning!")
    assert carol.expect([r"alice: good morning", r"bob: morning", pexpect.TIMEOUT], timeout=2) == 2
    for person in (alice, bob, carol):
        person.sendeof()  # Ctrl-D
        person.expect("bye")
        person.expect(pexpect.EOF)
        person.close()
        assert person.exitstatus == 0


def test_raw_frames_show_routes_and_errors(chat_url):
    dave = terminal(chat_url, "--room", "lab", "--user", "dave")
    dave.expect("connected to room")
    dave.sendline('/raw {"action": "dance"}')
    dave.expect(
        r'\? unknown action "dance": use one of the valid actions; valid actions: sendmessage'
    )
    dave.sendline('/raw {"action": "sendmessage", "message": 42}')
    dave.expect(r"! BadRequest: \"message\" must be a string, not int")
    dave.sendline("/raw {broken")
    dave.expect(r"! BadRequest: the frame is not valid JSON")
    dave.sendline("/quit")
    dave.expect("bye")
    assert "closed the connection" not in dave.before
    dave.expect(pexpect.EOF)
    dave.close()
    assert dave.exitstatus == 0


def test_help_and_a_bare_raw_are_answered_here_and_never_sent(chat_url):
    erin = terminal(chat_url, "--room", "quiet", "--user", "erin")
    listener = terminal(chat_url, "--room", "quiet", "--user", "listener")
    erin.expect("connected to room")
    listener.expect("connected to room")
    erin.sendline("/help")
    erin.expect(r"/raw \{json\} +send any frame")
    erin.sendline("/raw")
    erin.expect(r"usage: /raw \{json\}")
    erin.sendline("/dance")
    erin.expect("unknown command /dance")
    erin.sendline("now a real message")
    listener.expect(r"\[quiet\] erin: now a real message")
    assert "erin: /" not in listener.before  # nothing but the real message reached the room
    for person in (erin, listener):
        person.sendline("/quit")
        person.expect(pexpect.EOF)


def test_a_refused_connection_is_explained(chat_url):
    eve = terminal(chat_url, "--room", "not a room", "--user", "eve")
    eve.expect(r"could not connect: the server answered HTTP 400 \(bad request")
    eve.expect(pexpect.EOF)
    eve.close()
    assert eve.exitstatus == 1


def test_nothing_listening_is_explained():
    nobody = terminal("ws://127.0.0.1:9/nothing/dev", "--room", "r", "--user", "u")
    nobody.expect(r"could not connect to ws://127\.0\.0\.1:9/nothing/dev")
    nobody.expect(pexpect.EOF)


def test_ctrl_c_leaves_cleanly(chat_url):
    frank = terminal(chat_url, "--room", "r", "--user", "frank")
    frank.expect("connected to room")
    frank.sendintr()
    frank.expect("bye")
    frank.expect(pexpect.EOF)


def test_frames_are_described_for_people():
    assert describe_frame({"type": "message", "roomId": "r", "sender": "a", "message": "hi"}) == (
        "[r] a: hi"
    )
    assert describe_frame({"message": "Forbidden", "connectionId": "x"}).startswith("<< {")
    assert describe_frame("plain text") == "<< plain text"
    assert json.loads(describe_frame({"a": 1})[3:]) == {"a": 1}


def test_the_rooms_view_renders_rooms_counts_and_people():
    from chatlib.tools.room_view import render_rooms

    assert render_rooms({}) == "no one is connected"
    assert render_rooms({"blue": ["alice", "bob"], "lab": ["dave"]}) == (
        "blue  (2)  alice, bob\nlab   (1)  dave\n3 connections in 2 rooms"
    )


def test_the_rooms_view_reads_live_rows_only(store):
    import time as clock

    from chatlib import Connection
    from chatlib.tools.room_view import rooms_snapshot

    now = int(clock.time() * 1000)
    store.put(Connection.opened("a", "blue", "alice", now))
    store.put(Connection.opened("b", "blue", "bob", now))
    store.put(Connection("old", "green", "ghost", connected_at=0, ttl=1))
    assert rooms_snapshot(store) == {"blue": ["alice", "bob"]}
