"""Finish, on moto, the parts of a stack that moto's CloudFormation leaves undone.

moto's CloudFormation creates the table, roles, functions, log groups and permissions, but

* skips ``AWS::ApiGatewayV2::*``, ``AWS::CloudWatch::Alarm`` and
  ``AWS::SecretsManager::Secret`` (no model for them),
* ignores the table's ``TimeToLiveSpecification``,
* on an update, keeps functions' configuration and roles' inline policies as they were,
* leaves outputs and permissions' ``SourceArn`` that refer to skipped resources unresolved.

After moto has run a change set, :func:`reconcile` makes moto's services hold what the
template declares, through the same boto3 control-plane calls: the API with its routes,
integrations, authorizers and stage in ``apigatewayv2`` (so the local gateway serves exactly
the deployed stack), the alarms, TTL, function configuration, role policies and invoke
permissions (the local gateway checks them); and it resolves the outputs. Nothing here runs
against AWS: the deploy helper reaches this module only through :mod:`chatlib.deploy.emulator`,
when the endpoint the clients talk to is not AWS's. Each step reports a line, as a stack event.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import boto3

from chatlib.deploy.template import Resolver
from chatlib.local.bridge_permissions import put_permission
from chatlib.table import enable_ttl

__all__ = ["outputs", "reconcile", "remove"]

_API = "AWS::ApiGatewayV2::Api"
_API_CHILDREN = (  # created in this order: each may refer to the ones before
    "AWS::ApiGatewayV2::Authorizer",
    "AWS::ApiGatewayV2::Integration",
    "AWS::ApiGatewayV2::Route",
)
_STAGE = "AWS::ApiGatewayV2::Stage"
_ALARM = "AWS::CloudWatch::Alarm"
_SECRET = "AWS::SecretsManager::Secret"
_STACK_TAG = "chatlib:stack"
_LOGICAL_TAG = "chatlib:logical-id"

Progress = Callable[[str], None]


def _listed_resources(stack_name: str) -> dict[str, str]:
    """``ListStackResources`` as {logical id: physical id}; moto lists skipped types blank."""
    pages = (
        boto3.client("cloudformation")
        .get_paginator("list_stack_resources")
        .paginate(StackName=stack_name)
    )
    return {
        summary["LogicalResourceId"]: summary["PhysicalResourceId"]
        for page in pages
        for summary in page["StackResourceSummaries"]
        if summary.get("LogicalResourceId")
    }


class _StackView:
    """Physical ids and attributes of a stack's resources, as the resolver asks for them."""

    def __init__(self, stack_name: str, template: Mapping[str, Any]) -> None:
        self.stack_name = stack_name
        self.template = template
        self.physical_ids = _listed_resources(stack_name)
        self.region = boto3.client("cloudformation").meta.region_name
        self.account = boto3.client("sts").get_caller_identity()["Account"]

    def ref(self, logical_id: str) -> str:
        try:
            return self.physical_ids[logical_id]
        except KeyError:
            raise LookupError(f"{logical_id} has not been created (yet)") from None

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource_type = self.template["Resources"][logical_id]["Type"]
        physical = self.ref(logical_id)
        if (resource_type, attribute) == ("AWS::Lambda::Function", "Arn"):
            return boto3.client("lambda").get_function_configuration(FunctionName=physical)[
                "FunctionArn"
            ]
        if (resource_type, attribute) == ("AWS::IAM::Role", "Arn"):
            return boto3.client("iam").get_role(RoleName=physical)["Role"]["Arn"]
        if (resource_type, attribute) == ("AWS::DynamoDB::Table", "Arn"):
            return boto3.client("dynamodb").describe_table(TableName=physical)["Table"]["TableArn"]
        if (resource_type, attribute) == ("AWS::Logs::LogGroup", "Arn"):
            return f"arn:aws:logs:{self.region}:{self.account}:log-group:{physical}:*"
        raise LookupError(f"the bridge cannot resolve {logical_id}.{attribute}")

    def resolver(self, parameters: Mapping[str, str]) -> Resolver:
        return Resolver(
            self.template,
            parameters,
            pseudo={
                "AWS::Region": self.region,
                "AWS::AccountId": self.account,
                "AWS::StackName": self.stack_name,
            },
            ref=self.ref,
            get_att=self.get_att,
        )


def reconcile(
    stack_name: str,
    template: Mapping[str, Any],
    parameters: Mapping[str, str],
    progress: Progress = print,
) -> dict[str, Any]:
    """Make moto hold what ``template`` declares for ``stack_name``; return the outputs."""
    view = _StackView(stack_name, template)
    resolver = view.resolver(parameters)
    declared = {
        logical_id: resource["Type"]
        for logical_id, resource in template["Resources"].items()
        if resolver.included(logical_id)
    }

    made: list[str] = []

    def report(logical_id: str, status: str, what: str) -> None:
        made.append(declared[logical_id] if status == "CREATE_COMPLETE" else f"{what}")

    for logical_id, resource_type in declared.items():
        if resource_type == _SECRET:
            arn, created = _ensure_secret(stack_name, logical_id, resolver)
            view.physical_ids[logical_id] = arn
            if created:
                report(logical_id, "CREATE_COMPLETE", "generated in moto's Secrets Manager")
    _build_api(stack_name, declared, view, resolver, report)
    for logical_id, resource_type in declared.items():
        if resource_type == "AWS::DynamoDB::Table":
            if _enable_ttl(view.ref(logical_id), resolver.resource(logical_id)["Properties"]):
                report(logical_id, "UPDATE_COMPLETE", f"TTL on {logical_id}")
        elif resource_type == "AWS::Lambda::Function":
            _configure_function(view.ref(logical_id), resolver.resource(logical_id)["Properties"])
        elif resource_type == "AWS::IAM::Role":
            _put_role_policies(view.ref(logical_id), resolver.resource(logical_id)["Properties"])
        elif resource_type == "AWS::Lambda::Permission":
            put_permission(logical_id, resolver.resource(logical_id)["Properties"])
    for logical_id, resource_type in declared.items():
        if resource_type == _ALARM:
            _put_alarm(stack_name, logical_id, resolver.resource(logical_id)["Properties"])
            report(logical_id, "CREATE_COMPLETE", "put in moto's CloudWatch")
    _delete_stale_alarms(stack_name, {k for k, v in declared.items() if v == _ALARM})
    if made:
        progress(f"  bridge  made in moto what its CloudFormation skips: {summarize(made)}")
    return resolver.outputs()


def summarize(made: list[str]) -> str:
    """One line for a learner: ``ApiGatewayV2 Api, 4 Integrations, …; CloudWatch 2 Alarms``."""
    services: dict[str, Counter[str]] = {}
    for _, service, kind in (item.split("::") for item in made if item.startswith("AWS::")):
        services.setdefault(service, Counter())[kind] += 1
    parts = [
        f"{service} " + ", ".join(f"{n} {kind}s" if n > 1 else kind for kind, n in counts.items())
        for service, counts in services.items()
    ]
    return "; ".join(parts + [item for item in made if not item.startswith("AWS::")])


def outputs(
    stack_name: str, template: Mapping[str, Any], parameters: Mapping[str, str]
) -> dict[str, Any]:
    """The stack's outputs, resolved against what the bridge made earlier; changes nothing."""
    view = _StackView(stack_name, template)
    apigateway = boto3.client("apigatewayv2")
    for api in _stack_apis(apigateway, stack_name):
        view.physical_ids[api["Tags"][_LOGICAL_TAG]] = api["ApiId"]
    for logical_id, arn in _stack_secrets(stack_name).items():
        view.physical_ids[logical_id] = arn
    return view.resolver(parameters).outputs()


def remove(stack_name: str, progress: Progress = print) -> None:
    """Delete what :func:`reconcile` made for ``stack_name`` (moto deletes the rest)."""
    apigateway = boto3.client("apigatewayv2")
    for api in _stack_apis(apigateway, stack_name):
        apigateway.delete_api(ApiId=api["ApiId"])
        progress(f"  bridge  DELETE_COMPLETE  {_API:<34} {api['Tags'].get(_LOGICAL_TAG, '')}")
    _delete_stale_alarms(stack_name, set())
    secretsmanager = boto3.client("secretsmanager")
    for logical_id, arn in _stack_secrets(stack_name).items():
        secretsmanager.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
        progress(f"  bridge  DELETE_COMPLETE  {_SECRET:<34} {logical_id}")


# ---------------------------------------------------------------------- secrets
def _stack_secrets(stack_name: str) -> dict[str, str]:
    """{logical id: ARN} of the secrets the bridge made for ``stack_name``."""
    secretsmanager = boto3.client("secretsmanager")
    found = {}
    for page in secretsmanager.get_paginator("list_secrets").paginate():
        for secret in page["SecretList"]:
            tags = {tag["Key"]: tag["Value"] for tag in secret.get("Tags", [])}
            if tags.get(_STACK_TAG) == stack_name:
                found[tags[_LOGICAL_TAG]] = secret["ARN"]
    return found


def _ensure_secret(stack_name: str, logical_id: str, resolver: Resolver) -> tuple[str, bool]:
    """The secret's ARN, creating it with a generated value the first time (as AWS would)."""
    existing = _stack_secrets(stack_name)
    if logical_id in existing:
        return existing[logical_id], False
    properties = resolver.resource(logical_id)["Properties"]
    secretsmanager = boto3.client("secretsmanager")
    generate = properties.get("GenerateSecretString")
    if generate is not None:
        options = {
            key: value
            for key, value in generate.items()
            if key in {"PasswordLength", "ExcludePunctuation", "ExcludeCharacters"}
        }
        if "PasswordLength" in options:
            options["PasswordLength"] = int(options["PasswordLength"])
        if "ExcludePunctuation" in options:
            options["ExcludePunctuation"] = _true(options["ExcludePunctuation"])
        value = secretsmanager.get_random_password(**options)["RandomPassword"]
    else:
        value = properties["SecretString"]
    arn = secretsmanager.create_secret(
        Name=properties.get("Name") or f"{stack_name}-{logical_id}",
        Description=properties.get("Description", ""),
        SecretString=value,
        Tags=[
            {"Key": _STACK_TAG, "Value": stack_name},
            {"Key": _LOGICAL_TAG, "Value": logical_id},
        ],
    )["ARN"]
    return arn, True


# ---------------------------------------------------------------------- the API
def _stack_apis(apigateway: Any, stack_name: str) -> list[dict[str, Any]]:
    return [
        api
        for api in apigateway.get_apis().get("Items", [])
        if (api.get("Tags") or {}).get(_STACK_TAG) == stack_name
    ]


def _build_api(
    stack_name: str,
    declared: Mapping[str, str],
    view: _StackView,
    resolver: Resolver,
    report: Callable[[str, str, str], None],
) -> None:
    apigateway = boto3.client("apigatewayv2")
    existing = {api["Tags"].get(_LOGICAL_TAG): api for api in _stack_apis(apigateway, stack_name)}
    wanted = [logical_id for logical_id, kind in declared.items() if kind == _API]
    for logical_id, api in existing.items():
        if logical_id not in wanted:
            apigateway.delete_api(ApiId=api["ApiId"])
    for logical_id in wanted:
        properties = resolver.resource(logical_id)["Properties"]
        settings = {
            "Name": properties["Name"],
            "RouteSelectionExpression": properties.get("RouteSelectionExpression"),
        }
        settings = {key: value for key, value in settings.items() if value is not None}
        if logical_id in existing:
            api_id = existing[logical_id]["ApiId"]
            apigateway.update_api(ApiId=api_id, **settings)
            _clear_api(apigateway, api_id)
            report(logical_id, "UPDATE_COMPLETE", f"{logical_id} updated in place (same URL)")
        else:
            api_id = apigateway.create_api(
                ProtocolType=properties["ProtocolType"],
                Tags={_STACK_TAG: stack_name, _LOGICAL_TAG: logical_id},
                **settings,
            )["ApiId"]
            report(logical_id, "CREATE_COMPLETE", "created in moto's apigatewayv2")
        view.physical_ids[logical_id] = api_id

    for resource_type in (*_API_CHILDREN, _STAGE):
        for logical_id, kind in declared.items():
            if kind == resource_type:
                properties = resolver.resource(logical_id)["Properties"]
                view.physical_ids[logical_id] = _create_child(apigateway, kind, properties)
                report(logical_id, "CREATE_COMPLETE", "created in moto's apigatewayv2")


def _clear_api(apigateway: Any, api_id: str) -> None:
    """Remove routes, integrations and authorizers: the template's are created afresh.

    moto has no ``GetAuthorizers``; the authorizers to delete are those the routes use.
    """
    authorizers = set()
    for route in apigateway.get_routes(ApiId=api_id).get("Items", []):
        if route.get("AuthorizerId"):
            authorizers.add(route["AuthorizerId"])
        apigateway.delete_route(ApiId=api_id, RouteId=route["RouteId"])
    for integration in apigateway.get_integrations(ApiId=api_id).get("Items", []):
        apigateway.delete_integration(ApiId=api_id, IntegrationId=integration["IntegrationId"])
    for authorizer_id in sorted(authorizers):
        apigateway.delete_authorizer(ApiId=api_id, AuthorizerId=authorizer_id)


def _create_child(apigateway: Any, kind: str, properties: dict[str, Any]) -> str:
    if kind == "AWS::ApiGatewayV2::Authorizer":
        return apigateway.create_authorizer(**properties)["AuthorizerId"]
    if kind == "AWS::ApiGatewayV2::Integration":
        return apigateway.create_integration(**properties)["IntegrationId"]
    if kind == "AWS::ApiGatewayV2::Route":
        return apigateway.create_route(**properties)["RouteId"]
    api_id, name = properties["ApiId"], properties["StageName"]
    settings = {key: value for key, value in properties.items() if key not in {"ApiId"}}
    try:  # moto has no UpdateStage: a stage is replaced (its URL stays the same)
        apigateway.delete_stage(ApiId=api_id, StageName=name)
    except apigateway.exceptions.NotFoundException:
        pass
    apigateway.create_stage(ApiId=api_id, **settings)
    return name


# ---------------------------------------------------------------------- the rest
def _enable_ttl(table_name: str, properties: Mapping[str, Any]) -> bool:
    specification = properties.get("TimeToLiveSpecification")
    if not specification or not _true(specification.get("Enabled")):
        return False
    return enable_ttl(table_name, specification["AttributeName"])


def _configure_function(name: str, properties: Mapping[str, Any]) -> None:
    lambda_client = boto3.client("lambda")
    settings = {
        key: properties[key]
        for key in ("Handler", "Runtime", "Role", "Environment")
        if key in properties
    }
    for key in ("Timeout", "MemorySize"):
        if key in properties:
            settings[key] = int(properties[key])
    lambda_client.update_function_configuration(FunctionName=name, **settings)
    code = properties.get("Code", {})
    if "S3Bucket" in code and "S3Key" in code:
        lambda_client.update_function_code(
            FunctionName=name, S3Bucket=code["S3Bucket"], S3Key=code["S3Key"]
        )


def _put_role_policies(role_name: str, properties: Mapping[str, Any]) -> None:
    iam = boto3.client("iam")
    wanted = {
        policy["PolicyName"]: policy["PolicyDocument"] for policy in properties.get("Policies", [])
    }
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        if name not in wanted:
            iam.delete_role_policy(RoleName=role_name, PolicyName=name)
    for name, document in wanted.items():
        iam.put_role_policy(
            RoleName=role_name, PolicyName=name, PolicyDocument=json.dumps(document)
        )


def _alarm_name(stack_name: str, logical_id: str) -> str:
    return f"{stack_name}-{logical_id}"


def _put_alarm(stack_name: str, logical_id: str, properties: Mapping[str, Any]) -> None:
    alarm = {key: value for key, value in properties.items() if key != "AlarmName"}
    for key in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
        if key in alarm:
            alarm[key] = int(alarm[key])
    alarm["Threshold"] = float(alarm["Threshold"])
    for query in alarm.get("Metrics", []):
        if "ReturnData" in query:
            query["ReturnData"] = _true(query["ReturnData"])
    boto3.client("cloudwatch").put_metric_alarm(
        AlarmName=properties.get("AlarmName") or _alarm_name(stack_name, logical_id), **alarm
    )


def _delete_stale_alarms(stack_name: str, keep: set[str]) -> None:
    cloudwatch = boto3.client("cloudwatch")
    prefix = f"{stack_name}-"
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix=prefix)
    names = [
        alarm["AlarmName"]
        for group in ("MetricAlarms", "CompositeAlarms")
        for alarm in alarms.get(group, [])
        # {stack}-{LogicalId}: logical ids have no "-", so "chat-x-Foo" is not chat's
        if "-" not in alarm["AlarmName"][len(prefix) :]
        and alarm["AlarmName"][len(prefix) :] not in keep
    ]
    if names:
        cloudwatch.delete_alarms(AlarmNames=names)


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"
