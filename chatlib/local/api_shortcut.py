"""The local shortcut: the chat's API defined with boto3 calls, before CloudFormation is taught.

Notebooks 02, 03 and 06 need a deployed chat before notebook 04 teaches the template. This
makes the same ``apigatewayv2`` and ``lambda`` control-plane calls a template would, in the
embedded AWS, so the local gateway serves exactly what was defined. It is not a deploy: no
stack, no roles worth the name, no package. The route table comes from
``infra_cfn/chat.yaml`` itself (:func:`chatlib.deploy.route_handlers`), so the shortcut and
the template cannot disagree about which handler serves which route.

Note what the local runtime does with the functions' code: it runs the ``Handler`` from the
installed ``chatlib`` (or from the function's own ``PYTHONPATH``), not the uploaded zip,
which here is a placeholder.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3

from chatlib.deploy.template import CHAT_TEMPLATE, load_template, route_handlers
from chatlib.table import create_connection_table

__all__ = ["AuthorizerSpec", "DefinedApi", "define_api_shortcut", "define_chat_shortcut"]

_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@dataclass(frozen=True)
class AuthorizerSpec:
    handler: str
    identity_sources: tuple[str, ...] = ("route.request.querystring.token",)


@dataclass(frozen=True)
class DefinedApi:
    api_id: str
    stage: str
    function_names: dict[str, str]  # route key (or "authorizer") -> function name


def _placeholder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "The local runtime runs the Handler from chatlib itself.\n")
    return buffer.getvalue()


def _role_arn(iam: Any, name: str) -> str:
    try:
        return iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(_TRUST_POLICY))[
            "Role"
        ]["Arn"]


def _function(
    lambda_client: Any,
    *,
    name: str,
    handler: str,
    role: str,
    environment: Mapping[str, str],
    timeout: int,
) -> str:
    settings = {
        "Handler": handler,
        "Role": role,
        "Environment": {"Variables": dict(environment)},
        "Timeout": timeout,
        "Runtime": "python3.12",
    }
    try:
        return lambda_client.update_function_configuration(FunctionName=name, **settings)[
            "FunctionArn"
        ]
    except lambda_client.exceptions.ResourceNotFoundException:
        return lambda_client.create_function(
            FunctionName=name, Code={"ZipFile": _placeholder_zip()}, **settings
        )["FunctionArn"]


def define_api_shortcut(
    name: str,
    routes: Mapping[str, str],
    *,
    stage: str = "dev",
    environment: Mapping[str, str] | None = None,
    timeout: int = 10,
    authorizer: AuthorizerSpec | None = None,
    route_selection_expression: str = "$request.body.action",
    function_prefix: str | None = None,
) -> DefinedApi:
    """Create (or replace) the WebSocket API ``name`` with one Lambda function per route.

    ``routes`` maps route keys to handler paths, e.g. ``{"$connect": "chatlib.handlers.
    connect.handler"}``. An existing API of the same name is deleted first, so the result
    is exactly what was asked for; functions are created or updated in place.
    """
    apigateway, lambda_client = boto3.client("apigatewayv2"), boto3.client("lambda")
    region = apigateway.meta.region_name
    prefix = function_prefix or name
    for api in apigateway.get_apis().get("Items", []):
        if api["Name"] == name and api.get("ProtocolType") == "WEBSOCKET":
            apigateway.delete_api(ApiId=api["ApiId"])
    role = _role_arn(boto3.client("iam"), f"{prefix}-lambda")
    api_id = apigateway.create_api(
        Name=name, ProtocolType="WEBSOCKET", RouteSelectionExpression=route_selection_expression
    )["ApiId"]

    def uri(function_arn: str) -> str:
        return (
            f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/"
            f"{function_arn}/invocations"
        )

    names: dict[str, str] = {}
    authorizer_id = None
    if authorizer is not None:
        names["authorizer"] = f"{prefix}-authorizer"
        arn = _function(
            lambda_client,
            name=names["authorizer"],
            handler=authorizer.handler,
            role=role,
            environment=environment or {},
            timeout=timeout,
        )
        authorizer_id = apigateway.create_authorizer(
            ApiId=api_id,
            Name=f"{prefix}-authorizer",
            AuthorizerType="REQUEST",
            AuthorizerUri=uri(arn),
            IdentitySource=list(authorizer.identity_sources),
        )["AuthorizerId"]
    for route_key, handler in routes.items():
        function_name = f"{prefix}-{route_key.strip('$') or 'route'}"
        names[route_key] = function_name
        arn = _function(
            lambda_client,
            name=function_name,
            handler=handler,
            role=role,
            environment=environment or {},
            timeout=timeout,
        )
        integration_id = apigateway.create_integration(
            ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=uri(arn)
        )["IntegrationId"]
        route: dict[str, Any] = {"Target": f"integrations/{integration_id}"}
        if route_key == "$connect" and authorizer_id is not None:
            route.update(AuthorizationType="CUSTOM", AuthorizerId=authorizer_id)
        apigateway.create_route(ApiId=api_id, RouteKey=route_key, **route)
    apigateway.create_stage(ApiId=api_id, StageName=stage, AutoDeploy=True)
    return DefinedApi(api_id, stage, names)


#: The steps the shortcut can define: the auth step needs the template's secret and authorizer.
SHORTCUT_STEPS = ("broadcast", "rooms")


def define_chat_shortcut(
    step: str = "rooms",
    *,
    name: str = "chat",
    table_name: str = "chat-connections",
    stage: str = "dev",
) -> DefinedApi:
    """The chat of a teaching step (``"broadcast"`` or ``"rooms"``), with its table, routed
    as ``infra_cfn/chat.yaml`` routes it at that step."""
    if step not in SHORTCUT_STEPS:
        raise ValueError(f"step must be one of {list(SHORTCUT_STEPS)}, not {step!r}")
    create_connection_table(table_name)
    template = load_template(CHAT_TEMPLATE)
    routes = route_handlers(template, {"Step": step, "CodeBucket": "-", "CodeKey": "-"})
    return define_api_shortcut(
        name, routes, stage=stage, environment={"CONNECTIONS_TABLE": table_name}
    )
