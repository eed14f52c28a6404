"""The REQUEST authorizer step of a ``$connect`` handshake, as API Gateway runs it.

1. Every identity source (``route.request.querystring.X``, ``route.request.header.X``) must
   be present and non-empty, or the handshake gets 401 without the function being invoked.
2. The function gets a REQUEST event (built by :meth:`EventFactory.authorizer_request`, the
   same code as every other event) with the ``methodArn`` of this API's ``$connect``.
3. It raising ``Exception("Unauthorized")`` means 401; any other failure 500.
4. Its result must be an object of at most 8 KB with a policy (:mod:`.policy`) that allows
   ``execute-api:Invoke`` on the method ARN: not a policy at all is 500, not allowed 403.
5. Allowed: the scalar values of its ``context`` plus ``principalId`` become
   ``requestContext.authorizer`` on every later event of the connection.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from chatlib.local.event_factory import EventFactory
from chatlib.local.gateway.deployment import Authorizer, Deployment, FunctionConfig
from chatlib.local.gateway.lambda_runtime import Invocation
from chatlib.local.gateway.policy import policy_allows

__all__ = [
    "MAX_AUTHORIZER_RESULT_BYTES",
    "AuthorizerDecision",
    "authorize",
    "decide",
    "connect_method_arn",
    "first_missing_identity",
    "missing_identity",
]

#: Largest authorizer result API Gateway accepts.
MAX_AUTHORIZER_RESULT_BYTES = 8 * 1024

Invoke = Callable[[FunctionConfig, dict[str, Any]], Awaitable[Invocation]]


@dataclass(frozen=True)
class AuthorizerDecision:
    """Either a refusal (the handshake's status) or the context the connection carries."""

    refusal: HTTPStatus | None = None
    context: dict[str, Any] | None = None
    #: Why, for the gateway's log (never for the client): a missing identity source, say.
    reason: str = ""


def missing_identity(
    identity_sources: tuple[str, ...], query: Mapping[str, str], headers: Mapping[str, str]
) -> bool:
    """Whether an identity source is absent or empty (API Gateway then answers 401 at once)."""
    return first_missing_identity(identity_sources, query, headers) is not None


def first_missing_identity(
    identity_sources: tuple[str, ...], query: Mapping[str, str], headers: Mapping[str, str]
) -> str | None:
    """The first identity source that is absent or empty, or ``None``."""
    lowered = {name.lower(): value for name, value in headers.items()}
    for source in identity_sources:
        if source.startswith("route.request.querystring."):
            if not query.get(source.removeprefix("route.request.querystring.")):
                return source
        elif source.startswith("route.request.header."):
            if not lowered.get(source.removeprefix("route.request.header.").lower()):
                return source
    return None


def connect_method_arn(deployment: Deployment, function: FunctionConfig) -> str:
    """``arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/$connect``."""
    account = function.arn.split(":")[4]
    return (
        f"arn:aws:execute-api:{deployment.region}:{account}:"
        f"{deployment.api_id}/{deployment.stage}/$connect"
    )


def decide(invocation: Invocation, method_arn: str) -> AuthorizerDecision:
    """What API Gateway makes of an authorizer's answer (pure)."""
    if not invocation.ok:
        unauthorized = invocation.error_message == "Unauthorized"
        status = HTTPStatus.UNAUTHORIZED if unauthorized else HTTPStatus.INTERNAL_SERVER_ERROR
        return AuthorizerDecision(refusal=status)
    result = invocation.result
    if not isinstance(result, dict) or len(json.dumps(result)) > MAX_AUTHORIZER_RESULT_BYTES:
        return AuthorizerDecision(refusal=HTTPStatus.INTERNAL_SERVER_ERROR)
    try:
        allowed = policy_allows(result.get("policyDocument"), method_arn)
    except ValueError:
        return AuthorizerDecision(refusal=HTTPStatus.INTERNAL_SERVER_ERROR)
    if not allowed:
        return AuthorizerDecision(refusal=HTTPStatus.FORBIDDEN)
    context = result.get("context") or {}
    if not isinstance(context, dict):
        return AuthorizerDecision(refusal=HTTPStatus.INTERNAL_SERVER_ERROR)
    scalars = {k: v for k, v in context.items() if isinstance(v, str | int | float | bool)}
    return AuthorizerDecision(context={**scalars, "principalId": result.get("principalId", "")})


async def authorize(
    authorizer: Authorizer,
    deployment: Deployment,
    events: EventFactory,
    connection_id: str,
    *,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    invoke: Invoke,
) -> AuthorizerDecision:
    """Run the authorizer step for one handshake; ``invoke`` runs a function."""
    missing = first_missing_identity(authorizer.identity_sources, query, headers)
    if missing is not None:
        return AuthorizerDecision(
            refusal=HTTPStatus.UNAUTHORIZED, reason=f"the identity source {missing} is missing"
        )
    method_arn = connect_method_arn(deployment, authorizer.function)
    event = events.authorizer_request(
        connection_id, method_arn=method_arn, query=query, headers=headers
    )
    return decide(await invoke(authorizer.function, event), method_arn)
