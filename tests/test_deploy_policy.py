"""The deploying identity's policy (infra_cfn/deploy-policy.json), proven two ways.

1. Every AWS call chatlib makes to deploy, update (broadcast -> rooms -> auth), issue a
   token, rotate the secret and tear down is recorded on the embedded AWS through botocore's
   event hooks, turned into the IAM action and resource AWS would authorize, and checked
   against the policy with the IAM evaluator the local gateway uses (wildcards, Deny wins).
   Calls made by ``chatlib.local`` (the moto bridge doing CloudFormation's work, the gateway
   reading its deployment) are not chatlib's own: part 2 covers what they stand for.
2. What CloudFormation calls on the caller's behalf for each resource the template can
   declare (every step, every optional resource) is read from CloudFormation's registry
   schemas, which cfn-lint ships: each permission of the create, read, update and delete
   handlers must be allowed, with the request's condition keys (the role's permissions
   boundary, the service a role is passed to, the API's tag), unless the template never uses
   the feature it serves (listed below, each with its reason). The read handler matters:
   CloudFormation reads each resource after creating it, and a read it may not make fails
   the deploy.
3. The policy cannot be turned into administrator rights: a role without the functions'
   boundary, a boundary removed or replaced, the boundary policy rewritten, a role passed to
   another service are all refused, and a role given an inline ``*:*`` policy still can do
   only what the boundary allows.

The policy has conditions, so it is evaluated with ``iam_conditions`` (IAM's rules, condition
keys included), not the gateway's condition-less evaluator.
"""

from __future__ import annotations

import contextlib
import fnmatch
import inspect
import json
from pathlib import Path

import boto3
import cfnlint
import pytest
from iam_conditions import effective, evaluate

from chatlib.deploy import (
    CHAT_TEMPLATE,
    DEPLOY_POLICY,
    deploy_policy,
    deploy_stack,
    issue_token,
    rotate_token_secret,
    teardown_stack,
)
from chatlib.deploy.boundary import boundary_arn, ensure_boundary, function_boundary
from chatlib.deploy.template import Resolver, load_template

STACK = "live-chat"  # a notebook's name: the old README policy (chat-*) did not cover it
REGION, ACCOUNT = "us-east-1", "123456789012"

# s3 operations whose IAM action is not "s3:<Operation>"
S3_ACTIONS = {
    "HeadBucket": "ListBucket",
    "HeadObject": "GetObject",
    "ListObjectVersions": "ListBucketVersions",
    "PutBucketEncryption": "PutEncryptionConfiguration",
    "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
}


def iam_requests(service: str, operation: str, params: dict, change_sets: dict) -> list:
    """The (action, resource) pairs AWS authorizes for one API call."""
    if service == "s3":
        bucket = f"arn:aws:s3:::{params['Bucket']}"
        if operation == "DeleteObjects":
            objects = params["Delete"]["Objects"]
            return [
                (f"s3:DeleteObject{'Version' if 'VersionId' in o else ''}", f"{bucket}/{o['Key']}")
                for o in objects
            ]
        action = f"s3:{S3_ACTIONS.get(operation, operation)}"
        return [(action, f"{bucket}/{params['Key']}" if "Key" in params else bucket)]
    if service == "cloudformation":
        stack = params.get("StackName") or change_sets[params["ChangeSetName"]]
        arn = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack}/0f0e0d0c"
        return [(f"cloudformation:{operation}", arn)]
    if service == "secretsmanager" and "SecretId" in params:
        return [(f"secretsmanager:{operation}", params["SecretId"])]
    if service == "iam" and "PolicyArn" in params:
        return [(f"iam:{operation}", params["PolicyArn"])]
    return [(f"{service}:{operation}", "*")]


def _from_chatlib_local() -> bool:
    return any(
        frame.frame.f_globals.get("__name__", "").startswith("chatlib.local")
        for frame in inspect.stack(0)
    )


@contextlib.contextmanager
def recording():
    """Record ``(call, action, resource)`` for every AWS call this process makes."""
    calls: list[tuple[str, str, str]] = []
    change_sets: dict[str, str] = {}

    def before(params, model, **_):
        if _from_chatlib_local():
            return
        service = model.service_model.signing_name
        for action, resource in iam_requests(service, model.name, params, change_sets):
            calls.append((f"{service}.{model.name}({_summary(params)})", action, resource))

    def after(parsed, model, context=None, **_):
        if model.name == "CreateChangeSet" and "Id" in parsed:
            change_sets[parsed["Id"]] = parsed.get("StackId", "").split("/")[1] or STACK

    events = boto3._get_default_session().events
    events.register("provide-client-params", before, unique_id="deploy-policy-before")
    events.register("after-call.cloudformation.CreateChangeSet", after, unique_id="dp-after")
    try:
        yield calls
    finally:
        events.unregister("provide-client-params", unique_id="deploy-policy-before")
        events.unregister("after-call.cloudformation.CreateChangeSet", unique_id="dp-after")


def _summary(params: dict) -> str:
    keys = ("StackName", "ChangeSetName", "Bucket", "Key", "SecretId", "VersionStage")
    return ", ".join(f"{k}={str(params[k])[:60]}" for k in keys if k in params)


def refused(policy: dict, calls) -> list[str]:
    return [
        f"{call} needs {action} on {resource}"
        for call, action, resource in calls
        if not evaluate(policy, action, resource)
    ]


@pytest.fixture(scope="module")
def recorded(stack):
    quiet = dict(progress=lambda _: None)
    ensure_boundary(STACK, **quiet)  # an administrator's one-time step, not the deployer's
    with recording() as calls:
        for step in ("broadcast", "rooms", "auth"):
            deploy_stack(CHAT_TEMPLATE, stack_name=STACK, parameters={"Step": step}, **quiet)
        issue_token(stack_name=STACK, user_id="alice", rooms=["blue"])
        rotate_token_secret(stack_name=STACK)
        teardown_stack(STACK, **quiet)
    return calls


def test_every_call_a_deploy_update_token_and_teardown_make_is_allowed(recorded):
    operations = {call.split("(")[0] for call, _, _ in recorded}
    assert {  # the recording saw the whole life of the stack
        "cloudformation.CreateChangeSet",
        "cloudformation.ExecuteChangeSet",
        "cloudformation.DeleteStack",
        "s3.PutObject",
        "s3.DeleteBucket",
        "secretsmanager.GetSecretValue",
        "secretsmanager.PutSecretValue",
        "iam.GetPolicy",  # the boundary is there; the deployer never creates it
    } <= operations
    assert "iam.CreatePolicy" not in operations
    assert refused(deploy_policy(STACK), recorded) == []


def test_a_missing_permission_names_the_call_that_needs_it(recorded):
    policy = deploy_policy(STACK)
    for statement in policy["Statement"]:
        statement["Action"] = [
            a for a in statement["Action"] if a != "secretsmanager:PutSecretValue"
        ]
    assert refused(policy, recorded) == [
        next(
            f"{call} needs {action} on {resource}"
            for call, action, resource in recorded
            if action == "secretsmanager:PutSecretValue"
        )
    ]
    assert (
        "secretsmanager.PutSecretValue(SecretId=arn:aws:secretsmanager:"
        in refused(policy, recorded)[0]
    )
    assert refused(deploy_policy("other-chat"), recorded)  # scoped to the stack's name


# ---------------------------------------------------------------------- part 2: CloudFormation
SCHEMAS = Path(cfnlint.__file__).parent / "data" / "schemas"
# (resource type or *, permission pattern, why CloudFormation never needs it for this template)
NOT_NEEDED = [
    ("*", "ec2:*", "no function runs in a VPC (checkov CKV_AWS_117)"),
    ("*", "elasticfilesystem:*", "no function mounts a file system"),
    ("*", "s3files:*", "no function mounts a file system"),
    ("*", "kms:*", "no KMS key: the table uses the free AWS-owned key (no SSESpecification)"),
    ("*", "kinesis:*", "the table streams nowhere"),
    ("*", "firehose:*", "the log groups deliver nowhere"),
    ("*", "lambda:PutFunctionCodeSigningConfig", "no code-signing configuration is set"),
    ("*", "lambda:DeleteFunctionCodeSigningConfig", "no code-signing configuration is set"),
    ("*", "lambda:GetCodeSigningConfig", "no code-signing configuration to read"),
    ("*", "lambda:GetLayerVersion", "no layers: PyJWT is in the zip"),
    ("*", "lambda:PublishVersion", "no published versions or aliases"),
    ("*", "lambda:PutFunctionScalingConfig", "no Lambda Managed Instances"),
    ("*", "lambda:PassCapacityProvider", "no Lambda Managed Instances"),
    ("*", "lambda:AssociateRuntimeAlias", "no Lambda Managed Instances"),
    (
        "*",
        "iam:AttachRolePolicy",
        "inline policies only: no managed policy is attached to any role",
    ),
    (
        "*",
        "iam:DeleteRolePermissionsBoundary",
        "denied on purpose: a role without its boundary could be given anything",
    ),
    ("*", "iam:CreateServiceLinkedRole", "only for table replicas and autoscaling"),
    ("AWS::DynamoDB::Table", "dynamodb:*Import*", "the table is not imported from S3"),
    ("AWS::DynamoDB::Table", "dynamodb:*Replica*", "no global-table replicas"),
    ("AWS::DynamoDB::Table", "dynamodb:EnableKinesis*", "the table streams nowhere"),
    ("AWS::DynamoDB::Table", "dynamodb:DisableKinesis*", "the table streams nowhere"),
    ("AWS::DynamoDB::Table", "dynamodb:UpdateKinesis*", "the table streams nowhere"),
    ("AWS::DynamoDB::Table", "dynamodb:PutResourcePolicy", "no resource policy on the table"),
    ("AWS::DynamoDB::Table", "dynamodb:DeleteResourcePolicy", "no resource policy"),
    ("AWS::DynamoDB::Table", "dynamodb:UpdateContributorInsights", "contributor insights off"),
    ("AWS::DynamoDB::Table", "dynamodb:*Item", "item writes and reads: imports and replicas"),
    ("AWS::DynamoDB::Table", "dynamodb:Scan", "item reads: imports and replicas only"),
    ("AWS::DynamoDB::Table", "dynamodb:Query", "item reads: imports and replicas only"),
    ("AWS::DynamoDB::Table", "logs:*", "the import log of an import from S3"),
    ("AWS::DynamoDB::Table", "s3:*", "the source of an import from S3"),
    ("AWS::Logs::LogGroup", "logs:PutDataProtectionPolicy", "no data-protection policy"),
    ("AWS::Logs::LogGroup", "logs:DeleteDataProtectionPolicy", "no data-protection policy"),
    ("AWS::Logs::LogGroup", "logs:*Delivery", "no log delivery"),
    ("AWS::Logs::LogGroup", "logs:PutResourcePolicy", "no resource policy on the groups"),
    ("AWS::Logs::LogGroup", "logs:DeleteResourcePolicy", "no resource policy on the groups"),
    ("AWS::Logs::LogGroup", "logs:PutIndexPolicy", "no field indexes"),
    ("AWS::Logs::LogGroup", "logs:DeleteIndexPolicy", "no field indexes"),
    ("AWS::Logs::LogGroup", "logs:PutBearerTokenAuthentication", "no bearer-token ingestion"),
    ("AWS::Logs::LogGroup", "logs:*KmsKey", "no customer-managed key"),
    ("AWS::Logs::LogGroup", "logs:PutLogGroupDeletionProtection", "deletion is the teardown"),
    ("AWS::Logs::LogGroup", "s3:REST.PUT.OBJECT", "log delivery to S3, unused"),
    ("AWS::SecretsManager::Secret", "secretsmanager:*Regions*", "no replicas in other regions"),
    ("AWS::SNS::Topic", "sns:PutDataProtectionPolicy", "no data-protection policy"),
    ("AWS::SNS::Topic", "iam:*", "no delivery-status logging role"),
    ("AWS::ApiGatewayV2::Api", "s3:*", "the API is not imported from an OpenAPI file in S3"),
    ("AWS::ApiGatewayV2::Integration", "iam:PassRole", "no integration credentials role"),
    ("AWS::ApiGatewayV2::Authorizer", "iam:PassRole", "no authorizer credentials role"),
]
VARIANTS = [  # together, every resource the template can declare
    {
        "Step": step,
        "AlarmEmail": "ops@example.com",
        "AccessLogging": "on",
        "ConnectConcurrency": "5",
        "FanOut": fan_out,
    }  # fmt: skip
    for step in ("broadcast", "rooms", "auth")
    for fan_out in ("single", "sharded")
]
HANDLERS = ("create", "read", "update", "delete")
API_ID = "a1b2c3d4e5"  # API Gateway's ids are ten characters
MAPPING_ID = "fa123456-14a1-4fd2-9fec-83de64ad683d"  # an event source mapping's UUID


def handler_permissions(resource_type: str) -> set[str]:
    index = json.loads((SCHEMAS / "providers" / f"{REGION}.json").read_text())
    schema = json.loads((SCHEMAS / "resources" / f"{index[resource_type]}.json").read_text())
    handlers = schema.get("handlers", {})
    return {
        permission
        for handler in HANDLERS
        for permission in handlers.get(handler, {}).get("permissions", [])
    }


def not_needed(resource_type: str, permission: str) -> bool:
    return any(
        kind in {"*", resource_type} and fnmatch.fnmatchcase(permission, pattern)
        for kind, pattern, _ in NOT_NEEDED
    )


def request_for(permission: str, logical_id: str, resources: dict) -> tuple[str, dict]:
    """The ARN AWS authorizes ``permission`` on, when CloudFormation manages ``logical_id``,
    and the request's condition keys."""
    resource = resources[logical_id]
    kind, properties = resource["Type"], resource.get("Properties", {})
    service = permission.split(":")[0]
    if kind == "AWS::Lambda::EventSourceMapping" and service == "lambda":
        # mappings are named by a UUID; Create/Update/Delete carry the function's ARN
        function = resources[properties["FunctionName"].removeprefix("<Ref ").rstrip(">")]
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function['Properties']['FunctionName']}"
        mapping = f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{MAPPING_ID}"
        return mapping, {"lambda:FunctionArn": arn}
    if kind == "AWS::Lambda::Permission":
        logical_id = properties["FunctionName"].removeprefix("<Ref ").rstrip(">")
        resource, properties = resources[logical_id], resources[logical_id]["Properties"]
    if service == "iam":
        role = properties["Role"].split()[1].split(".")[0] if "Role" in properties else logical_id
        path = resources[role]["Properties"]["Path"]
        context = {
            "iam:PermissionsBoundary": resources[role]["Properties"]["PermissionsBoundary"],
            "iam:PassedToService": "lambda.amazonaws.com",
        }
        return f"arn:aws:iam::{ACCOUNT}:role{path}{STACK}-{role}-A1B2C3D4E5F6", context
    if service == "s3":  # the function's code
        return f"arn:aws:s3:::{STACK}-artifacts-{ACCOUNT}-{REGION}/chatlib/lambda-0.zip", {}
    if service == "apigateway":
        tags = resources["ChatApi"]["Properties"]["Tags"]
        context = {f"aws:{kind}Tag/{key}": value for key, value in tags.items()
                   for kind in ("Request", "Resource")}  # fmt: skip
        api = f"arn:aws:apigateway:{REGION}::/apis"
        if permission in {"apigateway:TagResource", "apigateway:UntagResource"}:
            return f"arn:aws:apigateway:{REGION}::/tags/{api}/{API_ID}", context
        if kind.endswith("::Api"):
            return (api if permission == "apigateway:POST" else f"{api}/{API_ID}"), context
        return f"{api}/{API_ID}/{kind.rsplit('::')[-1].lower()}s/x1", context
    generated = f"{STACK}-{logical_id}-A1B2C3D4E5F6"  # CloudFormation's name for unnamed ones
    return {
        "lambda": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{properties.get('FunctionName')}",
        "dynamodb": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{generated}",
        "logs": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{properties.get('LogGroupName')}:*",
        "secretsmanager": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:"
        f"{properties.get('Name')}-AbCdEf",
        "cloudwatch": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{generated}",
        "sns": f"arn:aws:sns:{REGION}:{ACCOUNT}:{generated}",
        "sqs": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{properties.get('QueueName')}",
    }[service], {}


def test_what_cloudformation_does_for_each_resource_is_allowed():
    template = load_template(CHAT_TEMPLATE)
    pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::StackName": STACK}
    code = {"CodeBucket": "bucket", "CodeKey": "chatlib/lambda-0.zip"}
    policy = deploy_policy(STACK)
    missing, types, reads = [], set(), set()
    for variant in VARIANTS:
        resources = Resolver(template, {**code, **variant}, pseudo=pseudo).resources()
        for logical_id, resource in resources.items():
            types.add(resource["Type"])
            for permission in sorted(handler_permissions(resource["Type"])):
                if not_needed(resource["Type"], permission):
                    continue
                arn, context = request_for(permission, logical_id, resources)
                reads.add(permission)
                if not evaluate(policy, permission, arn, context):
                    missing.append(f"{logical_id} ({resource['Type']}): {permission} on {arn}")
    assert {  # optional ones too
        "AWS::SNS::Topic",
        "AWS::SecretsManager::Secret",
        "AWS::SQS::Queue",
        "AWS::Lambda::EventSourceMapping",
    } <= types
    assert {  # the read handlers' calls that find a feature absent are covered
        "lambda:GetFunctionCodeSigningConfig",
        "lambda:GetPolicy",
        "lambda:GetFunctionScalingConfig",
        "logs:DescribeIndexPolicies",
        "logs:DescribeResourcePolicies",
        "logs:GetDataProtectionPolicy",
        "sns:GetDataProtectionPolicy",
        "sqs:GetQueueAttributes",  # the queues' read handler
        "sqs:ListQueueTags",
        "lambda:GetEventSourceMapping",  # the mapping's
        "lambda:ListTags",
    } <= reads
    assert sorted(set(missing)) == []


def test_every_exclusion_still_matches_a_permission_and_says_why():
    every = {(t, p) for t in json.loads((SCHEMAS / "providers" / f"{REGION}.json").read_text())
             if t.startswith(("AWS::DynamoDB::Table", "AWS::Lambda::Function", "AWS::IAM::Role",
                              "AWS::Logs::LogGroup", "AWS::SecretsManager::Secret",
                              "AWS::SNS::Topic", "AWS::ApiGatewayV2::", "AWS::SQS::Queue",
                              "AWS::Lambda::EventSourceMapping"))
             for p in handler_permissions(t)}  # fmt: skip
    for kind, pattern, reason in NOT_NEEDED:
        assert len(reason.split()) >= 3, pattern
        assert any(kind in {"*", t} and fnmatch.fnmatchcase(p, pattern) for t, p in every), (
            f"{kind} {pattern} excludes nothing"
        )


# ---------------------------------------------------------------------- part 3: no way up
ROLE = f"arn:aws:iam::{ACCOUNT}:role/chatlib/{STACK}/{STACK}-Mine-A1B2C3D4E5F6"
BOUNDARY = boundary_arn(STACK, ACCOUNT)
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
EVERYTHING = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
API = f"arn:aws:apigateway:{REGION}::/apis"
MAPPING = f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{MAPPING_ID}"


@pytest.mark.parametrize(
    ("action", "resource", "context"),
    [
        ("iam:CreateRole", ROLE, {}),  # no boundary
        ("iam:CreateRole", ROLE, {"iam:PermissionsBoundary": ADMIN}),  # a boundary of one's own
        ("iam:PutRolePolicy", ROLE, {}),  # a *:* policy on a role without the boundary
        ("iam:PutRolePermissionsBoundary", ROLE, {"iam:PermissionsBoundary": ADMIN}),
        ("iam:DeleteRolePermissionsBoundary", ROLE, {"iam:PermissionsBoundary": BOUNDARY}),
        ("iam:AttachRolePolicy", ROLE, {"iam:PermissionsBoundary": BOUNDARY}),
        ("iam:CreatePolicyVersion", BOUNDARY, {}),  # rewrite the boundary itself
        ("iam:SetDefaultPolicyVersion", BOUNDARY, {}),
        ("iam:DeletePolicy", BOUNDARY, {}),
        ("iam:CreatePolicy", BOUNDARY, {}),  # write it first, before an administrator does
        ("iam:PassRole", ROLE, {"iam:PassedToService": "ec2.amazonaws.com"}),
        ("iam:PassRole", ROLE, {}),
        (
            "iam:PassRole",
            f"arn:aws:iam::{ACCOUNT}:role/admin",
            {"iam:PassedToService": "lambda.amazonaws.com"},
        ),
        # another stack whose name starts the same: no shared prefix reaches it
        (
            "iam:CreateRole",
            f"arn:aws:iam::{ACCOUNT}:role/chatlib/{STACK}-2/x",
            {"iam:PermissionsBoundary": boundary_arn(f"{STACK}-2", ACCOUNT)},
        ),
        (
            "lambda:UpdateFunctionCode",
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{STACK}-2-connect",
            {},
        ),
        (
            "dynamodb:DeleteTable",
            f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{STACK}-2-ConnectionsTable-X",
            {},
        ),
        # the account's other APIs: only the one tagged with this stack
        ("apigateway:DELETE", f"{API}/{API_ID}", {}),
        (
            "apigateway:DELETE",
            f"{API}/{API_ID}",
            {"aws:ResourceTag/chatlib:stack": f"{STACK}-2"},
        ),
        ("apigateway:POST", API, {}),  # an untagged API
        # FanOut=sharded: a mapping that feeds another function, or names none
        (
            "lambda:CreateEventSourceMapping",
            MAPPING,
            {"lambda:FunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:billing"},
        ),
        (
            "lambda:UpdateEventSourceMapping",
            MAPPING,
            {"lambda:FunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{STACK}-2-fanout"},
        ),
        ("lambda:DeleteEventSourceMapping", MAPPING, {}),
        ("sqs:DeleteQueue", f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders", {}),
        ("sqs:SetQueueAttributes", f"arn:aws:sqs:{REGION}:{ACCOUNT}:{STACK}-2-fanout", {}),
        ("apigateway:TagResource", f"arn:aws:apigateway:{REGION}::/tags/x", {}),  # tag one's way in
    ],
)
def test_the_deploy_policy_refuses_each_way_to_more_rights(action, resource, context):
    assert not evaluate(deploy_policy(STACK), action, resource, context)


def test_the_same_calls_with_the_boundary_and_for_lambda_are_allowed():
    """The refusals above are the conditions at work, not a policy that allows nothing."""
    policy = deploy_policy(STACK)
    with_boundary = {"iam:PermissionsBoundary": BOUNDARY}
    assert evaluate(policy, "iam:CreateRole", ROLE, with_boundary)
    assert evaluate(policy, "iam:PutRolePolicy", ROLE, with_boundary)
    assert evaluate(policy, "iam:PassRole", ROLE, {"iam:PassedToService": "lambda.amazonaws.com"})
    assert evaluate(policy, "iam:GetPolicy", BOUNDARY)
    tagged = {"aws:ResourceTag/chatlib:stack": STACK, "aws:RequestTag/chatlib:stack": STACK}
    assert evaluate(policy, "apigateway:DELETE", f"{API}/{API_ID}", tagged)
    assert evaluate(policy, "apigateway:POST", API, tagged)
    worker = {"lambda:FunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{STACK}-fanout"}
    assert evaluate(policy, "lambda:CreateEventSourceMapping", MAPPING, worker)
    assert evaluate(policy, "sqs:DeleteQueue", f"arn:aws:sqs:{REGION}:{ACCOUNT}:{STACK}-fanout")


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/me"),
        ("iam:AttachUserPolicy", f"arn:aws:iam::{ACCOUNT}:user/me"),
        ("sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/admin"),
        ("s3:GetObject", "arn:aws:s3:::payroll/2026.csv"),
        ("dynamodb:Scan", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/customers"),
        (
            "dynamodb:Scan",
            f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{STACK}-2-ConnectionsTable-X",
        ),
        (
            "secretsmanager:GetSecretValue",
            f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:db-AbCdEf",
        ),
        ("lambda:UpdateFunctionCode", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:billing"),
    ],
)
def test_a_role_given_an_inline_star_policy_still_has_only_the_boundary(action, resource):
    """What the deploy policy lets through (a role with the boundary, and any inline policy
    at all) can do nothing the boundary does not allow: effective = policy AND boundary."""
    with_boundary = {"iam:PermissionsBoundary": BOUNDARY}
    assert evaluate(deploy_policy(STACK), "iam:PutRolePolicy", ROLE, with_boundary)
    assert evaluate(EVERYTHING, action, resource)  # the inline policy alone would allow it
    assert not effective(EVERYTHING, function_boundary(STACK), action, resource)


def test_the_boundary_allows_what_the_functions_do():
    boundary = function_boundary(STACK)
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{STACK}-ConnectionsTable-A1B2C3D4E5F6"
    assert effective(EVERYTHING, boundary, "dynamodb:Query", f"{table}/index/roomId-index")
    post = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/dev/POST/@connections/abc="
    assert effective(EVERYTHING, boundary, "execute-api:ManageConnections", post)


def test_the_evaluator_follows_iams_rules_for_conditions():
    """What the refusals above rest on: a condition on a key the request lacks fails a
    positive operator and holds for a negated one; Deny wins only where its conditions hold;
    an operator the evaluator does not know is an error, never a guess."""
    allow = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    only_tagged = {**allow, "Condition": {"StringEquals": {"aws:ResourceTag/team": "chat"}}}
    tagged = {"aws:resourcetag/team": "chat"}  # condition keys ignore case
    assert evaluate({"Statement": [only_tagged]}, "s3:GetObject", "x", tagged)
    assert not evaluate({"Statement": [only_tagged]}, "s3:GetObject", "x")
    unless_other = {**allow, "Condition": {"StringNotEquals": {"aws:ResourceTag/team": "other"}}}
    assert evaluate({"Statement": [unless_other]}, "s3:GetObject", "x")
    deny_other = {"Effect": "Deny", "Action": "*", "Resource": "*",
                  "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:*:other"}}}  # fmt: skip
    both = {"Statement": [allow, deny_other]}
    assert evaluate(both, "s3:GetObject", "x", {"aws:SourceArn": "arn:aws:sns:r:1:mine"})
    assert not evaluate(both, "s3:GetObject", "x", {"aws:SourceArn": "arn:aws:sns:r:1:other"})
    with pytest.raises(ValueError, match="NumericLessThan"):
        numeric = {**allow, "Condition": {"NumericLessThan": {"k": "1"}}}
        evaluate({"Statement": [numeric]}, "s3:GetObject", "x")


@pytest.mark.parametrize("name", ["README.md", "README.ja.md"])
def test_the_readme_shows_the_policy_file(name):
    readme = (Path(__file__).resolve().parents[1] / name).read_text()
    blocks = [json.loads(part.split("```")[0]) for part in readme.split("```json\n")[1:]]
    assert json.loads(DEPLOY_POLICY.read_text()) in blocks


def test_the_deploy_policy_fits_an_inline_role_policy():
    """Notebook 07 attaches the policy inline to the deployer role, and IAM refuses an inline
    role policy past 10,240 characters, white space not counted (the IAM quotas page:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html); the sharded
    fan-out's statements brought it near that."""
    compact = json.dumps(json.loads(DEPLOY_POLICY.read_text()), separators=(",", ":"))
    assert len(compact) <= 10_240, f"{len(compact):,} characters"
