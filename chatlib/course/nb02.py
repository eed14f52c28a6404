"""Notebook 02's checks: the minimal chat you complete (a scaffold), and a chat without echo.

:func:`use_minimal_chat` checks the scaffold (``my_chat.py``, where you type the Scan loop, the
``post_to_connection`` and the ``GoneException`` clean-up) by calling your ``send_message``
directly: three rows in a fresh table (you, a friend, and a stale row whose connection is
gone), a stand-in for ``@connections`` that answers 410 for the stale one. Both of you must
get the frame, the stale row must be gone, and the Scan must follow ``LastEvaluatedKey``.
Then it puts the module the rest of the notebook deploys, ``minimal_chat.py``, in place:
yours when it passes, otherwise the reference below, and it says which.

:func:`check_quiet_chat` checks the exercise at the end: your ``quiet_chat.send_message``
deployed behind the local gateway (with :func:`chatlib.local.api_shortcut.define_api_shortcut`),
three people, a stale row among them, one of them speaks; the others must hear it, the
speaker must not, and the stale row must go.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3

from chatlib.local.api_shortcut import define_api_shortcut
from chatlib.local.connections_standin import ConnectionsStandIn
from chatlib.local.event_factory import EventFactory
from chatlib.local.gateway.stack import start_local_stack
from chatlib.local.lambda_context import LambdaContext
from chatlib.table import create_connection_table
from chatlib.tools.client import ChatClient

__all__ = ["REFERENCE_MINIMAL_CHAT", "check_quiet_chat", "use_minimal_chat"]

#: The minimal chat, complete: what the notebook deploys when the scaffold is not done.
REFERENCE_MINIMAL_CHAT = '''\
"""A minimal WebSocket chat: $connect, $disconnect and a broadcast sendmessage, plain boto3."""
import json
import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ["CONNECTIONS_TABLE"])


def connect(event, context):
    query = event.get("queryStringParameters") or {}
    table.put_item(Item={
        "connectionId": event["requestContext"]["connectionId"],
        "roomId": query.get("roomId", "lobby"),
        "userId": query.get("userId", "anonymous"),
    })
    return {"statusCode": 200}


def disconnect(event, context):
    table.delete_item(Key={"connectionId": event["requestContext"]["connectionId"]})
    return {"statusCode": 200}


def callback_url(request_context):
    """Where @connections is: the configured URL, else https://{domainName}/{stage}."""
    return os.environ.get("CHATLIB_CONNECTIONS_URL") or (
        f"https://{request_context['domainName']}/{request_context['stage']}")


def send_message(event, context):
    request_context = event["requestContext"]
    body = json.loads(event["body"])
    sender = table.get_item(Key={"connectionId": request_context["connectionId"]})["Item"]
    frame = json.dumps({"type": "message", "sender": sender["userId"],
                        "message": body["message"]})
    api = boto3.client("apigatewaymanagementapi", endpoint_url=callback_url(request_context))
    page = {}
    while True:
        result = table.scan(ProjectionExpression="connectionId", **page)
        for item in result["Items"]:
            try:
                api.post_to_connection(ConnectionId=item["connectionId"], Data=frame.encode())
            except api.exceptions.GoneException:      # 410: that client left; forget it
                table.delete_item(Key={"connectionId": item["connectionId"]})
        if "LastEvaluatedKey" not in result:
            return {"statusCode": 200}
        page = {"ExclusiveStartKey": result["LastEvaluatedKey"]}
'''

_checks = itertools.count()
_GHOST = "GhostConnectn0A="


def use_minimal_chat(scratch: str) -> str:
    """Check ``{scratch}/my_chat.py``; write ``{scratch}/minimal_chat.py`` (yours if it
    passes, else the reference); say which, in one sentence."""
    folder = Path(scratch)
    mine = folder / "my_chat.py"
    deployed = folder / "minimal_chat.py"
    if not mine.exists() or "TODO" in mine.read_text():
        deployed.write_text(REFERENCE_MINIMAL_CHAT)
        return (
            "Not answered yet: my_chat.py still has TODO lines, so the notebook goes on with "
            "the reference solution (now in minimal_chat.py). Fill in the gaps, remove the "
            "TODO lines and run both cells again."
        )
    problem = _send_message_problem(mine)
    if problem is None:
        shutil.copyfile(mine, deployed)
        return (
            "Correct! Both connections got the frame, the stale row is gone, and the Scan "
            "follows LastEvaluatedKey: your module is now minimal_chat.py, deployed below."
        )
    deployed.write_text(REFERENCE_MINIMAL_CHAT)
    return f"Not quite: {problem} (the notebook goes on with the reference solution meanwhile)"


def _send_message_problem(path: Path) -> str | None:
    """What is wrong with the module's ``send_message``, or ``None``."""
    source = path.read_text()
    if "LastEvaluatedKey" not in source or "ExclusiveStartKey" not in source:
        return (
            "one Scan call returns at most 1 MB: loop while the result has a LastEvaluatedKey, "
            "passing it back as ExclusiveStartKey."
        )
    table_name = f"chat-scaffold-check-{next(_checks)}"
    create_connection_table(table_name)
    table = boto3.resource("dynamodb").Table(table_name)
    events = EventFactory(api_id="a1b2c3d4e5", stage="dev", seed=22)
    me, friend = events.new_connection_id(), events.new_connection_id()
    for connection_id, user in [(me, "me"), (friend, "friend"), (_GHOST, "ghost")]:
        table.put_item(Item={"connectionId": connection_id, "roomId": "lobby", "userId": user})
    with ConnectionsStandIn() as standin:
        standin.open(me)
        standin.open(friend)
        variables = {"CONNECTIONS_TABLE": table_name, "CHATLIB_CONNECTIONS_URL": standin.url}
        with _environment(variables):
            try:
                module = _import_fresh(path)
                event = events.message(me, {"action": "sendmessage", "message": "check"})
                module.send_message(event, LambdaContext("minimal-sendmessage"))
            except Exception as error:  # the learner's code: say what it raised
                return f"send_message raised {type(error).__name__}: {error}."
        got = {
            name
            for name, connection_id in [("you", me), ("your friend", friend)]
            if any(_text(frame) == "check" for frame in standin.frames(connection_id))
        }
    if got != {"you", "your friend"}:
        missing = sorted({"you", "your friend"} - got)
        return (
            f"{' and '.join(missing)} did not get the frame: post it to every connection id "
            "the Scan returns (post_to_connection)."
        )
    if "Item" in table.get_item(Key={"connectionId": _GHOST}):
        return (
            "the stale row is still there: when a post raises GoneException, delete that "
            "connection's row and carry on."
        )
    return None


def _text(frame: Any) -> Any:
    return frame.get("message") if isinstance(frame, dict) else None


@contextlib.contextmanager
def _environment(variables: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _import_fresh(path: Path) -> Any:
    """The module at ``path``, imported anew (its table is read from the environment now)."""
    spec = importlib.util.spec_from_file_location(f"_checked_{next(_checks)}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_quiet_chat(scratch: str) -> str:
    """Deploy ``{scratch}/quiet_chat.py`` behind the local gateway and check it: one sentence."""
    if "TODO" in (Path(scratch) / "quiet_chat.py").read_text():
        return "Not answered yet: edit and run the cell above (and remove its TODO line)."
    quiet_table = f"chat-quiet-{next(_checks)}"
    create_connection_table(quiet_table)
    quiet = define_api_shortcut(
        "quiet-chat",
        {
            "$connect": "minimal_chat.connect",
            "$disconnect": "minimal_chat.disconnect",
            "sendmessage": "quiet_chat.send_message",
        },
        environment={"CONNECTIONS_TABLE": quiet_table, "PYTHONPATH": scratch},
    )
    running = start_local_stack()  # the notebook's, already running
    url = running.websocket_url(quiet.api_id)
    people = {
        name: ChatClient.connect(url, room_id="lobby", user_id=name)
        for name in ["uma", "vic", "wes"]
    }
    stale = {"connectionId": "StaleConnectnA=", "roomId": "lobby", "userId": "ghost"}
    table = boto3.resource("dynamodb").Table(quiet_table)
    table.put_item(Item=stale)
    try:
        people["uma"].send("psst")
        running.wait_until_idle()
        got = {
            name
            for name, person in people.items()
            if any(f.get("message") == "psst" for f in person.receive_all(quiet_for=0.1))
        }
    finally:
        for person in people.values():
            person.close()
    left = table.get_item(Key={"connectionId": stale["connectionId"]})
    errors = [
        line for line in running.logs(quiet.function_names["sendmessage"]) if "[ERROR]" in line
    ]
    if got == {"vic", "wes"} and "Item" not in left:
        return "Correct! vic and wes heard uma; uma got no echo; the stale row is gone."
    if got == {"vic", "wes"}:
        return "Not quite: the right people heard it, but the stale row stayed (keep the 410 part)."
    hint = f" Your function logged: {errors[-1]}" if errors else ""
    return f"Not quite: {sorted(got) or 'nobody'} got uma's message, not vic and wes.{hint}"
