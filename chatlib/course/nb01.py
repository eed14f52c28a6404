"""Notebook 01's exercise check: a new access pattern, served by an index the learner designs.

The exercise asks for "who joined room *r* after time *t*?" (say, to greet newcomers). The
learner gives two things: ``RECENT_INDEX``, the global secondary index that serves it (room as
partition key, ``connectedAt`` as sort key, so that "after *t*" is a key condition), and
``joined_since(table, room_id, since_ms)``, a paginated Query on that index that asks only for
``connectionId`` and leaves out expired rows.

How the check tells a Query from a Scan, and a key condition from a filter: it creates a table
of its own with the learner's index, fills it, and hands ``joined_since`` a boto3 ``Table``
whose client it watches through botocore's events (``before-parameter-build`` and
``after-call``). Every operation the function sends through that table is recorded with the
index it named and what DynamoDB says it read (``ScannedCount``), so a Scan, a Query on the
wrong index, or a filter doing a key condition's work all show, whatever the function returns.
And so that pagination shows with a handful of rows, the check asks for pages of
:data:`PAGE_ITEMS` items (``Limit``), as a 1 MB page would in a large room; a loop that keeps
asking for the same page is stopped after :data:`MAX_CALLS` calls and told why.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import boto3

from chatlib.table import TTL_ATTRIBUTE, table_definition

__all__ = [
    "CHECK_TABLE",
    "INDEX_NAME",
    "MAX_CALLS",
    "PAGE_ITEMS",
    "check_joined_since",
    "raised_problem",
    "watch_calls",
]

#: The table the check creates (and deletes first, so the check can be run again).
CHECK_TABLE = "chat-recent-check"
#: The index name the exercise asks for.
INDEX_NAME = "roomId-connectedAt-index"
#: Items per page the check asks DynamoDB for, to make several pages out of a few rows.
PAGE_ITEMS = 2
#: Calls after which a loop that never moves on to the next page is stopped.
MAX_CALLS = 50

_SINCE_MS = 1_700_000_300_000  # "five minutes ago" in the check's made-up clock
# (connection id, room, connectedAt relative to _SINCE_MS in seconds, expired?)
_ROWS = [
    ("c-alice", "blue", -600, False),
    ("c-bob", "blue", -420, False),
    ("c-carol", "blue", -1, False),
    ("c-dave", "blue", 10, False),
    ("c-erin", "blue", 60, False),
    ("c-ghost", "blue", 90, True),  # joined recently, but its row has expired
    ("c-frank", "blue", 120, False),
    ("c-gina", "blue", 240, False),
    ("c-hank", "green", 30, False),
]
_EXPECTED = {"c-dave", "c-erin", "c-frank", "c-gina"}
_READ_BY_A_KEY_CONDITION = 5  # the four above and the expired row: what the key selects


def check_joined_since(
    joined_since: Callable[[Any, str, int], Iterable[str] | None], recent_index: Any
) -> str:
    """Run the learner's ``joined_since`` on a table with their ``recent_index``; one sentence.

    ``joined_since(table, room_id, since_ms)`` must return the connection ids of ``room_id``
    whose ``connectedAt`` (ms) is after ``since_ms`` and whose ``ttl`` has not passed.
    """
    if recent_index is None or _has_gaps(recent_index):
        return "Not answered yet: fill in the TODO lines above, then run both cells."
    wrong_design = _design_problem(recent_index)
    if wrong_design:
        return f"Not quite: {wrong_design}"
    table = _fresh_table(recent_index)
    sent: list[dict[str, Any]] = []
    watch_calls(table, sent)
    try:
        got = joined_since(table, "blue", _SINCE_MS)
    except Exception as error:  # the learner's code: any failure is a finding
        return f"Not quite: {raised_problem('joined_since', error, sent)}"
    if got is None:
        return "Not answered yet: joined_since returns None; complete it and run both cells."
    got = {str(connection_id) for connection_id in got}
    return _verdict(got, sent)


def raised_problem(name: str, error: Exception, sent: list[dict[str, Any]]) -> str:
    """What to tell a learner whose function raised ``error`` after sending ``sent``."""
    if len(sent) >= MAX_CALLS:
        return (
            f"{name} sent {MAX_CALLS} calls without getting further; pass "
            "result['LastEvaluatedKey'] back as ExclusiveStartKey for the next page."
        )
    return f"{name} raised {type(error).__name__}: {error}"


def _has_gaps(index: Any) -> bool:
    """Whether the scaffold's ``None`` placeholders are still in ``RECENT_INDEX``."""
    return isinstance(index, dict) and None in (index.get("KeySchema"), index.get("Projection"))


def _design_problem(index: Any) -> str | None:
    if not isinstance(index, dict):
        return "RECENT_INDEX should be a dict, as one entry of GlobalSecondaryIndexes."
    if index.get("IndexName") != INDEX_NAME:
        return f"name the index {INDEX_NAME!r} (got {index.get('IndexName')!r})."
    keys = [(k.get("AttributeName"), k.get("KeyType")) for k in index.get("KeySchema", [])]
    if keys != [("roomId", "HASH"), ("connectedAt", "RANGE")]:
        return (
            f"the index's keys are {keys}; a range condition ('after t') works only on a sort "
            "key: roomId as HASH, connectedAt as RANGE."
        )
    projection = index.get("Projection", {})
    kind = projection.get("ProjectionType")
    if kind == "KEYS_ONLY" or (
        kind == "INCLUDE" and TTL_ATTRIBUTE not in projection.get("NonKeyAttributes", [])
    ):
        return (
            "the index does not hold ttl, so a filter on it sees nothing: project it "
            '({"ProjectionType": "INCLUDE", "NonKeyAttributes": ["ttl"]}).'
        )
    if kind == "ALL":
        return (
            "ALL copies every attribute of every row into the index, and a Query on it is "
            'billed by the size of those copies; project only ttl ("INCLUDE").'
        )
    if kind != "INCLUDE":
        return f"Projection must say ALL, INCLUDE or KEYS_ONLY (got {projection!r})."
    return None


def _fresh_table(index: dict[str, Any]) -> Any:
    """The connection table as notebook 01 made it, plus the learner's index, filled."""
    client = boto3.client("dynamodb")
    if CHECK_TABLE in client.list_tables()["TableNames"]:
        client.delete_table(TableName=CHECK_TABLE)
    request = table_definition(CHECK_TABLE)
    request["AttributeDefinitions"].append({"AttributeName": "connectedAt", "AttributeType": "N"})
    request["GlobalSecondaryIndexes"].append(index)
    client.create_table(**request)
    client.get_waiter("table_exists").wait(
        TableName=CHECK_TABLE, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    table = boto3.resource("dynamodb").Table(CHECK_TABLE)
    now = int(time.time())
    with table.batch_writer() as batch:
        for connection_id, room, offset_s, expired in _ROWS:
            batch.put_item(
                Item={
                    "connectionId": connection_id,
                    "roomId": room,
                    "userId": connection_id.removeprefix("c-"),
                    "connectedAt": _SINCE_MS + offset_s * 1000,
                    TTL_ATTRIBUTE: now - 60 if expired else now + 86_400,
                }
            )
    return boto3.resource("dynamodb").Table(CHECK_TABLE)  # a client with no hooks of ours


def watch_calls(table: Any, sent: list[dict[str, Any]]) -> None:
    """Record in ``sent`` each operation sent through ``table`` (a boto3 ``Table``): its name,
    its parameters and the ``ScannedCount`` DynamoDB answered; and ask for pages of
    :data:`PAGE_ITEMS` items, so that code which ignores ``LastEvaluatedKey`` shows."""
    events = table.meta.client.meta.events

    def before(params: dict[str, Any], model: Any, **_: Any) -> None:
        if len(sent) >= MAX_CALLS:  # a loop that never moves on: stop it (raised_problem)
            raise RuntimeError(f"the check stopped {model.name} after {MAX_CALLS} calls")
        if model.name in {"Query", "Scan"}:
            params.setdefault("Limit", PAGE_ITEMS)
        sent.append({"operation": model.name, "params": dict(params), "scanned": 0})

    def after(parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if sent and sent[-1]["operation"] == model.name:
            sent[-1]["scanned"] = parsed.get("ScannedCount", 0)

    events.register("before-parameter-build.dynamodb", before)
    events.register("after-call.dynamodb", after)


def _verdict(got: set[str], sent: list[dict[str, Any]]) -> str:
    operations = [call["operation"] for call in sent]
    if "Scan" in operations:
        return (
            "Not quite: your function sent a Scan, which reads every row of the table; "
            "Query the index instead (table.query(IndexName=…))."
        )
    queries = [call for call in sent if call["operation"] == "Query"]
    if not queries:
        return (
            f"Not quite: no Query went through the table passed in (it saw {operations or 'no'}"
            " calls); use that table, so the check can count what you read."
        )
    indexes = {call["params"].get("IndexName") for call in queries}
    if indexes != {INDEX_NAME}:
        return f"Not quite: your Query named {sorted(map(str, indexes))}; query {INDEX_NAME}."
    if "c-ghost" in got:
        return (
            "Not quite: an expired row came back; leave out rows whose ttl has passed "
            "(FilterExpression=Attr('ttl').gt(now)), as ConnectionStore does."
        )
    if got - _EXPECTED:
        extra = sorted(got - _EXPECTED)
        return f"Not quite: {extra} should not be there (another room, or joined too early)."
    if got != _EXPECTED:
        return (
            f"Not quite: {len(got)} of {len(_EXPECTED)} newcomers, in {len(queries)} call(s). "
            f"The check reads in pages of {PAGE_ITEMS}: follow LastEvaluatedKey "
            "(pass it back as ExclusiveStartKey) until a page has none."
        )
    scanned = sum(call["scanned"] for call in queries)
    if scanned > _READ_BY_A_KEY_CONDITION:
        return (
            f"Not quite: right answer, but DynamoDB read {scanned} items for it; put "
            "connectedAt in the KeyConditionExpression, not in a filter, so only the newcomers "
            "are read."
        )
    if not all(call["params"].get("ProjectionExpression") for call in queries):
        return (
            "Not quite: right answer, but each item came back whole; ask for connectionId "
            "only (ProjectionExpression)."
        )
    return (
        f"Correct! {len(got)} newcomers from {scanned} items read in {len(queries)} pages of "
        f"{INDEX_NAME}, and not one Scan."
    )
