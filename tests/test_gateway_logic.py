"""The gateway's pure parts: route selection, policy evaluation, bounded JSON parsing."""

from __future__ import annotations

import json

import pytest

from chatlib.bounded_json import MAX_JSON_DEPTH, loads_bounded
from chatlib.gateway.policy import arn_matches, policy_allows
from chatlib.gateway.routing import evaluate_selection_expression, select_route

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
    ],
)
def test_policies_are_evaluated_like_iam(document, allowed):
    assert policy_allows(document, ARN) is allowed


@pytest.mark.parametrize("document", [None, "Allow", {"Version": "2012-10-17"}, {"Statement": [1]}])
def test_a_malformed_policy_is_an_error_not_a_deny(document):
    with pytest.raises(ValueError):
        policy_allows(document, ARN)


def test_arn_wildcards():
    assert arn_matches("arn:aws:execute-api:*:*:abc/dev/$connect", ARN.replace("abc123", "abc"))
    assert arn_matches("arn:aws:execute-api:us-east-?:*", ARN)
    assert not arn_matches("arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*", ARN)


@pytest.mark.parametrize("text", ["NaN", '{"a": Infinity}', "[-Infinity]"])
def test_non_json_constants_are_refused(text):
    with pytest.raises(ValueError, match="not JSON"):
        loads_bounded(text)
