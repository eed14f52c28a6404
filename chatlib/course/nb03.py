"""Notebook 03's scaffold and exercise checks: your rooms chat, and your ``whisper`` route.

Two pieces of learner code, each a module written into the notebook's scratch folder:

* ``minimal_rooms.py`` (the scaffold of Part 1): ``connect`` stores the room and user from the
  query string after checking them, and ``room_members`` Queries ``roomId-index`` page by page.
  :func:`use_rooms_scaffold` checks it, or, while it still holds its ``TODO`` lines, writes the
  reference solution (:data:`ROOMS_SOLUTION`) in its place so that the rest of the notebook runs.
* ``whisper.py`` (the exercise): a module with ``handler(event, context)`` that reads the table
  named by the ``CONNECTIONS_TABLE`` environment variable, as a deployed function does, and
  posts to every connection of the user named in the body, found with ``connections_of``, a
  paginated Query on ``userId-index``. Notebook 04 deploys such a module with CloudFormation;
  :data:`WHISPER_SOLUTION` is the reference one.

How a check sees the learner's reads: it loads their module with ``CONNECTIONS_TABLE`` set to a
table of its own and watches the module's ``table`` (:func:`chatlib.course.nb01.watch_calls`):
every operation is recorded, and Queries are asked for pages of two items, so a Scan or a
loop that drops ``LastEvaluatedKey`` fails with a handful of rows. The whisper check then also
deploys the module behind the local gateway next to ``minimal_rooms`` and has alice whisper to
bob, who is connected twice (:func:`who_got_the_whisper`, which notebook 04's check can share).
Whatever the learner's code does (a syntax error, an exception, a loop that never moves on),
the check answers with a sentence, never a traceback.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from chatlib.course.nb01 import raised_problem, watch_calls

__all__ = [
    "ROOMS_SOLUTION",
    "WHISPER_PEOPLE",
    "WHISPER_SOLUTION",
    "check_whisper",
    "use_rooms_scaffold",
    "who_got_the_whisper",
]

ROOMS_SOLUTION = '''\
"""A minimal chat with rooms: the room is stored at $connect; a message goes to that room."""
import json
import os
import re

import boto3
from boto3.dynamodb.conditions import Key

table = boto3.resource("dynamodb").Table(os.environ["CONNECTIONS_TABLE"])
NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what a room or user id may be


def connect(event, context):
    connection_id = event["requestContext"]["connectionId"]
    query = event.get("queryStringParameters") or {}
    room_id, user_id = query.get("roomId", ""), query.get("userId", "anonymous")
    if not (NAME.fullmatch(room_id) and NAME.fullmatch(user_id)):
        return {"statusCode": 400, "body": "roomId and userId: 1-64 letters, digits, - or _"}
    table.put_item(Item={"connectionId": connection_id, "roomId": room_id, "userId": user_id})
    return {"statusCode": 200}


def disconnect(event, context):
    table.delete_item(Key={"connectionId": event["requestContext"]["connectionId"]})
    return {"statusCode": 200}


def room_members(room_id):
    """The connection ids in room_id: a Query on roomId-index, page by page."""
    ids, page = [], {}
    while True:
        result = table.query(IndexName="roomId-index",
                             KeyConditionExpression=Key("roomId").eq(room_id),
                             ProjectionExpression="connectionId", **page)
        ids += [item["connectionId"] for item in result["Items"]]
        if "LastEvaluatedKey" not in result:
            return ids
        page = {"ExclusiveStartKey": result["LastEvaluatedKey"]}


def callback_url(request_context):
    return os.environ.get("CHATLIB_CONNECTIONS_URL") or (
        f"https://{request_context['domainName']}/{request_context['stage']}")


def post_to_each(api, connection_ids, frame):
    for connection_id in connection_ids:
        try:
            api.post_to_connection(ConnectionId=connection_id, Data=frame.encode())
        except api.exceptions.GoneException:
            table.delete_item(Key={"connectionId": connection_id})


def send_message(event, context):
    request_context = event["requestContext"]
    body = json.loads(event["body"])
    sender = table.get_item(Key={"connectionId": request_context["connectionId"]})["Item"]
    frame = json.dumps({"type": "message", "sender": sender["userId"],
                        "roomId": sender["roomId"], "message": body["message"]})
    api = boto3.client("apigatewaymanagementapi", endpoint_url=callback_url(request_context))
    post_to_each(api, room_members(sender["roomId"]), frame)
    return {"statusCode": 200}
'''

WHISPER_SOLUTION = '''\
"""whisper: {"action": "whisper", "to": "bob", "message": "psst"} reaches all of bob's devices."""
import json
import os

import boto3
from boto3.dynamodb.conditions import Key

table = boto3.resource("dynamodb").Table(os.environ["CONNECTIONS_TABLE"])


def connections_of(user_id):
    """The connection ids of user_id, in any room: a Query on userId-index, page by page."""
    ids, page = [], {}
    while True:
        result = table.query(IndexName="userId-index",
                             KeyConditionExpression=Key("userId").eq(user_id),
                             ProjectionExpression="connectionId", **page)
        ids += [item["connectionId"] for item in result["Items"]]
        if "LastEvaluatedKey" not in result:
            return ids
        page = {"ExclusiveStartKey": result["LastEvaluatedKey"]}


def handler(event, context):
    request_context = event["requestContext"]
    body = json.loads(event["body"])
    sender = table.get_item(Key={"connectionId": request_context["connectionId"]})["Item"]
    frame = json.dumps({"type": "whisper", "sender": sender["userId"], "message": body["message"]})
    endpoint = os.environ.get("CHATLIB_CONNECTIONS_URL") or (
        f"https://{request_context['domainName']}/{request_context['stage']}")
    api = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint)
    for connection_id in connections_of(body["to"]):
        try:
            api.post_to_connection(ConnectionId=connection_id, Data=frame.encode())
        except api.exceptions.GoneException:
            table.delete_item(Key={"connectionId": connection_id})
    return {"statusCode": 200}
'''

_CHECK_TABLE = "chat-rooms-check"
_GIVEN = ("connect", "room_members", "connections_of")
_loads = itertools.count()
_BAD_QUERIES = [
    {},
    {"roomId": ""},
    {"roomId": "../admin"},
    {"roomId": "blue room"},
    {"roomId": "x" * 65},
    {"roomId": "blue", "userId": "<script>"},
]


def use_rooms_scaffold(scratch: str | os.PathLike[str]) -> str:
    """Check ``minimal_rooms.py`` in ``scratch``; while it has TODO lines, use the reference."""
    path = Path(scratch) / "minimal_rooms.py"
    if "TODO" in path.read_text():
        path.write_text(ROOMS_SOLUTION)
        return (
            "Not answered yet: minimal_rooms.py still has its TODO lines, so the notebook now "
            "uses the reference solution (ROOMS_SOLUTION in chatlib/course/nb03.py). Fill in "
            "the gaps and run both cells again to use yours."
        )
    problem = _problem_in(
        path,
        lambda module: (
            _connect_problem(module)
            or _paged_read_problem(module, "room_members", "roomId", "roomId-index")
        ),
    )
    if problem:
        return f"Not quite: {problem} The cells below run your module as it is."
    return (
        "Correct! Bad rooms and users are refused with 400, good ones stored, and a room's "
        "members read with a paginated Query on roomId-index: the cells below run your module."
    )


def check_whisper(scratch: str | os.PathLike[str]) -> str:
    """Check ``whisper.py`` in ``scratch``: its reads, then alice whispering to bob for real."""
    path = Path(scratch) / "whisper.py"
    if "TODO" in path.read_text():
        return "Not answered yet: complete and run the cell above (and remove its TODO lines)."
    problem = _problem_in(
        path, lambda module: _paged_read_problem(module, "connections_of", "userId", "userId-index")
    )
    if problem:
        return f"Not quite: {problem}"
    return _whisper_through_the_gateway(scratch)


def _problem_in(path: Path, check: Callable[[ModuleType], str | None]) -> str | None:
    """Load the learner's module and ``check`` it; a module that fails is a finding too."""
    try:
        module = _load(path)
    except Exception as error:  # the learner's code: any failure is a finding
        return f"{path.name} does not load: {type(error).__name__}: {error}."
    try:
        return check(module)
    except AttributeError as error:  # a name the cell gave is gone
        return f"{error}; keep the names the cell gave (table, {', '.join(_GIVEN)})."


def _load(path: Path) -> ModuleType:
    """A fresh copy of the learner's module, reading the check's own table."""
    _fresh_table()
    previous = os.environ.get("CONNECTIONS_TABLE")
    os.environ["CONNECTIONS_TABLE"] = _CHECK_TABLE
    writes_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # scratch stays clean
    try:
        spec = importlib.util.spec_from_file_location(f"_checked_{next(_loads)}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = writes_bytecode
        if previous is None:
            del os.environ["CONNECTIONS_TABLE"]
        else:
            os.environ["CONNECTIONS_TABLE"] = previous
    return module


def _fresh_table() -> None:
    from chatlib.table import create_connection_table, delete_connection_table

    delete_connection_table(_CHECK_TABLE)
    create_connection_table(_CHECK_TABLE)


def _connect_problem(module: ModuleType) -> str | None:
    from chatlib.local.event_factory import EventFactory

    events = EventFactory(seed=3)
    for query in _BAD_QUERIES:
        connection_id = events.new_connection_id()
        try:
            answer = module.connect(events.connect(connection_id, query=query), None) or {}
        except Exception as error:  # the learner's code: any failure is a finding
            return (
                f"connect raised {type(error).__name__} for {query} (on Lambda: a 500); "
                "check the ids before put_item and refuse them with 400."
            )
        if answer.get("statusCode") != 400:
            return f"connect answered {answer.get('statusCode')} for {query}; refuse it with 400."
    if module.table.scan(Select="COUNT")["Count"]:
        return "connect stored a row for a refused connection; check before put_item."
    event = events.connect("good-1", query={"roomId": "blue-2", "userId": "alice_b"})
    answer = module.connect(event, None) or {}
    row = module.table.get_item(Key={"connectionId": "good-1"}).get("Item")
    if answer.get("statusCode") != 200 or not row:
        return f"connect answered {answer} and stored {row} for roomId=blue-2, userId=alice_b."
    if (row.get("roomId"), row.get("userId")) != ("blue-2", "alice_b"):
        return f"the stored row is {row}; it needs roomId and userId from the query string."
    module.table.delete_item(Key={"connectionId": "good-1"})
    return None


def _paged_read_problem(module: ModuleType, name: str, attribute: str, index: str) -> str | None:
    """Whether ``module.<name>(value)`` finds five rows whose ``attribute`` is ``value`` with a
    paginated Query on ``index`` (a connection of the same user or room in every other row)."""
    target = "blue" if attribute == "roomId" else "bob"
    expected = {f"{attribute}-{n}" for n in range(5)}
    with module.table.batch_writer() as batch:
        for n, connection_id in enumerate(sorted(expected) + ["other-1"]):
            value = target if connection_id != "other-1" else "other"
            batch.put_item(
                Item={
                    "connectionId": connection_id,
                    "roomId": value if attribute == "roomId" else f"room-{n}",
                    "userId": value if attribute == "userId" else f"user-{n}",
                }
            )
    sent: list[dict[str, Any]] = []
    watch_calls(module.table, sent)
    try:
        got = set(getattr(module, name)(target) or [])
    except Exception as error:  # the learner's code: any failure is a finding
        return f"{raised_problem(name, error, sent)}."
    operations = [call["operation"] for call in sent]
    queries = [call for call in sent if call["operation"] == "Query"]
    if "Scan" in operations:
        return f"your function sent a Scan, which reads the whole table; Query {index}."
    if not queries or {call["params"].get("IndexName") for call in queries} != {index}:
        sent_here = operations or "nothing"
        return f"it sent {sent_here} through the module's table; Query {index} with it."
    if got != expected:
        return (
            f"it found {len(got & expected)} of the 5 connections in {len(queries)} call(s). The "
            "check reads in pages of 2: follow LastEvaluatedKey (as ExclusiveStartKey)."
        )
    return None


def _whisper_through_the_gateway(scratch: str | os.PathLike[str]) -> str:
    import chatlib
    from chatlib.table import create_connection_table

    table = "chat-whisper"
    create_connection_table(table)
    api = chatlib.define_api_shortcut(
        "whisper-chat",
        {
            "$connect": "minimal_rooms.connect",
            "$disconnect": "minimal_rooms.disconnect",
            "sendmessage": "minimal_rooms.send_message",
            "whisper": "whisper.handler",
        },
        environment={"CONNECTIONS_TABLE": table, "PYTHONPATH": str(scratch)},
    )
    gateway = chatlib.start_local_stack()
    got = who_got_the_whisper(gateway.websocket_url(api.api_id))
    if got == {"bob@blue", "bob@green"}:
        return "Correct! Both of bob's connections got alice's whisper, and nobody else did."
    errors = [line for line in gateway.logs(api.function_names["whisper"]) if "[ERROR]" in line]
    hint = f" Your function logged: {errors[-1]}" if errors else ""
    return f"Not quite: {sorted(got) or 'nobody'} got it; expected bob@blue and bob@green.{hint}"


#: Who connects for a whisper check: bob twice, in two rooms.
WHISPER_PEOPLE = [("alice", "blue"), ("bob", "blue"), ("bob", "green"), ("carol", "blue")]


def who_got_the_whisper(url: str) -> set[str]:
    """Connect :data:`WHISPER_PEOPLE` to the chat at ``url``, have alice whisper "psst" to bob,
    and return who received it from alice, as ``"user@room"`` (a correct route: bob@blue and
    bob@green). Shared by the checks of notebooks 03 and 04."""
    from chatlib.local.gateway.stack import start_local_stack
    from chatlib.tools.client import ChatClient

    people = {
        (user, room): ChatClient.connect(url, room_id=room, user_id=user)
        for user, room in WHISPER_PEOPLE
    }
    try:
        people[("alice", "blue")].send_raw({"action": "whisper", "to": "bob", "message": "psst"})
        start_local_stack().wait_until_idle()
        return {
            f"{user}@{room}"
            for (user, room), person in people.items()
            for frame in person.receive_all(quiet_for=0.1)
            if isinstance(frame, dict)
            and frame.get("type") == "whisper"
            and frame.get("message") == "psst"
            and frame.get("sender") == "alice"
        }
    finally:
        for person in people.values():
            person.close()
