"""Read what is deployed: a WebSocket API from ``apigatewayv2`` and its functions from Lambda.

The local gateway serves exactly this. It reads the control plane (moto's, locally; the same
calls would read AWS's) and never a description of its own: a route that is not defined is
not served, a function's handler, environment, timeout and code (``CodeSha256``) are the
ones Lambda reports. Each integration also gets Lambda's answer to "may API Gateway invoke
this function from this route?", read from the function's policy (``GetPolicy``;
:mod:`.invoke_permission`): a route whose function refuses is served as AWS serves it, with
the failure the client would see.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

import boto3

from chatlib.local.gateway.invoke_permission import (
    authorizer_source_arn,
    invoke_refusal,
    route_source_arn,
)

__all__ = [
    "Authorizer",
    "Deployment",
    "FunctionConfig",
    "Route",
    "function_config",
    "load_deployment",
]

_LAMBDA_IN_URI = re.compile(r"(arn:aws[\w-]*:lambda:[^/]+:function:[^/:]+(?::[^/]+)?)")


@dataclass(frozen=True)
class FunctionConfig:
    name: str
    arn: str
    handler: str  # "package.module.function", as Lambda's Handler setting
    environment: dict[str, str] = field(default_factory=dict)
    timeout: float = 3.0  # seconds
    memory_size: int = 128
    code_sha256: str = ""  # new code, new instances (part of the instance pool's key)
    #: Why API Gateway may not invoke it for the route (or authorizer) that names it here, or
    #: None if its policy allows it. Not part of the pool key: a permission added later does
    #: not restart the function.
    invoke_refusal: str | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Authorizer:
    authorizer_id: str
    name: str
    function: FunctionConfig
    identity_sources: tuple[str, ...]  # e.g. "route.request.querystring.token"


@dataclass(frozen=True)
class Route:
    key: str
    function: FunctionConfig | None  # None: the route exists but has no Lambda integration
    authorizer: Authorizer | None = None
    two_way: bool = False  # a route response is configured: the integration's body is returned


@dataclass(frozen=True)
class Deployment:
    api_id: str
    name: str
    stage: str
    route_selection_expression: str
    routes: dict[str, Route]
    region: str

    @property
    def functions(self) -> list[FunctionConfig]:
        seen: dict[str, FunctionConfig] = {}
        for route in self.routes.values():
            for function in (route.function, route.authorizer and route.authorizer.function):
                if function is not None:
                    seen.setdefault(function.arn, function)
        return list(seen.values())


def function_config(lambda_client: Any, arn: str) -> FunctionConfig:
    """A function as Lambda reports it now (``GetFunctionConfiguration``): what the runtime
    starts its instances with, whoever invokes it (a route, an authorizer, a queue)."""
    config = lambda_client.get_function_configuration(FunctionName=arn)
    return FunctionConfig(
        name=config["FunctionName"],
        arn=config["FunctionArn"],
        handler=config["Handler"],
        environment=dict((config.get("Environment") or {}).get("Variables") or {}),
        timeout=float(config.get("Timeout", 3)),
        memory_size=int(config.get("MemorySize", 128)),
        code_sha256=config.get("CodeSha256", ""),
    )


def _function_arn(uri: str) -> str:
    match = _LAMBDA_IN_URI.search(uri or "")
    if not match:
        raise ValueError(f"integration URI {uri!r} does not name a Lambda function")
    return match.group(1)


def _paged(call: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """apigatewayv2's Get* calls page with NextToken (boto3 has no paginator for all of them)."""
    items: list[dict[str, Any]] = []
    while True:
        response = call(**kwargs)
        items += response.get("Items", [])
        token = response.get("NextToken")
        if not token:
            return items
        kwargs["NextToken"] = token


def load_deployment(
    api_id: str | None = None,
    stage: str | None = None,
    *,
    apigateway: Any = None,
    lambda_client: Any = None,
) -> Deployment:
    """Load one WebSocket API and stage. With one WebSocket API deployed, ``api_id`` may be
    omitted; with one stage, so may ``stage``."""
    apigateway = apigateway or boto3.client("apigatewayv2")
    lambda_client = lambda_client or boto3.client("lambda")
    apis = [a for a in _paged(apigateway.get_apis) if a.get("ProtocolType") == "WEBSOCKET"]
    if api_id is not None:
        apis = [a for a in apis if a["ApiId"] == api_id]
    if len(apis) != 1:
        names = ", ".join(f"{a['Name']} ({a['ApiId']})" for a in apis) or "none"
        raise LookupError(
            f"expected one WebSocket API{' with id ' + api_id if api_id else ''}, found: {names}"
        )
    api = apis[0]
    stages = [s["StageName"] for s in _paged(apigateway.get_stages, ApiId=api["ApiId"])]
    if stage is None:
        if len(stages) != 1:
            raise LookupError(f"API {api['ApiId']} has stages {stages}: name the one to serve")
        stage = stages[0]
    elif stage not in stages:
        raise LookupError(f"API {api['ApiId']} has no stage {stage!r} (it has {stages})")

    functions: dict[str, FunctionConfig] = {}

    def function(arn: str) -> FunctionConfig:
        if arn not in functions:
            functions[arn] = function_config(lambda_client, arn)
        return functions[arn]

    policies: dict[str, dict[str, Any] | None] = {}

    def invocable(arn: str, source_arn: str) -> FunctionConfig:
        """The function as API Gateway may (or may not) invoke it from ``source_arn``."""
        config = function(arn)
        if config.arn not in policies:
            try:
                document = lambda_client.get_policy(FunctionName=config.arn)["Policy"]
                policies[config.arn] = json.loads(document)
            except lambda_client.exceptions.ResourceNotFoundException:
                policies[config.arn] = None  # no policy at all: nobody may invoke it
        return replace(
            config, invoke_refusal=invoke_refusal(policies[config.arn], config.arn, source_arn)
        )

    region = apigateway.meta.region_name

    def source(arn: str) -> tuple[str, str]:
        """The region and account API Gateway presents: the function's account, here."""
        return region, arn.split(":")[4]

    integrations = {
        i["IntegrationId"]: i for i in _paged(apigateway.get_integrations, ApiId=api["ApiId"])
    }
    authorizers: dict[str, Authorizer] = {}

    def authorizer(authorizer_id: str) -> Authorizer | None:
        # one GetAuthorizer per id: moto implements no GetAuthorizers
        if authorizer_id not in authorizers:
            item = apigateway.get_authorizer(ApiId=api["ApiId"], AuthorizerId=authorizer_id)
            if item.get("AuthorizerType") != "REQUEST":
                return None
            arn = _function_arn(item["AuthorizerUri"])
            source_arn = authorizer_source_arn(*source(arn), api["ApiId"], authorizer_id)
            authorizers[authorizer_id] = Authorizer(
                authorizer_id=authorizer_id,
                name=item.get("Name", ""),
                function=invocable(arn, source_arn),
                identity_sources=tuple(item.get("IdentitySource") or ()),
            )
        return authorizers[authorizer_id]

    routes: dict[str, Route] = {}
    for item in _paged(apigateway.get_routes, ApiId=api["ApiId"]):
        target = item.get("Target") or ""
        integration = integrations.get(target.removeprefix("integrations/"))
        handler = None
        if integration and integration.get("IntegrationType") in {"AWS_PROXY", "AWS"}:
            arn = _function_arn(integration.get("IntegrationUri", ""))
            source_arn = route_source_arn(*source(arn), api["ApiId"], stage, item["RouteKey"])
            handler = invocable(arn, source_arn)
        route_authorizer = None
        if item.get("AuthorizationType") == "CUSTOM" and item.get("AuthorizerId"):
            route_authorizer = authorizer(item["AuthorizerId"])
        routes[item["RouteKey"]] = Route(
            key=item["RouteKey"],
            function=handler,
            authorizer=route_authorizer,
            two_way=bool(item.get("RouteResponseSelectionExpression")),
        )
    return Deployment(
        api_id=api["ApiId"],
        name=api.get("Name", ""),
        stage=stage,
        route_selection_expression=api.get("RouteSelectionExpression", "$request.body.action"),
        routes=routes,
        region=region,
    )
