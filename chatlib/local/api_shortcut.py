"""The local shortcut: a WebSocket API and its functions defined in one call.

Notebook 02 makes these calls by hand (``iam create_role``, ``lambda create_function`` with
a zip, ``apigatewayv2 create_api``/``create_integration``/``create_route``/``create_stage``,
``lambda add_permission``); :func:`define_api_shortcut` is the same in one call, for the
notebooks and tests that need a chat before notebook 04 teaches the template. It makes the
same control-plane calls a template would, so the local gateway serves exactly what was
defined. It is not a deploy: no stack, and one role without policies for every function.

The code: every function gets one zip holding chatlib's Lambda code and PyJWT (what
:func:`chatlib.deploy.build_package` packs) plus, when ``environment["PYTHONPATH"]`` names
folders, every file in them at the zip's root (so ``Handler: my_module.handler`` finds
``my_module.py``). ``PYTHONPATH`` itself is not passed on: a path on this machine means
nothing to Lambda. The local runtime runs that zip, as Lambda would.

:func:`define_chat_shortcut` routes as ``infra_cfn/chat.yaml`` does at a teaching step (the
route table comes from the template itself, :func:`chatlib.deploy.route_handlers`).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from chatlib.deploy.package import build_package
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


_SKIPPED = {"__pycache__", ".ipynb_checkpoints"}


def code_zip(folders: list[str]) -> bytes:
    """chatlib's Lambda package plus every file of ``folders`` at the zip's root."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(build_package().data)) as packaged,
        zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        taken = {name.split("/")[0] for name in packaged.namelist()}
        for info in packaged.infolist():
            archive.writestr(info, packaged.read(info))
        for folder in folders:
            root = Path(folder)
            for path in sorted(root.rglob("*")):
                relative = path.relative_to(root)
                if not path.is_file() or any(
                    part in _SKIPPED or part.startswith(".") for part in relative.parts
                ):
                    continue
                if relative.parts[0] in taken:
                    raise ValueError(f"{path}: the zip already has {relative.parts[0]!r}")
                info = zipfile.ZipInfo(relative.as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
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
    code: bytes,
) -> str:
    settings = {
        "Handler": handler,
        "Role": role,
        "Environment": {"Variables": dict(environment)},
        "Timeout": timeout,
        "Runtime": "python3.12",
    }
    try:
        lambda_client.update_function_configuration(FunctionName=name, **settings)
    except lambda_client.exceptions.ResourceNotFoundException:
        return lambda_client.create_function(FunctionName=name, Code={"ZipFile": code}, **settings)[
            "FunctionArn"
        ]
    return lambda_client.update_function_code(FunctionName=name, ZipFile=code)["FunctionArn"]


def _allow_api_gateway(lambda_client: Any, function_arn: str, source_arn: str) -> None:
    """``lambda add_permission``: API Gateway may invoke the function from ``source_arn``."""
    statement = "apigateway-" + "".join(c if c.isalnum() else "-" for c in source_arn.split(":")[5])
    lambda_client.add_permission(
        FunctionName=function_arn,
        StatementId=statement[:100],
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=source_arn,
    )


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
    is exactly what was asked for; functions are created or updated in place (code too),
    and each gets the invoke permission for its route.
    """
    apigateway, lambda_client = boto3.client("apigatewayv2"), boto3.client("lambda")
    region = apigateway.meta.region_name
    prefix = function_prefix or name
    environment = dict(environment or {})
    folders = [f for f in environment.pop("PYTHONPATH", "").split(os.pathsep) if f]
    code = code_zip(folders)
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

    def execute_api(function_arn: str, resource: str) -> str:
        account = function_arn.split(":")[4]
        return f"arn:aws:execute-api:{region}:{account}:{api_id}/{resource}"

    names: dict[str, str] = {}
    authorizer_id = None
    if authorizer is not None:
        names["authorizer"] = f"{prefix}-authorizer"
        arn = _function(
            lambda_client,
            name=names["authorizer"],
            handler=authorizer.handler,
            role=role,
            environment=environment,
            timeout=timeout,
            code=code,
        )
        authorizer_id = apigateway.create_authorizer(
            ApiId=api_id,
            Name=f"{prefix}-authorizer",
            AuthorizerType="REQUEST",
            AuthorizerUri=uri(arn),
            IdentitySource=list(authorizer.identity_sources),
        )["AuthorizerId"]
        _allow_api_gateway(lambda_client, arn, execute_api(arn, f"authorizers/{authorizer_id}"))
    for route_key, handler in routes.items():
        function_name = f"{prefix}-{route_key.strip('$') or 'route'}"
        names[route_key] = function_name
        arn = _function(
            lambda_client,
            name=function_name,
            handler=handler,
            role=role,
            environment=environment,
            timeout=timeout,
            code=code,
        )
        _allow_api_gateway(lambda_client, arn, execute_api(arn, f"*/{route_key}"))
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
