"""Notebook 04's exercise check: your own ``whisper`` route, deployed with the stack.

``check_whisper_route(stack_name, whisper_resources)`` reads what is deployed, as an AWS engineer
would before blaming the code: the API has a ``whisper`` route, its function may be invoked by
API Gateway for that route only, its role may Query ``userId-index`` and post to connections
and nothing wider, and the stage waits for the route. Then it drives a whisper through the local
gateway: alice whispers to bob, who is connected twice (two rooms); both of bob's connections
get it, carol (in alice's room) and alice do not. The first thing that is wrong is the hint.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3

__all__ = ["check_whisper_route"]

_WIDE = {"*", "dynamodb:*", "execute-api:*"}


def check_whisper_route(stack_name: str, whisper_resources: str) -> str:
    """One sentence: Correct!, Not quite (with the first problem found), or Not answered yet."""
    if "TODO" in whisper_resources:
        return "Not answered yet: replace each TODO in WHISPER_RESOURCES, then deploy."
    try:
        problem = _deployed_problem(stack_name) or _delivery_problem(stack_name)
    except Exception as error:  # what is deployed could not even be read
        return f"Not quite: reading stack {stack_name} failed ({error}); did the update run?"
    if problem:
        return f"Not quite: {problem}"
    return (
        "Correct! Both of bob's connections got alice's whisper and nobody else did, "
        "through a route, a function and a role you declared and deployed yourself."
    )


# ---------------------------------------------------------------------- what is deployed
def _deployed_problem(stack_name: str) -> str | None:
    cloudformation = boto3.client("cloudformation")
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] not in {"CREATE_COMPLETE", "UPDATE_COMPLETE"}:
        return f"the stack is {stack['StackStatus']}: read describe_stack_events for the reason."
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    api_id = outputs["ApiId"]
    apigateway = boto3.client("apigatewayv2")
    routes = {r["RouteKey"]: r for r in apigateway.get_routes(ApiId=api_id)["Items"]}
    if "whisper" not in routes:
        return (
            "the deployed API has no whisper route: add a WhisperRoute (RouteKey: whisper, "
            "Target: integrations/${WhisperIntegration}) and deploy again."
        )
    integration_id = routes["whisper"].get("Target", "").removeprefix("integrations/")
    integrations = {
        i["IntegrationId"]: i for i in apigateway.get_integrations(ApiId=api_id)["Items"]
    }
    if integration_id not in integrations:
        return "the whisper route's Target is not an integration: integrations/<its id>, by !Sub."
    uri = integrations[integration_id]
    function = uri["IntegrationUri"].split(":function:")[1].split("/")[0]
    return (
        _permission_problem(function, api_id)
        or _role_problem(function)
        or _stage_problem(cloudformation, stack_name)
    )


def _permission_problem(function: str, api_id: str) -> str | None:
    lambda_client = boto3.client("lambda")
    try:
        policy = json.loads(lambda_client.get_policy(FunctionName=function)["Policy"])
    except lambda_client.exceptions.ResourceNotFoundException:
        policy = {"Statement": []}
    for statement in policy["Statement"]:
        principal = statement.get("Principal", {})
        service = principal.get("Service") if isinstance(principal, dict) else principal
        source = statement.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn", "")
        if service == "apigateway.amazonaws.com" and f":{api_id}/" in source:
            if not source.endswith("/whisper"):
                return f"{function} may be invoked for {source}: allow the whisper route only."
            return None
    return (
        f"API Gateway may not invoke {function}: add a WhisperPermission "
        "(AWS::Lambda::Permission, Principal apigateway.amazonaws.com, SourceArn ending "
        "in /*/whisper)."
    )


def _role_problem(function: str) -> str | None:
    role_name = (
        boto3.client("lambda")
        .get_function_configuration(FunctionName=function)["Role"]
        .rsplit("/", 1)[1]
    )
    iam = boto3.client("iam")
    if not iam.get_role(RoleName=role_name)["Role"].get("PermissionsBoundary"):
        return f"role {role_name} has no PermissionsBoundary: every role of the stack carries one."
    statements = list(_statements(iam, role_name))
    for statement in statements:
        wide = _WIDE & set(_listed(statement["Action"]))
        if wide or "*" in _listed(statement["Resource"]):
            return f"role {role_name} allows {sorted(wide) or 'any resource'}: name what it needs."
        if "dynamodb:Scan" in _listed(statement["Action"]):
            return f"role {role_name} may Scan the table: a whisper Queries userId-index."
    queries = [s for s in statements if "dynamodb:Query" in _listed(s["Action"])]
    if not queries or not all(
        resource.endswith("/index/userId-index")
        for statement in queries
        for resource in _listed(statement["Resource"])
    ):
        return f"role {role_name} should allow dynamodb:Query on the userId-index only."
    if not any("execute-api:ManageConnections" in _listed(s["Action"]) for s in statements):
        return f"role {role_name} may not post to connections (execute-api:ManageConnections)."
    return None


def _statements(iam: Any, role_name: str) -> Iterator[dict[str, Any]]:
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
        if isinstance(document, str):
            document = json.loads(document)
        for statement in document["Statement"]:
            if statement.get("Effect") == "Allow":
                yield statement


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _stage_problem(cloudformation: Any, stack_name: str) -> str | None:
    from chatlib.deploy.template import load_template

    body = cloudformation.get_template(StackName=stack_name)["TemplateBody"]
    template = load_template(body)  # boto3 hands a JSON template back as a dict already
    stage = next(
        resource
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::ApiGatewayV2::Stage"
    )
    if "WhisperRoute" not in _listed(stage.get("DependsOn", [])):
        return (
            "the stage does not depend on WhisperRoute: a new stack could then deploy the API "
            "before the route exists. Add it to ChatStage's DependsOn."
        )
    return None


# ---------------------------------------------------------------------- through the gateway
def _delivery_problem(stack_name: str) -> str | None:
    from chatlib.course.nb03 import who_got_the_whisper
    from chatlib.deploy import stack_outputs
    from chatlib.local.gateway.stack import start_local_stack

    local = start_local_stack()
    got = who_got_the_whisper(local.local_url(stack_outputs(stack_name)["WebSocketUrl"]))
    if got == {"bob@blue", "bob@green"}:
        return None
    errors = [line for line in local.logs(f"{stack_name}-whisper") if "ERROR" in line]
    hint = f" The function logged: {errors[-1].strip()}" if errors else ""
    return f"{sorted(got) or 'nobody'} got alice's whisper; expected bob@blue and bob@green.{hint}"
