"""Notebook 06's checks: your minimal authorizer (the scaffold), then your decision (the exercise).

Both are judged on the same seven tokens (:func:`cases`): a genuine one for its room and for
another room, then five that must not get in (expired, no ``exp``, another secret, another
issuer, another audience). API Gateway turns an authorizer's answers into handshake statuses:
an Allow policy lets ``$connect`` run (101), a Deny policy is 403, ``Unauthorized`` is 401.

* :func:`check_authorizer` reads ``my_authorizer.py`` (the scaffold). While it still holds a
  ``# TODO`` line it writes :data:`REFERENCE_AUTHORIZER` in its place and says so, so that the
  notebook runs on; otherwise it calls the module's ``handler`` in this process with REQUEST
  events shaped as API Gateway sends them, and reads the policies it returns.
* :func:`check_decision` deploys ``my_decision.py``'s ``decide(token, room, secret)`` behind
  :data:`DECISION_AUTHORIZER` as the REQUEST authorizer of a chat of its own, and connects
  through the local gateway with each token: the statuses, and the row ``$connect`` stored for
  the genuine one (its user, room and expiry), are what a client would meet on AWS.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import jwt
import websocket

from chatlib.local.api_shortcut import AuthorizerSpec, define_api_shortcut
from chatlib.local.gateway.stack import start_local_stack
from chatlib.store import ConnectionStore
from chatlib.table import create_connection_table

__all__ = [
    "DECISION_AUTHORIZER",
    "REFERENCE_AUTHORIZER",
    "cases",
    "check_authorizer",
    "check_decision",
]

#: The scaffold with its two gaps filled in: what ``check_authorizer`` writes for an untouched
#: notebook. Its secret is re-read once it is ``SECRET_TTL_SECONDS`` old (300 by default):
#: a rotation reaches every warm instance within that time.
REFERENCE_AUTHORIZER = '''\
"""A minimal REQUEST authorizer: a verified token and an allowed room, or no entry."""
import os
import time

import boto3
import jwt

SECRET_TTL = float(os.environ.get("SECRET_TTL_SECONDS", "300"))
_secret = {"value": "", "read_at": float("-inf")}


def current_secret():
    """The signing secret, read again once it is SECRET_TTL old (a rotation gets through)."""
    if time.monotonic() - _secret["read_at"] >= SECRET_TTL:
        _secret["value"] = boto3.client("secretsmanager").get_secret_value(
            SecretId=os.environ["TOKEN_SECRET_ID"])["SecretString"]
        _secret["read_at"] = time.monotonic()
    return _secret["value"]


def handler(event, context):
    query = event.get("queryStringParameters") or {}
    token, room = query.get("token", ""), query.get("roomId", "")
    try:
        claims = jwt.decode(token, current_secret(), algorithms=["HS256"], audience="chat",
                            issuer="chatlib", options={"require": ["exp", "sub", "rooms"]})
    except jwt.InvalidTokenError:
        raise Exception("Unauthorized") from None      # the exact word: API Gateway answers 401
    effect = "Allow" if room in claims["rooms"] else "Deny"      # a Deny: API Gateway answers 403
    return {"principalId": claims["sub"], "context": {"userId": claims["sub"], "roomId": room},
            "policyDocument": {"Version": "2012-10-17", "Statement": [{
                "Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}]}}
'''

#: The authorizer the exercise deploys around the learner's ``decide``. It reads the secret on
#: every call, to stay short; the notebook's own authorizer shows the cache a real one keeps.
DECISION_AUTHORIZER = '''\
"""REQUEST authorizer around my_decision.decide(token, room, secret)."""
import os

import boto3
import jwt

from my_decision import decide


def handler(event, context):
    query = event.get("queryStringParameters") or {}
    secret = boto3.client("secretsmanager").get_secret_value(
        SecretId=os.environ["TOKEN_SECRET_ID"])["SecretString"]
    try:
        effect, claims_context = decide(query.get("token", ""), query.get("roomId", ""), secret)
    except jwt.InvalidTokenError:
        raise Exception("Unauthorized") from None
    return {"principalId": str(claims_context.get("userId", "nobody")),
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect,
                 "Resource": event["methodArn"]}]},
            "context": claims_context}
'''

USER, ROOM, OTHER_ROOM = "erin", "green", "blue"
_OTHER_SECRET = "a-secret-that-is-not-this-stacks-secret-0123456789abcdef-0123456789"
_METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcde12345/dev/$connect"
_STATUS = {"Allow": 101, "Deny": 403, "Unauthorized": 401}
_API = "nb06-exercise"
_AUTHORIZER = f"{_API}-authorizer"  # the function define_api_shortcut names


@dataclass(frozen=True)
class Case:
    """One token, the room it asks for, and what API Gateway must make of it."""

    label: str
    room: str
    expected: str  # "Allow", "Deny" or "Unauthorized"
    hint: str  # said when the answer is not the expected one
    claims: dict[str, Any]
    foreign_secret: bool = False


def _claims(now: int, **changes: Any) -> dict[str, Any]:
    claims = {
        "sub": USER,
        "rooms": [ROOM],
        "iss": "chatlib",
        "aud": "chat",
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        **changes,
    }
    return {name: value for name, value in claims.items() if value is not None}


def cases(now: int | None = None) -> list[Case]:
    """The seven tokens (their times from ``now``): both checks judge every one."""
    now = int(time.time()) if now is None else now
    return [
        Case(
            "genuine, its room",
            ROOM,
            "Allow",
            "decode it with the stack's secret, "
            'algorithms=["HS256"], audience="chat" and issuer="chatlib"',
            _claims(now),
        ),
        Case(
            "genuine, another room",
            OTHER_ROOM,
            "Deny",
            "a genuine token for a room it does "
            "not list is a Deny policy (403), not Unauthorized: compare the room with the "
            "token's rooms claim",
            _claims(now),
        ),
        Case(
            "expired",
            ROOM,
            "Unauthorized",
            "jwt.decode checks exp unless it is told not to",
            _claims(now - 3600, exp=now - 3000),
        ),
        Case(
            "no exp",
            ROOM,
            "Unauthorized",
            'a token without exp never expires: require it (options={"require": ["exp"]})',
            _claims(now, exp=None),
        ),
        Case(
            "signed with another secret",
            ROOM,
            "Unauthorized",
            "verify the signature with the stack's secret",
            _claims(now),
            foreign_secret=True,
        ),
        Case(
            "another issuer",
            ROOM,
            "Unauthorized",
            'check the issuer: issuer="chatlib"',
            _claims(now, iss="someone-else"),
        ),
        Case(
            "another audience",
            ROOM,
            "Unauthorized",
            'check the audience: audience="chat"',
            _claims(now, aud="billing"),
        ),
    ]


def _signed(case: Case, secret: str) -> str:
    return jwt.encode(case.claims, _OTHER_SECRET if case.foreign_secret else secret, "HS256")


def _secret_value(secret_arn: str) -> str:
    return boto3.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]


def _unfinished(path: Path) -> bool:
    return not path.exists() or "# TODO" in path.read_text()


def _judge(cases_: list[Case], answer: Callable[[Case], tuple[str, str]]) -> str | None:
    """The first case answered wrongly, as a "Not quite" sentence; None if all are right.

    ``answer`` gives each case's outcome ("Allow", "Deny", "Unauthorized" or something else)
    and what else went wrong with it ("" if nothing)."""
    for case in cases_:
        outcome, problem = answer(case)
        if outcome == "status 500":  # API Gateway's answer when the authorizer itself fails
            return (
                f"Not quite: the token '{case.label}' got 500: the authorizer failed (an "
                f"exception other than jwt.InvalidTokenError); local.logs('{_AUTHORIZER}') "
                "shows it."
            )
        if outcome != case.expected:
            return (
                f"Not quite: the token '{case.label}' got {_shown(outcome)} instead of "
                f"{_shown(case.expected)}: {case.hint}."
            )
        if problem:
            return f"Not quite: the token '{case.label}' got {_shown(outcome)}, but {problem}."
    return None


def _shown(outcome: str) -> str:
    return f"{outcome} ({_STATUS[outcome]})" if outcome in _STATUS else outcome


# ---------------------------------------------------------------------- the scaffold
def check_authorizer(scratch: str | Path, secret_arn: str) -> str:
    """Judge ``my_authorizer.py`` in ``scratch``; while it has a TODO line, put the reference
    solution in its place (and say so) so that the notebook's later cells run."""
    path = Path(scratch) / "my_authorizer.py"
    if _unfinished(path):
        path.write_text(REFERENCE_AUTHORIZER)
        return (
            "Not answered yet: my_authorizer.py still has its TODO lines, so the cells "
            "below use the reference solution (REFERENCE_AUTHORIZER in "
            "chatlib/course/nb06.py). Fill in the gaps and run both cells again."
        )
    try:
        handler = _load(path, "handler")
    except Exception as error:  # a learner's file: any error is theirs to see
        return f"Not quite: my_authorizer.py does not load ({type(error).__name__}: {error})."
    secret = _secret_value(secret_arn)
    previous = os.environ.get("TOKEN_SECRET_ID")
    os.environ["TOKEN_SECRET_ID"] = secret_arn
    try:
        wrong = _judge(cases(), lambda case: _call(handler, case, secret))
    finally:
        if previous is None:
            del os.environ["TOKEN_SECRET_ID"]
        else:
            os.environ["TOKEN_SECRET_ID"] = previous
    return wrong or (
        "Correct! Your authorizer allows the genuine token in its room, denies it "
        "another room, and refuses the five others."
    )


def _load(path: Path, attribute: str) -> Any:
    """``attribute`` of the module in ``path``, loaded afresh (a re-run sees the new file)."""
    spec = importlib.util.spec_from_file_location(f"learner_{uuid.uuid4().hex}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, attribute)


def _call(handler: Callable[..., Any], case: Case, secret: str) -> tuple[str, str]:
    event = {
        "type": "REQUEST",
        "methodArn": _METHOD_ARN,
        "queryStringParameters": {"roomId": case.room, "token": _signed(case, secret)},
        "headers": {},
        "requestContext": {"routeKey": "$connect", "eventType": "CONNECT", "stage": "dev"},
    }
    try:
        response = handler(event, None)
    except Exception as error:
        if str(error) == "Unauthorized":
            return "Unauthorized", ""
        return f"an error ({type(error).__name__}: {error})", ""
    return _read_policy(response, case)


def _read_policy(response: Any, case: Case) -> tuple[str, str]:
    """The effect of an authorizer's answer, and what is wrong with the answer's shape."""
    try:
        statement = response["policyDocument"]["Statement"][0]
        effect = statement["Effect"]
    except (TypeError, KeyError, IndexError):
        return "an answer with no policyDocument.Statement[0].Effect", ""
    if statement.get("Action") != "execute-api:Invoke":
        return effect, 'the statement\'s Action must be "execute-api:Invoke"'
    if statement.get("Resource") != _METHOD_ARN:
        return effect, "the statement's Resource must be the event's methodArn"
    if response.get("principalId") != USER:
        return effect, "principalId must be the token's sub"
    context = response.get("context") or {}
    if effect == "Allow" and (context.get("userId"), context.get("roomId")) != (USER, case.room):
        return effect, "the context must carry the verified userId and the requested roomId"
    return effect, ""


# ---------------------------------------------------------------------- the exercise
def check_decision(scratch: str | Path, secret_arn: str) -> str:
    """Deploy ``decide`` from ``my_decision.py`` as a REQUEST authorizer and connect through
    the local gateway with every token of :func:`cases`."""
    scratch = Path(scratch)
    path = scratch / "my_decision.py"
    if _unfinished(path):
        return "Not answered yet: write decide() in the cell above (it still holds its TODO line)."
    try:
        compile(path.read_text(), str(path), "exec")
    except SyntaxError as error:
        return f"Not quite: my_decision.py does not compile (line {error.lineno}: {error.msg})."
    url, table = _deploy_decision(scratch, secret_arn)
    secret = _secret_value(secret_arn)
    wrong = _judge(cases(), lambda case: _connect(url, table, case, secret))
    return wrong or (
        "Correct! Through the gateway: the genuine token joined green as erin "
        "(with its expiry stored), got 403 for blue, and the five others got 401."
    )


def _deploy_decision(scratch: Path, secret_arn: str) -> tuple[str, str]:
    (scratch / "nb06_authorizer.py").write_text(DECISION_AUTHORIZER)
    table = _API
    create_connection_table(table)
    store = ConnectionStore(table)
    for row in store.all_connections():  # rows of an earlier run must not answer for this one
        store.delete(row.connection_id)
    code = hashlib.sha256((scratch / "my_decision.py").read_bytes()).hexdigest()[:12]
    api = define_api_shortcut(
        _API,
        {
            "$connect": "chatlib.handlers.connect_verified.handler",
            "$disconnect": "chatlib.handlers.disconnect.handler",
        },
        # the code's hash in the environment: a changed decide() gets new function instances
        environment={
            "CONNECTIONS_TABLE": table,
            "TOKEN_SECRET_ID": secret_arn,
            "PYTHONPATH": str(scratch),
            "DECISION_CODE": code,
        },
        authorizer=AuthorizerSpec(
            "nb06_authorizer.handler",
            ("route.request.querystring.token", "route.request.querystring.roomId"),
        ),
    )
    return start_local_stack().websocket_url(api.api_id), table


def _connect(url: str, table: str, case: Case, secret: str) -> tuple[str, str]:
    try:
        ws = websocket.create_connection(
            f"{url}?roomId={case.room}&token={_signed(case, secret)}", timeout=30
        )
    except websocket.WebSocketBadStatusException as refused:
        outcome = {v: k for k, v in _STATUS.items()}.get(refused.status_code)
        return outcome or f"status {refused.status_code}", ""
    try:
        stored = {
            c.expires_at
            for c in ConnectionStore(table).all_connections()
            if (c.user_id, c.room_id) == (USER, case.room)
        }
    finally:
        ws.close()
    if not stored:
        return "Allow", f"$connect stored no row for {USER} in {case.room}"
    if case.claims["exp"] not in stored:
        return "Allow", (
            "the connection was stored without the token's expiry: put its exp in "
            "the context as expiresAt, so that the connection ends with its token"
        )
    return "Allow", ""
