"""Evaluating a Lambda authorizer's IAM policy against the method ARN (pure, no I/O).

API Gateway allows a ``$connect`` only if some statement with ``Effect: Allow`` covers
``execute-api:Invoke`` on the request's method ARN and no ``Deny`` statement does (an
explicit Deny always wins, as everywhere in IAM). ARNs in ``Resource`` may use ``*`` and
``?`` wildcards.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["arn_matches", "policy_allows"]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def arn_matches(pattern: str, arn: str) -> bool:
    """Whether ``arn`` matches an IAM resource ``pattern`` with ``*`` and ``?`` wildcards."""
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.fullmatch(regex, arn, re.S) is not None


def _action_matches(actions: Iterable[str], wanted: str = "execute-api:Invoke") -> bool:
    return any(arn_matches(action.lower(), wanted.lower()) for action in actions)


def policy_allows(policy: Any, method_arn: str) -> bool:
    """True when ``policy`` allows ``execute-api:Invoke`` on ``method_arn``.

    Raises ``ValueError`` for a document that is not a policy at all, which API Gateway
    answers with 500 rather than 403.
    """
    if not isinstance(policy, dict) or "Statement" not in policy:
        raise ValueError("the authorizer returned no policyDocument with a Statement")
    allowed = False
    for statement in _as_list(policy["Statement"]):
        if not isinstance(statement, dict):
            raise ValueError("a policy statement is not an object")
        if not _action_matches(_as_list(statement.get("Action"))):
            continue
        if not any(arn_matches(r, method_arn) for r in _as_list(statement.get("Resource"))):
            continue
        effect = statement.get("Effect")
        if effect == "Deny":
            return False
        if effect == "Allow":
            allowed = True
    return allowed
