"""May API Gateway invoke this function? Its resource-based policy decides (pure, no I/O).

On AWS, an API's integration can name any function, but Lambda runs it for API Gateway only
if the function's policy has a statement allowing the service principal
``apigateway.amazonaws.com`` to ``lambda:InvokeFunction``, usually limited to one API by a
``SourceArn`` condition (``lambda add-permission``, or ``AWS::Lambda::Permission`` in a
template). Without it the client sees a failed route or handshake and API Gateway's
execution log says "Execution failed due to configuration error: Invalid permissions on
Lambda function". The ARN API Gateway presents is, for a route,
``arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{routeKey}``
(https://repost.aws/knowledge-center/api-gateway-websocket-api-secure) and, for a Lambda
authorizer, ``arn:aws:execute-api:{region}:{account}:{apiId}/authorizers/{authorizerId}``
(https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html).

The rules applied, IAM's for one resource policy
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
a statement applies when its principal, action and resource match and every condition holds;
an applicable ``Deny`` wins, else an applicable ``Allow`` allows, else the answer is no.
``ArnLike``/``ArnEquals`` compare each of the ARN's six ``:``-separated parts on its own,
``*`` and ``?`` matching within a part
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN).
Conditions on keys other than ``aws:SourceArn`` and ``aws:SourceAccount`` cannot hold for an
invocation here, so a statement that needs one does not apply.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "SERVICE_PRINCIPAL",
    "authorizer_source_arn",
    "invoke_refusal",
    "route_source_arn",
]

SERVICE_PRINCIPAL = "apigateway.amazonaws.com"
_ACTION = "lambda:InvokeFunction"
REFUSED = "Execution failed due to configuration error: Invalid permissions on Lambda function"


def route_source_arn(region: str, account: str, api_id: str, stage: str, route_key: str) -> str:
    """The ARN API Gateway presents when a route invokes its integration."""
    return f"arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{route_key}"


def authorizer_source_arn(region: str, account: str, api_id: str, authorizer_id: str) -> str:
    """The ARN API Gateway presents when it invokes a Lambda authorizer."""
    return f"arn:aws:execute-api:{region}:{account}:{api_id}/authorizers/{authorizer_id}"


def _wildcard(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.S | (re.I if ignore_case else 0)) is not None


def _arn_like(pattern: str, arn: str) -> bool:
    wanted, given = pattern.split(":", 5), arn.split(":", 5)
    return len(wanted) == len(given) == 6 and all(map(_wildcard, wanted, given))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal_matches(statement: dict[str, Any]) -> bool:
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    return SERVICE_PRINCIPAL in _as_list(principal.get("Service", [])) or "*" in _as_list(
        principal.get("AWS", [])
    )


_OPERATORS = {
    "arnlike": _arn_like,
    "arnequals": _arn_like,
    "stringequals": lambda pattern, value: pattern == value,
    "stringlike": _wildcard,
}


def _conditions_hold(statement: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, tests in (statement.get("Condition") or {}).items():
        compare = _OPERATORS.get(operator.lower())
        if compare is None or not isinstance(tests, dict):
            return False
        for key, patterns in tests.items():
            value = context.get(key.lower())
            if value is None or not any(compare(str(p), value) for p in _as_list(patterns)):
                return False
    return True


def _applies(statement: dict[str, Any], function_arn: str, context: dict[str, str]) -> bool:
    actions = _as_list(statement.get("Action", []))
    resources = _as_list(statement.get("Resource", function_arn))
    return (
        _principal_matches(statement)
        and any(_wildcard(str(a), _ACTION, ignore_case=True) for a in actions)
        # a statement for the function also covers its versions and aliases (ARN:qualifier)
        and any(
            _wildcard(str(r), function_arn) or _wildcard(str(r), function_arn + ":$LATEST")
            for r in resources
        )
        and _conditions_hold(statement, context)
    )


def invoke_refusal(policy: dict[str, Any] | None, function_arn: str, source_arn: str) -> str | None:
    """Why API Gateway may not invoke ``function_arn`` from ``source_arn`` under ``policy``
    (the function's resource policy, ``None`` if it has none), or ``None`` if it may."""
    account = source_arn.split(":")[4] if source_arn.count(":") >= 5 else ""
    context = {"aws:sourcearn": source_arn, "aws:sourceaccount": account}
    statements = [s for s in _as_list((policy or {}).get("Statement", [])) if isinstance(s, dict)]
    applicable = [s for s in statements if _applies(s, function_arn, context)]
    name = function_arn.rsplit(":", 1)[-1]
    if any(s.get("Effect") == "Deny" for s in applicable):
        return f"{REFUSED} ({name}): a Deny statement of its policy matches {source_arn}"
    if any(s.get("Effect") == "Allow" for s in applicable):
        return None
    if not statements:
        detail = "it has no resource-based policy (lambda add-permission was never run)"
    else:
        detail = f"no statement of its policy allows {SERVICE_PRINCIPAL} from {source_arn}"
    return f"{REFUSED} ({name}): {detail}"
