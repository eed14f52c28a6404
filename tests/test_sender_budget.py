"""The sender's worst case fits inside the function that runs it (issue 23, item 7).

Before: up to 5 s per attempt, 3 attempts and up to 3 s of backoff, about 18 s, inside a
function with a 10 s timeout: Lambda could stop ``sendmessage`` halfway through a fan-out.
Now a delivery has a time budget. The figures are computed, not timed: a fake clock moves
only when the sender sleeps (its backoff) or when a test moves it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from chatlib import sender as sender_module
from chatlib.deploy import CHAT_TEMPLATE, load_template
from chatlib.deploy.template import Resolver
from chatlib.errors import ConnectionsApiError
from chatlib.http_window import HttpWindow, Request
from chatlib.limits import SEND_BUDGET_SECONDS
from chatlib.sender import (
    MAX_ATTEMPTS,
    TIMEOUT_SECONDS,
    ConnectionsSender,
    backoff_delay,
    worst_case_seconds,
)

#: What the handler does besides delivering: read the sender's row (and at the rooms step,
#: Query the room), delete rows of gone connections, answer API Gateway.
ROOM_TO_ANSWER_SECONDS = 2.0
#: The functions that deliver frames through the sender.
SENDERS = ("SendMessageFunction", "DefaultFunction")


@pytest.mark.parametrize("step", ["broadcast", "rooms", "auth"])
def test_the_worst_case_leaves_room_to_answer_within_the_functions_timeout(step):
    template = load_template(CHAT_TEMPLATE)
    resources = Resolver(template, {"CodeBucket": "b", "CodeKey": "k", "Step": step}).resources()
    for logical_id in SENDERS:
        timeout = float(resources[logical_id]["Properties"]["Timeout"])
        assert worst_case_seconds() + ROOM_TO_ANSWER_SECONDS <= timeout, logical_id
    # the old settings would not have fitted: 3 attempts of 5 s, waits of up to 1 s and 2 s
    assert 3 * 5.0 + 1 + 2 + ROOM_TO_ANSWER_SECONDS > timeout


def test_the_worst_case_is_the_budget_plus_one_step_under_way():
    assert worst_case_seconds() == SEND_BUDGET_SECONDS + 2 * TIMEOUT_SECONDS
    assert worst_case_seconds(budget=1.0, timeout=0.5) == 2.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def most_jitter(monkeypatch):
    """Each backoff waits 90 % of its cap: 0.9 s, then 1.8 s."""
    monkeypatch.setattr(
        sender_module, "backoff_delay", lambda retry: backoff_delay(retry, rng=lambda: 0.9)
    )


def sender_for(standin, clock: FakeClock, budget: float) -> ConnectionsSender:
    standin.open("c1")
    return ConnectionsSender(standin.url, sleep=clock.sleep, clock=clock, budget=budget)


def test_with_time_left_every_attempt_is_made(standin, embedded_aws, clock, most_jitter):
    standin.inject_errors(503, 503, 503)
    with pytest.raises(ConnectionsApiError):
        sender_for(standin, clock, budget=SEND_BUDGET_SECONDS).post("c1", b'"x"')
    assert len(standin.answers) == MAX_ATTEMPTS and clock.waits == [0.9, 1.8]


def test_no_retry_is_waited_for_past_the_budget(standin, embedded_aws, clock, most_jitter):
    """2 s of budget: the first wait (0.9 s) fits, the second (1.8 s more) would not."""
    standin.inject_errors(503, 503, 503)
    with pytest.raises(ConnectionsApiError) as caught:
        sender_for(standin, clock, budget=2.0).post("c1", b'"x"')
    assert caught.value.status == 503  # the last answer stands
    assert len(standin.answers) == 2 and clock.waits == [0.9]
    assert clock.now - 1000.0 <= 2.0


def test_a_budget_spent_before_the_first_post_sends_nothing(standin, embedded_aws, clock):
    sender = sender_for(standin, clock, budget=0.0)
    outcomes = sender.post_to_all(["c1", "c2"], b'"x"')
    assert all(isinstance(outcome, TimeoutError) for outcome in outcomes.values())
    assert standin.answers == [] and standin.frames("c1") == []


def test_the_window_sends_nothing_after_its_deadline_and_says_so(standin, embedded_aws):
    standin.open("a")
    parts = urlsplit(standin.url)
    window = HttpWindow("http", parts.hostname, parts.port, window=2, timeout=TIMEOUT_SECONDS)
    sent: list[str] = []

    def build(key: str) -> Request:
        sent.append(key)
        return Request("POST", f"{parts.path}/@connections/{key}", b"x", {})

    answers = window.exchange(["a", "b", "c"], build, deadline=5.0, clock=lambda: 5.0)
    assert sent == [] and set(answers) == {"a", "b", "c"}
    assert all("time budget" in str(answer) for answer in answers.values())
    live = window.exchange(["a"], build, deadline=None)  # no deadline: as before
    assert sent == ["a"] and live["a"].status == 200  # the stand-in does not check signatures
