"""Isolation and delivery, property-based: random interleavings of connect, send, close and
abrupt drop across rooms, checked against a model after every step.

The model: a message reaches every live member of the sender's room (the sender included)
exactly once, and nobody else. Hypothesis generates the interleavings (derandomized, so CI
runs the same ones every time); the test asserts at least 1,000 steps were executed.
"""

from __future__ import annotations

import select

import pytest
from chat_deployments import deploy_test_chat
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from chatlib import ChatClient

ROOMS = ["red", "green", "blue"]
MIN_STEPS = 1000


def frames_waiting(client: ChatClient) -> list[object]:
    """Data frames already delivered to the client's socket, without waiting for more."""
    found = []
    while select.select([client.ws.sock], [], [], 0)[0]:
        frame = client.read_arriving()
        if frame is not None:
            found.append(frame)
    return found


class ChatModel(RuleBasedStateMachine):
    url: str = ""
    stack = None
    steps = 0

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[str, ChatClient] = {}
        self.serial = 0

    def _next(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial}"

    def _step(self) -> None:
        type(self).steps += 1

    @rule(room=st.sampled_from(ROOMS))
    def connect(self, room: str) -> None:
        name = self._next("u")
        self.live[name] = ChatClient.connect(self.url, room_id=room, user_id=name)
        self._step()

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def send(self, data: st.DataObject) -> None:
        sender = self.live[data.draw(st.sampled_from(sorted(self.live)))]
        message = self._next("m")
        sender.send(message)
        room = {name for name, c in self.live.items() if c.room_id == sender.room_id}
        for name in sorted(room):
            frame = self.live[name].receive(timeout=10)
            assert frame["message"] == message, (name, frame)
            assert frame["roomId"] == sender.room_id and frame["sender"] == sender.user_id
        self.stack.wait_until_idle(settle=0.005)  # the fan-out has finished posting
        extra = {name: frames_waiting(c) for name, c in self.live.items()}
        assert not any(extra.values()), f"duplicated or leaked frames: {extra}"
        self._step()

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def close(self, data: st.DataObject) -> None:
        self.live.pop(data.draw(st.sampled_from(sorted(self.live)))).close()
        self._step()

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        self.live.pop(data.draw(st.sampled_from(sorted(self.live)))).vanish()
        self._step()

    def teardown(self) -> None:
        for client in self.live.values():
            client.close()


@pytest.fixture(scope="module")
def chat_url(stack):
    url, _, _ = deploy_test_chat(stack)
    return url


def test_every_live_member_gets_each_message_once_and_no_one_else_does(stack, chat_url):
    ChatModel.url, ChatModel.stack, ChatModel.steps = chat_url, stack, 0
    run_state_machine_as_test(
        ChatModel,
        settings=settings(
            max_examples=40,
            stateful_step_count=40,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    assert ChatModel.steps >= MIN_STEPS, f"only {ChatModel.steps} steps ran"
