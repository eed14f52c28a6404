"""Fan-out: concurrent, bounded, and one failure never costs the others their message."""

from __future__ import annotations

import threading
import time

from chatlib import ConnectionGone, fan_out


def test_everyone_receives_once_even_when_listed_twice():
    received = []
    report = fan_out(
        ["a", "b", "a"], b"m", post=lambda cid, data: received.append(cid), forget=None
    )
    assert sorted(received) == ["a", "b"]
    assert report.counts() == {"delivered": 2, "gone": 0, "failed": 0}


def test_gone_connections_are_forgotten_and_the_rest_still_receive():
    received, forgotten = [], []

    def post(cid, data):
        if cid.startswith("gone"):
            raise ConnectionGone(cid)
        received.append(cid)

    report = fan_out(["a", "gone1", "b", "gone2"], b"m", post=post, forget=forgotten.append)
    assert sorted(received) == ["a", "b"]
    assert sorted(forgotten) == ["gone1", "gone2"]
    assert sorted(report.gone) == ["gone1", "gone2"]


def test_other_errors_are_counted_not_raised():
    def post(cid, data):
        if cid == "broken":
            raise RuntimeError("connection reset")

    report = fan_out(["a", "broken", "b"], b"m", post=post, forget=lambda cid: None)
    assert report.failed == ["broken"]
    assert sorted(report.delivered) == ["a", "b"]


def test_a_failing_delete_does_not_stop_the_fan_out():
    def post(cid, data):
        raise ConnectionGone(cid)

    def forget(cid):
        raise RuntimeError("throttled")

    report = fan_out(["x", "y"], b"m", post=post, forget=forget)
    assert sorted(report.gone) == ["x", "y"]


def test_posts_run_concurrently_but_never_above_the_bound():
    lock = threading.Lock()
    active = peak = 0

    def post(cid, data):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.02)
        with lock:
            active -= 1

    ids = [f"c{i}" for i in range(40)]
    report = fan_out(ids, b"m", post=post, forget=None, max_workers=8)
    assert len(report.delivered) == 40
    assert 2 <= peak <= 8


def test_nobody_to_send_to_is_an_empty_report():
    assert fan_out([], b"m", post=None, forget=None).counts() == {
        "delivered": 0,
        "gone": 0,
        "failed": 0,
    }


def test_the_default_pool_is_kept_between_invocations_so_connections_can_be():
    seen: list[set[int]] = [set(), set()]

    def recorder(round_):
        def post(cid, data):
            seen[round_].add(threading.get_ident())
            time.sleep(0.005)

        return post

    ids = [f"c{i}" for i in range(20)]
    fan_out(ids, b"m", post=recorder(0), forget=None)
    fan_out(ids, b"m", post=recorder(1), forget=None)
    pool_threads = [round_ - {threading.get_ident()} for round_ in seen]  # the caller posts too
    assert pool_threads[0] and pool_threads[0] & pool_threads[1], (
        "a warm invocation should reuse the fan-out threads"
    )
