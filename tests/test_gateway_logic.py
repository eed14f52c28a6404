"""The gateway's pure parts: route selection, policy evaluation, the authorizer's decision,
bounded JSON parsing."""

from __future__ import annotations

import json

import pytest

from chatlib.bounded_json import MAX_JSON_DEPTH, loads_bounded
from chatlib.local.event_factory import EventFactory
from chatlib.local.gateway.authorizer import (
    MAX_AUTHORIZER_RESULT_BYTES,
    decide,
    missing_identity,
)
from chatlib.local.gateway.lambda_runtime import Invocation
from chatlib.local.gateway.policy import arn_matches, evaluate, policy_allows
from chatlib.local.gateway.routing import evaluate_selection_expression, select_route

ROUTES = {"$connect", "$disconnect", "$default", "sendmessage"}
EXPR = "$request.body.action"


@pytest.mark.parametrize(
    ("body", "route"),
    [
        ('{"action": "sendmessage"}', "sendmessage"),
        ('{"action": "SendMessage"}', "$default"),  # keys match exactly
        ('{"action": "nope"}', "$default"),
        ('{"message": "no action"}', "$default"),
        ('{"action": null}', "$default"),
        ('{"action": "$connect"}', "$default"),  # clients cannot pick the special routes
        ("not json", "$default"),
        ("[1, 2]", "$default"),
        ("", "$default"),
        (None, "$default"),
    ],
)
def test_routes_are_selected_as_api_gateway_does(body, route):
    assert select_route(EXPR, body, ROUTES) == route


def test_without_default_an_unmatched_message_has_no_route():
    assert select_route(EXPR, '{"action": "nope"}', {"sendmessage"}) is None
    assert select_route(EXPR, '{"action": "sendmessage"}', {"sendmessage"}) == "sendmessage"


def test_nested_paths_and_non_string_values():
    body = json.dumps({"meta": {"kind": "chat"}, "n": 7})
    assert evaluate_selection_expression("$request.body.meta.kind", body) == "chat"
    assert evaluate_selection_expression("$request.body.meta.missing", body) == ""
    assert evaluate_selection_expression("$request.body.n", body) == "7"
    assert evaluate_selection_expression("$request.body.n.deeper", body) == ""


def test_absurdly_deep_json_is_not_parsed():
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ValueError, match="deeper than"):
        loads_bounded(deep)
    assert select_route(EXPR, deep, ROUTES) == "$default"
    fine = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert loads_bounded(fine) is not None


def test_brackets_inside_strings_do_not_count():
    text = json.dumps({"message": "[[[[{{{{" * 100 + '"\\'})
    assert loads_bounded(text)["message"].startswith("[[[[")


ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/dev/$connect"


def statement(effect, resource=ARN, action="execute-api:Invoke"):
    return {"Effect": effect, "Action": action, "Resource": resource}


def policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


@pytest.mark.parametrize(
    ("document", "allowed"),
    [
        (policy(statement("Allow")), True),
        (policy(statement("Deny")), False),
        (policy(statement("Allow"), statement("Deny")), False),  # explicit Deny wins
        (policy(statement("Allow", "arn:aws:execute-api:us-east-1:123456789012:abc123/*")), True),
        (policy(statement("Allow", "arn:aws:execute-api:*:*:abc123/dev/*")), True),
        (policy(statement("Allow", "arn:aws:execute-api:us-east-1:123456789012:other/*")), False),
        (policy(statement("Allow", action="execute-api:*")), True),
        (policy(statement("Allow", action="s3:GetObject")), False),
        (policy(statement("Allow", [ARN, "arn:other"])), True),
        (policy(), False),
        # NotAction / NotResource: everything except what they name
        (policy({"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}), True),
        (policy({"Effect": "Allow", "NotAction": "execute-api:*", "Resource": "*"}), False),
        (policy({"Effect": "Allow", "Action": "*", "NotResource": "arn:other"}), True),
        (policy({"Effect": "Allow", "Action": "*", "NotResource": ARN}), False),
        # Allow everything, then Deny everything that is not another resource: denied, as on AWS
        (
            policy(
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                {"Effect": "Deny", "Action": "*", "NotResource": "arn:aws:s3:::other"},
            ),
            False,
        ),
        (
            policy(
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                {"Effect": "Deny", "NotAction": "execute-api:Invoke", "Resource": "*"},
            ),
            True,
        ),
    ],
)
def test_policies_are_evaluated_like_iam(document, allowed):
    assert policy_allows(document, ARN) is allowed


@pytest.mark.parametrize(
    "document",
    [
        None,
        "Allow",
        {"Version": "2012-10-17"},
        {"Statement": [1]},
        policy(statement("Allow", action=7)),  # a non-string action
        policy(statement("Allow", action=["execute-api:Invoke", None])),
        policy(statement("Allow", resource={"arn": ARN})),
        policy(statement("Allow", action=[])),
        policy(statement("Maybe")),
        policy({**statement("Allow"), "NotAction": "s3:*"}),  # both Action and NotAction
        policy({"Effect": "Allow", "Resource": ARN}),  # neither
        policy({**statement("Allow"), "Condition": {"Bool": {"aws:SecureTransport": "true"}}}),
        # a malformed statement after one that would deny: still an error, not a decision
        policy(statement("Deny"), statement("Allow", action=7)),
    ],
)
def test_a_malformed_policy_is_an_error_not_a_deny(document):
    with pytest.raises(ValueError):
        policy_allows(document, ARN)


def test_the_evaluator_checks_any_action_and_resource():
    document = policy(
        {"Effect": "Allow", "Action": ["s3:Get*", "S3:ListBucket"], "Resource": "arn:aws:s3:::b*"}
    )
    assert evaluate(document, "s3:GetObject", "arn:aws:s3:::bucket/key")
    assert evaluate(document, "s3:listbucket", "arn:aws:s3:::bucket")  # actions ignore case
    assert not evaluate(document, "s3:PutObject", "arn:aws:s3:::bucket/key")
    assert not evaluate(document, "s3:GetObject", "arn:aws:s3:::Bucket/key")  # ARNs do not


def test_arn_wildcards():
    assert arn_matches("arn:aws:execute-api:*:*:abc/dev/$connect", ARN.replace("abc123", "abc"))
    assert arn_matches("arn:aws:execute-api:us-east-?:*", ARN)
    assert not arn_matches("arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*", ARN)


@pytest.mark.parametrize("text", ["NaN", '{"a": Infinity}', "[-Infinity]"])
def test_non_json_constants_are_refused(text):
    with pytest.raises(ValueError, match="not JSON"):
        loads_bounded(text)


METHOD = "arn:aws:execute-api:us-east-1:123456789012:abc123/dev/$connect"


def allow(context=None, effect="Allow"):
    statement = {"Action": "execute-api:Invoke", "Effect": effect, "Resource": METHOD}
    result = {"principalId": "alice", "policyDocument": {"Statement": [statement]}}
    if context is not None:
        result["context"] = context
    return Invocation("r", result=result)


@pytest.mark.parametrize(
    ("invocation", "status"),
    [
        (Invocation("r", error_type="Exception", error_message="Unauthorized"), 401),
        (Invocation("r", error_type="KeyError", error_message="'token'"), 500),
        (Invocation("r", error_type="Sandbox.Timedout", error_message="Task timed out"), 500),
        (Invocation("r", result="Allow"), 500),
        (Invocation("r", result={"principalId": "alice"}), 500),  # no policy at all
        (allow(effect="Deny"), 403),
        (allow(context="not an object"), 500),
        (allow(context={"pad": "x" * MAX_AUTHORIZER_RESULT_BYTES}), 500),
    ],
)
def test_the_authorizers_answer_becomes_the_handshake_status_api_gateway_gives(invocation, status):
    decision = decide(invocation, METHOD)
    assert decision.refusal == status and decision.context is None


def test_an_allow_carries_the_scalar_context_and_the_principal():
    decision = decide(allow({"userId": "alice", "n": 2, "ok": True, "nested": {"x": 1}}), METHOD)
    assert decision.refusal is None
    assert decision.context == {"userId": "alice", "n": 2, "ok": True, "principalId": "alice"}


def test_an_allow_for_another_method_is_a_403():
    other = METHOD.replace("abc123", "zzz999")
    assert decide(allow(), other).refusal == 403


@pytest.mark.parametrize(
    ("query", "headers", "missing"),
    [
        ({"token": "t"}, {"Authorization": "x"}, False),
        ({"token": ""}, {"Authorization": "x"}, True),  # present but empty counts as missing
        ({}, {"Authorization": "x"}, True),
        ({"token": "t"}, {"authorization": "x"}, False),  # header names ignore case
        ({"token": "t"}, {}, True),
    ],
)
def test_identity_sources_must_all_be_present(query, headers, missing):
    sources = ("route.request.querystring.token", "route.request.header.Authorization")
    assert missing_identity(sources, query, headers) is missing


def test_the_authorizer_event_is_built_by_the_same_factory_as_the_connect_event():
    events = EventFactory(seed=1)
    event = events.authorizer_request(
        "cid", method_arn=METHOD, query={"roomId": "blue"}, headers={"Sec-WebSocket-Protocol": "p"}
    )
    assert event["type"] == "REQUEST" and event["methodArn"] == METHOD
    assert event["queryStringParameters"] == {"roomId": "blue"}
    assert event["headers"]["Sec-WebSocket-Protocol"] == "p"
    assert event["requestContext"]["routeKey"] == "$connect"
    assert event["requestContext"]["connectionId"] == "cid"
    connect = events.connect("cid")
    assert set(connect["requestContext"]) == set(event["requestContext"])
