"""Notebook 01's exercise check (``chatlib/course/nb01.py``): the solution passes, and each
plausible mistake fails with a hint, judged by what the function sent, not what it returned."""

from __future__ import annotations

import functools
import operator
import time

import boto3
import pytest
from boto3.dynamodb.conditions import Attr, Key

from chatlib.course import nb01

RECENT_INDEX = {
    "IndexName": "roomId-connectedAt-index",
    "KeySchema": [
        {"AttributeName": "roomId", "KeyType": "HASH"},
        {"AttributeName": "connectedAt", "KeyType": "RANGE"},
    ],
    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["ttl"]},
}


def query_pages(
    table,
    room_id,
    since_ms,
    *,
    index="roomId-connectedAt-index",
    time_in_the_key=True,
    ttl_filter=True,
    projection="connectionId",
    follow=True,
):
    """The solution's paginated Query, each part of which a mistake below turns off."""
    key, filters = Key("roomId").eq(room_id), []
    if time_in_the_key:
        key &= Key("connectedAt").gt(since_ms)
    else:
        filters.append(Attr("connectedAt").gt(since_ms))
    if ttl_filter:
        filters.append(Attr("ttl").gt(int(time.time())))
    request = {"IndexName": index, "KeyConditionExpression": key}
    if filters:
        request["FilterExpression"] = functools.reduce(operator.and_, filters)
    if projection:
        request["ProjectionExpression"] = projection
    ids, page = [], {}
    while True:
        result = table.query(**request, **page)
        ids += [item["connectionId"] for item in result["Items"]]
        if not follow or "LastEvaluatedKey" not in result:
            return ids
        page = {"ExclusiveStartKey": result["LastEvaluatedKey"]}


def mistake(name, **changes):
    answer = functools.partial(query_pages, **changes)
    answer.__name__ = name
    return answer


solution = mistake("solution")


def scan(table, room_id, since_ms):
    items = table.scan(
        FilterExpression=Attr("roomId").eq(room_id)
        & Attr("connectedAt").gt(since_ms)
        & Attr("ttl").gt(int(time.time()))
    )["Items"]
    return {item["connectionId"] for item in items}


def another_client(table, room_id, since_ms):
    return solution(boto3.resource("dynamodb").Table(table.name), room_id, since_ms)


@pytest.fixture(autouse=True)
def _aws(embedded_aws):
    yield


def test_the_solution_passes():
    verdict = nb01.check_joined_since(solution, RECENT_INDEX)
    assert verdict.startswith("Correct!"), verdict
    assert "5 items read in 3 pages" in verdict


def never_moves_on(table, room_id, since_ms):
    """The scaffold's loop with its last TODO left out: it asks for the first page forever."""
    while True:
        result = table.query(
            IndexName="roomId-connectedAt-index",
            KeyConditionExpression=Key("roomId").eq(room_id) & Key("connectedAt").gt(since_ms),
        )
        if "LastEvaluatedKey" not in result:
            return [item["connectionId"] for item in result["Items"]]


def test_an_untouched_exercise_is_not_answered_yet():
    assert nb01.check_joined_since(solution, None).startswith("Not answered yet")
    scaffold = {**RECENT_INDEX, "KeySchema": None, "Projection": None}
    assert nb01.check_joined_since(never_moves_on, scaffold).startswith("Not answered yet")
    untouched = nb01.check_joined_since(lambda table, room, since: None, RECENT_INDEX)
    assert untouched.startswith("Not answered yet")


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (scan, "sent a Scan"),
        (mistake("first_page_only", follow=False), "LastEvaluatedKey"),
        (mistake("time_in_the_filter", time_in_the_key=False), "not in a filter"),
        (mistake("old_index", index="roomId-index", time_in_the_key=False), "query roomId-conn"),
        (mistake("expired_rows_kept", ttl_filter=False), "expired row"),
        (mistake("whole_items", projection=None), "ProjectionExpression"),
        (another_client, "no Query went through the table passed in"),
        (never_moves_on, "ExclusiveStartKey for the next page"),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_each_mistake_fails_with_its_hint(answer, hint):
    verdict = nb01.check_joined_since(answer, RECENT_INDEX)
    assert verdict.startswith("Not quite"), verdict
    assert hint in verdict, verdict


@pytest.mark.parametrize(
    ("index", "hint"),
    [
        ({**RECENT_INDEX, "KeySchema": RECENT_INDEX["KeySchema"][:1]}, "sort key"),
        ({**RECENT_INDEX, "Projection": {"ProjectionType": "KEYS_ONLY"}}, "project it"),
        ({**RECENT_INDEX, "IndexName": "recent"}, "name the index"),
        ({**RECENT_INDEX, "Projection": {"ProjectionType": "ALL"}}, "project only ttl"),
    ],
    ids=["no-sort-key", "ttl-not-projected", "other-name", "everything-projected"],
)
def test_an_index_that_cannot_serve_the_pattern_fails(index, hint):
    verdict = nb01.check_joined_since(solution, index)
    assert verdict.startswith("Not quite") and hint in verdict, verdict


def test_the_check_can_be_run_again():
    for _ in range(2):
        assert nb01.check_joined_since(solution, RECENT_INDEX).startswith("Correct!")
