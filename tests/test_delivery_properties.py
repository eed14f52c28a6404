"""Isolation and delivery, property-based: random interleavings of connect, send, close and
abrupt drop across rooms, checked against a model after every step.

The model: a message reaches every live member of the sender's room (the sender included)
exactly once, and nobody else. Hypothesis generates the interleavings (derandomized, so CI
runs the same ones every time); the test asserts at least 1,000 steps were executed.

It runs twice: on the single-invocation fan-out, and on the sharded one (``FanOut=sharded``,
deployed from the template, with pages of two so that a room of three already goes through
the queue, Lambda's poller and the worker).
"""

from __future__ import annotations

import select
import time

import boto3
import pytest
from chat_deployments import deploy_test_chat
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from chatlib import ChatClient, Connection, ConnectionStore
from chatlib.deploy import CHAT_TEMPLATE, deploy_stack, teardown_stack
from chatlib.handlers.page_queue import PAGE_SIZE_VARIABLE

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


SHARDED = "props-sharded"


@pytest.fixture(scope="module")
def sharded_chat(stack):
    """The template deployed with ``FanOut=sharded``; sendmessage's pages then hold two ids."""
    quiet = {"progress": lambda _: None}
    result = deploy_stack(
        CHAT_TEMPLATE, stack_name=SHARDED, parameters={"FanOut": "sharded"}, **quiet
    )
    lambda_client = boto3.client("lambda")
    sender = f"{SHARDED}-sendmessage"
    variables = lambda_client.get_function_configuration(FunctionName=sender)["Environment"]
    lambda_client.update_function_configuration(
        FunctionName=sender,
        Environment={"Variables": {**variables["Variables"], PAGE_SIZE_VARIABLE: "2"}},
    )
    stack.refresh()
    yield stack.local_url(result.outputs["WebSocketUrl"]), result.outputs["TableName"]
    teardown_stack(SHARDED, **quiet)


@pytest.fixture(scope="module", params=["single", "sharded"])
def chat(request, stack):
    """The chat's URL, and its fan-out worker (``None``: no worker, the sender posts all)."""
    if request.param == "sharded":
        return request.getfixturevalue("sharded_chat")[0], f"{SHARDED}-fanout"
    url, _, _ = deploy_test_chat(stack)
    return url, None


def test_every_live_member_gets_each_message_once_and_no_one_else_does(stack, chat):
    url, worker = chat
    ChatModel.url, ChatModel.stack, ChatModel.steps = url, stack, 0
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
    if worker:  # the pages really went through the queue, and every one was posted
        pages = stack.invocations(worker)
        assert len(pages) >= 20 and {line["outcome"] for line in pages} == {"ok"}


def test_the_workers_forget_rows_whose_connections_are_gone(stack, sharded_chat):
    """Rows left by clients that vanished without ``$disconnect``: with pages of two, all
    but one of them are in queued pages, so only the workers' 410s can delete those."""
    url, table = sharded_chat
    store = ConnectionStore(table)
    stale = [f"stale{n}AAAAAAAA=" for n in range(5)]
    for connection_id in stale:
        store.put(Connection.opened(connection_id, "attic", "ghost", int(time.time() * 1000)))
    stack.wait_until_idle()
    before = len(stack.invocations(f"{SHARDED}-fanout"))
    sender = ChatClient.connect(url, room_id="attic", user_id="alive")
    try:
        sender.send("anyone?")
        assert sender.receive(timeout=10)["message"] == "anyone?"
        stack.wait_until_idle()
    finally:
        sender.close()
    assert [store.get(connection_id) for connection_id in stale] == [None] * 5
    pages = stack.invocations(f"{SHARDED}-fanout")[before:]
    # six members: the sender's own page (itself and one stale row), then two queued pages
    assert len(pages) == 2 and {line["outcome"] for line in pages} == {"ok"}
    assert sum(line["counts"]["gone"] for line in pages) == 4
