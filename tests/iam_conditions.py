"""IAM policy evaluation with conditions, for the deploy policy and the functions' boundary.

``chatlib.local.gateway.policy.evaluate`` decides an authorizer's policy, which never has a
``Condition``, and refuses any statement that does. The deploying identity's policy needs
conditions to be safe (``iam:PermissionsBoundary`` on role changes, ``iam:PassedToService``
on ``PassRole``, tags on the API), so the tests evaluate it here, with the request's context
keys, as IAM does for one identity policy:

* a statement applies when its action, its resource and every condition in it match;
* an applicable ``Deny`` wins; otherwise an applicable ``Allow`` allows; otherwise no;
* a condition operator matches when any of the context's values matches any of its values;
  a key absent from the context fails a positive operator and satisfies a negated one
  (``StringNotEquals``, ``ArnNotLike``, ...), as IAM's documentation says.

A role's effective permissions are its identity policy *and* its permissions boundary
(:func:`effective`): what the boundary does not allow, no inline policy can grant.
Reference: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatlib.local.gateway.policy import arn_matches

__all__ = ["effective", "evaluate"]

Context = Mapping[str, str | list[str]]


def _values(value: Any) -> list[str]:
    return [str(item) for item in (value if isinstance(value, list) else [value])]


def _operator_matches(operator: str, wanted: list[str], given: list[str] | None) -> bool:
    negated = "Not" in operator
    base = operator.replace("Not", "")
    if base in {"StringEquals", "ArnEquals", "ArnLike", "StringLike"}:
        if given is None:
            return negated
        wildcards = base != "StringEquals"
        matched = any(
            arn_matches(pattern, value) if wildcards else pattern == value
            for pattern in wanted
            for value in given
        )
        return matched != negated
    raise ValueError(f"condition operator {operator} is not evaluated here")


def _conditions_hold(conditions: Mapping[str, Any], context: Context) -> bool:
    lowered = {key.lower(): _values(value) for key, value in context.items()}
    return all(
        _operator_matches(operator, _values(wanted), lowered.get(key.lower()))
        for operator, keys in conditions.items()
        for key, wanted in keys.items()
    )


def _matches(statement: Mapping[str, Any], name: str, value: str, *, ignore_case: bool) -> bool:
    negated = f"Not{name}" in statement
    patterns = _values(statement[f"Not{name}" if negated else name])
    if ignore_case:
        found = any(arn_matches(p.lower(), value.lower()) for p in patterns)
    else:
        found = any(arn_matches(p, value) for p in patterns)
    return found != negated


def evaluate(policy: Mapping[str, Any], action: str, resource: str, context: Context = {}) -> bool:  # noqa: B006 - read only
    """True when ``policy`` allows ``action`` on ``resource`` in this request ``context``."""
    allowed = False
    raw = policy["Statement"]
    for statement in raw if isinstance(raw, list) else [raw]:
        if not _matches(statement, "Action", action, ignore_case=True):
            continue
        if not _matches(statement, "Resource", resource, ignore_case=False):
            continue
        if not _conditions_hold(statement.get("Condition", {}), context):
            continue
        if statement["Effect"] == "Deny":
            return False
        allowed = True
    return allowed


def effective(
    identity: Mapping[str, Any],
    boundary: Mapping[str, Any] | None,
    action: str,
    resource: str,
    context: Context = {},  # noqa: B006 - read only
) -> bool:
    """What a role may do: allowed by its own policy and, if it has one, by its boundary."""
    return evaluate(identity, action, resource, context) and (
        boundary is None or evaluate(boundary, action, resource, context)
    )
