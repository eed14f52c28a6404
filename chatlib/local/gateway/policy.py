"""Evaluating an IAM policy document for one action on one resource (pure, no I/O).

API Gateway allows a ``$connect`` only if the Lambda authorizer's policy allows
``execute-api:Invoke`` on the request's method ARN (:func:`policy_allows`). The same evaluator
checks the deploying identity's policy against the calls a deploy makes
(``tests/test_deploy_policy.py``), so it follows IAM's rules for one identity policy:

* a statement applies when its ``Action`` matches the action (or its ``NotAction`` does not)
  and its ``Resource`` matches the resource (or its ``NotResource`` does not);
* an applicable ``Deny`` always wins; otherwise an applicable ``Allow`` allows; otherwise
  the answer is no (implicit deny);
* actions and ARNs may use ``*`` and ``?`` wildcards; actions ignore case, ARNs do not.

A document that is not a policy (no ``Statement``, a statement that is not an object, an
``Effect`` other than Allow/Deny, an action or resource that is not a string, both ``Action``
and ``NotAction``) raises ``ValueError`` before anything is decided: API Gateway answers such
an authorizer with 500, not 403. Conditions are not evaluated; a statement with a
``Condition`` is refused rather than guessed at.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["arn_matches", "evaluate", "policy_allows", "statements"]


def arn_matches(pattern: str, arn: str) -> bool:
    """Whether ``arn`` matches an IAM resource ``pattern`` with ``*`` and ``?`` wildcards."""
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.fullmatch(regex, arn, re.S) is not None


def _strings(statement: dict[str, Any], key: str) -> list[str] | None:
    """The statement's ``key`` as a list of strings, ``None`` if absent; else ValueError."""
    if key not in statement:
        return None
    value = statement[key]
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(item, str) and item for item in values):
        raise ValueError(f"a statement's {key} must be a non-empty string or list of strings")
    return values


def _pair(statement: dict[str, Any], name: str) -> tuple[list[str], bool]:
    """(patterns, negated) for ``Action``/``NotAction`` or ``Resource``/``NotResource``."""
    plain, negated = _strings(statement, name), _strings(statement, f"Not{name}")
    if (plain is None) == (negated is None):
        raise ValueError(f"a statement needs exactly one of {name} and Not{name}")
    return (plain, False) if plain is not None else (negated or [], True)


def statements(policy: Any) -> list[tuple[str, tuple[list[str], bool], tuple[list[str], bool]]]:
    """The policy's statements as (effect, actions, resources), every one checked first."""
    if not isinstance(policy, dict) or "Statement" not in policy:
        raise ValueError("the document is not a policy: it has no Statement")
    raw = policy["Statement"]
    checked = []
    for statement in raw if isinstance(raw, list) else [raw]:
        if not isinstance(statement, dict):
            raise ValueError("a policy statement is not an object")
        effect = statement.get("Effect")
        if effect not in {"Allow", "Deny"}:
            raise ValueError(f"a statement's Effect must be Allow or Deny, not {effect!r}")
        if "Condition" in statement:
            raise ValueError("statements with a Condition are not evaluated here")
        checked.append((effect, _pair(statement, "Action"), _pair(statement, "Resource")))
    return checked


def _applies(patterns: tuple[list[str], bool], value: str, *, ignore_case: bool) -> bool:
    values, negated = patterns
    if ignore_case:
        matched = any(arn_matches(p.lower(), value.lower()) for p in values)
    else:
        matched = any(arn_matches(p, value) for p in values)
    return matched != negated


def evaluate(policy: Any, action: str, resource: str) -> bool:
    """True when ``policy`` allows ``action`` on ``resource`` (explicit Deny wins)."""
    allowed = False
    for effect, actions, resources in statements(policy):  # all checked before deciding
        if not _applies(actions, action, ignore_case=True):
            continue
        if not _applies(resources, resource, ignore_case=False):
            continue
        if effect == "Deny":
            return False
        allowed = True
    return allowed


def policy_allows(policy: Any, method_arn: str) -> bool:
    """True when an authorizer's ``policy`` allows ``execute-api:Invoke`` on ``method_arn``."""
    return evaluate(policy, "execute-api:Invoke", method_arn)
