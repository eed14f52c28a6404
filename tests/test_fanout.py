"""Fan-out: every id posted once, and one failure never costs the others their message."""

from __future__ import annotations

from chatlib import ConnectionGone, fan_out
from chatlib.errors import ConnectionsApiError


def outcomes_by_id(**special: Exception):
    """A ``post_to_all`` recording what it was asked; ids named in ``special`` fail so."""
    asked: list[list[str]] = []

    def post_to_all(ids, data):
        asked.append(list(ids))
        return {cid: special.get(cid) for cid in ids}

    return post_to_all, asked


def test_everyone_is_posted_to_once_even_when_listed_twice():
    post_to_all, asked = outcomes_by_id()
    report = fan_out(["a", "b", "a"], b"m", post_to_all=post_to_all, forget=None)
    assert asked == [["a", "b"]]  # one call: the posts go out together
    assert report.counts() == {"delivered": 2, "gone": 0, "failed": 0}


def test_gone_connections_are_forgotten_and_the_rest_still_receive():
    forgotten = []
    post_to_all, _ = outcomes_by_id(gone1=ConnectionGone("gone1"), gone2=ConnectionGone("gone2"))
    report = fan_out(
        ["a", "gone1", "b", "gone2"], b"m", post_to_all=post_to_all, forget=forgotten.append
    )
    assert report.delivered == ["a", "b"]
    assert forgotten == report.gone == ["gone1", "gone2"]


def test_other_errors_are_counted_not_raised_and_not_forgotten():
    forgotten = []
    post_to_all, _ = outcomes_by_id(
        broken=ConnectionResetError("reset"), refused=ConnectionsApiError("refused", 403, "x")
    )
    report = fan_out(
        ["a", "broken", "refused", "b"], b"m", post_to_all=post_to_all, forget=forgotten.append
    )
    assert report.failed == ["broken", "refused"]
    assert report.delivered == ["a", "b"]
    assert forgotten == []


def test_a_failing_delete_does_not_stop_the_others():
    attempts = []

    def forget(cid):
        attempts.append(cid)
        raise RuntimeError("throttled")

    post_to_all, _ = outcomes_by_id(x=ConnectionGone("x"), y=ConnectionGone("y"))
    report = fan_out(["x", "y"], b"m", post_to_all=post_to_all, forget=forget)
    assert report.gone == attempts == ["x", "y"]


def test_nobody_to_send_to_is_an_empty_report_and_no_call():
    post_to_all, asked = outcomes_by_id()
    assert fan_out([], b"m", post_to_all=post_to_all, forget=None).counts() == {
        "delivered": 0,
        "gone": 0,
        "failed": 0,
    }
    assert asked == []
