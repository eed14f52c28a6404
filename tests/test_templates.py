"""The templates in infra_cfn/: lint-clean, least privilege, and only the intended differences.

Everything here reads the templates without deploying them (the deploys are in
test_deploy.py): cfn-lint, then the resolved resources of every teaching step.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import iam_conditions
import pytest
import yaml

from chatlib.deploy import CHAT_TEMPLATE
from chatlib.deploy.boundary import boundary_arn, function_boundary
from chatlib.deploy.changes import ResourceChange, compare_templates, render_changes
from chatlib.deploy.template import Resolver, TemplateError, load_template, route_handlers

INFRA = Path(__file__).resolve().parents[1] / "infra_cfn"
TEMPLATES = sorted(INFRA.glob("*.yaml"))
CHAT = CHAT_TEMPLATE
STEPS = ["broadcast", "rooms", "auth"]
CODE = {"CodeBucket": "bucket", "CodeKey": "chatlib/lambda-0.zip"}
CFN_LINT = str(Path(sys.executable).with_name("cfn-lint"))
PSEUDO = {"AWS::Region": "eu-west-1", "AWS::AccountId": "111122223333", "AWS::StackName": "chat"}

# What each function may do, and nothing more: the DynamoDB actions its handler calls, posting
# to @connections where it answers someone, and writing its own logs.
ALLOWED = {
    "ConnectFunction": {"dynamodb:PutItem"},
    "DisconnectFunction": {"dynamodb:DeleteItem"},
    "AuthorizerFunction": {"secretsmanager:GetSecretValue"},
    "DefaultFunction": {"dynamodb:GetItem", "execute-api:ManageConnections"},
    "SendMessageFunction": {
        "dynamodb:GetItem",
        "dynamodb:DeleteItem",
        "execute-api:ManageConnections",
    },
    # FanOut=sharded: the worker takes pages from its queue (what Lambda's poller does with
    # the role), posts them, and forgets connections that are gone
    "FanOutFunction": {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "execute-api:ManageConnections",
        "dynamodb:DeleteItem",
    },
}
LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}
FINDS_RECIPIENTS = {
    "broadcast": "dynamodb:Scan",
    "rooms": "dynamodb:Query",
    "auth": "dynamodb:Query",
}


#: Every step with the default fan-out, and the rooms and auth steps sharded.
VARIANTS = [(step, "single") for step in STEPS] + [("rooms", "sharded"), ("auth", "sharded")]


def resources(step: str, fan_out: str = "single") -> dict:
    template = load_template(CHAT)
    parameters = {**CODE, "Step": step, "FanOut": fan_out}
    return Resolver(template, parameters, pseudo=PSEUDO).resources()


def statements(role: dict) -> list[dict]:
    return [
        statement
        for policy in role["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.name)
def test_cfn_lint_reports_nothing(template):
    result = subprocess.run([CFN_LINT, str(template)], capture_output=True, text=True)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_cfn_lint_would_catch_a_broken_template(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(CHAT.read_text().replace("Runtime: python3.12", "Runtime: python2.1", 1))
    result = subprocess.run([CFN_LINT, str(broken)], capture_output=True, text=True)
    assert result.returncode != 0 and "python2.1" in result.stdout


@pytest.mark.parametrize(("step", "fan_out"), VARIANTS)
def test_every_function_has_its_own_role_with_only_what_its_handler_uses(step, fan_out):
    declared = resources(step, fan_out)
    functions = {k: v for k, v in declared.items() if v["Type"] == "AWS::Lambda::Function"}
    absent = {"AuthorizerFunction"} if step != "auth" else set()
    absent |= {"FanOutFunction"} if fan_out == "single" else set()
    assert set(functions) == set(ALLOWED) - absent
    roles = [function["Properties"]["Role"] for function in functions.values()]
    assert len(set(roles)) == len(roles), "two functions share a role"
    for logical_id, function in functions.items():
        role_id = function["Properties"]["Role"].removeprefix("<GetAtt ").split(".")[0]
        role = declared[role_id]
        assert "ManagedPolicyArns" not in role["Properties"]
        granted = set()
        for statement in statements(role):
            assert statement["Effect"] == "Allow"
            for action in as_list(statement["Action"]):
                assert "*" not in action, f"{logical_id}: wildcard action {action}"
                granted.add(action)
            for resource in as_list(statement["Resource"]):
                assert resource != "*", f"{logical_id}: {statement['Action']} on every resource"
        expected = ALLOWED[logical_id] | LOGS
        if logical_id == "SendMessageFunction":
            expected = expected | {FINDS_RECIPIENTS[step]}
            expected |= {"sqs:SendMessage"} if fan_out == "sharded" else set()
        assert granted == expected, logical_id


@pytest.mark.parametrize("step", STEPS)
def test_resources_are_scoped_to_this_table_this_api_and_this_stage(step):
    declared = resources(step)
    for role_id in ("DefaultRole", "SendMessageRole"):
        manage = [
            s
            for s in statements(declared[role_id])
            if s["Action"] == "execute-api:ManageConnections"
        ]
        callback = "arn:aws:execute-api:eu-west-1:111122223333:<Ref ChatApi>/dev/{}/@connections/*"
        # POST to deliver; at the auth step DELETE too, to close a connection whose token expired
        methods = ["POST", "DELETE"] if step == "auth" else ["POST"]
        assert [s["Resource"] for s in manage] == [[callback.format(m) for m in methods]]
    for statement in statements(declared["SendMessageRole"]):
        if str(statement["Action"]).startswith("dynamodb:"):
            assert statement["Resource"].startswith("<GetAtt ConnectionsTable.Arn>")
    query = [s for s in statements(declared["SendMessageRole"]) if s["Action"] == "dynamodb:Query"]
    if step != "broadcast":
        assert query[0]["Resource"] == "<GetAtt ConnectionsTable.Arn>/index/roomId-index"
    for route in ("connect", "disconnect", "default", "sendmessage"):
        name = {"connect": "Connect", "disconnect": "Disconnect", "default": "Default"}.get(
            route, "SendMessage"
        )
        permission = declared[f"{name}Permission"]["Properties"]
        assert permission["Principal"] == "apigateway.amazonaws.com"
        assert permission["SourceArn"].endswith(
            f":<Ref ChatApi>/*/{'$' * (route in {'connect', 'disconnect', 'default'})}{route}"
        )


@pytest.mark.parametrize(("step", "fan_out"), VARIANTS)
def test_functions_run_chatlib_handlers_that_exist_on_python_3_12(step, fan_out):
    for logical_id, resource in resources(step, fan_out).items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        properties = resource["Properties"]
        assert properties["Runtime"] == "python3.12"
        queue = {"FANOUT_QUEUE_URL": "<Ref FanOutQueue>"}  # only sendmessage queues pages
        assert properties["Environment"]["Variables"] == (
            {"TOKEN_SECRET_ID": "<Ref TokenSecret>", "TOKEN_SECRET_CACHE_SECONDS": "300"}
            if logical_id == "AuthorizerFunction"
            else {
                "CONNECTIONS_TABLE": "<Ref ConnectionsTable>",
                **(queue if (logical_id, fan_out) == ("SendMessageFunction", "sharded") else {}),
            }
        )
        module, _, name = properties["Handler"].rpartition(".")
        assert callable(getattr(importlib.import_module(module), name)), logical_id


def test_table_log_groups_alarms_and_api_are_declared_as_aws_expects():
    declared = resources("rooms")
    table = declared["ConnectionsTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    # the AWS-owned key (free): SSEEnabled true would pick the AWS-managed key, billed by KMS
    assert "SSESpecification" not in table
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert sorted(i["IndexName"] for i in table["GlobalSecondaryIndexes"]) == [
        "roomId-index",
        "userId-index",
    ]
    groups = [r for r in declared.values() if r["Type"] == "AWS::Logs::LogGroup"]
    assert sorted(g["Properties"]["LogGroupName"] for g in groups) == [
        f"/aws/lambda/chat-{name}" for name in ("connect", "default", "disconnect", "sendmessage")
    ]
    assert all(g["Properties"]["RetentionInDays"] == "14" for g in groups)
    api = declared["ChatApi"]["Properties"]
    assert (api["ProtocolType"], api["RouteSelectionExpression"]) == (
        "WEBSOCKET",
        "$request.body.action",
    )
    routes = sorted(
        r["Properties"]["RouteKey"] for r in declared.values() if r["Type"].endswith("::Route")
    )
    assert routes == ["$connect", "$default", "$disconnect", "sendmessage"]
    metrics = {
        query["MetricStat"]["Metric"]["MetricName"]
        for alarm in declared.values()
        if alarm["Type"] == "AWS::CloudWatch::Alarm"
        for query in alarm["Properties"].get("Metrics", [])
        if "MetricStat" in query
    }
    assert metrics == {"ReadThrottleEvents", "WriteThrottleEvents"}
    assert declared["ConnectCountAlarm"]["Properties"]["MetricName"] == "ConnectCount"


def test_broadcast_and_rooms_differ_only_in_how_sendmessage_finds_recipients():
    changes = compare_templates(resources("broadcast"), resources("rooms"))
    assert changes == [
        ResourceChange("Modify", "SendMessageRole", "AWS::IAM::Role", ("Policies",)),
        ResourceChange("Modify", "SendMessageFunction", "AWS::Lambda::Function", ("Handler",)),
    ]
    assert render_changes(changes).splitlines()[1].startswith("Modify  SendMessageFunction")


def test_the_auth_step_adds_the_authorizer_and_a_verified_connect_and_nothing_else():
    changes = compare_templates(resources("rooms"), resources("auth"))
    assert [c for c in changes if c.action != "Add"] == [
        ResourceChange("Modify", "ConnectFunction", "AWS::Lambda::Function", ("Handler",)),
        ResourceChange(
            "Modify",
            "ConnectRoute",
            "AWS::ApiGatewayV2::Route",
            ("AuthorizationType", "AuthorizerId"),
        ),
        # the roles that answer a caller may also close its connection (an expired token)
        ResourceChange("Modify", "DefaultRole", "AWS::IAM::Role", ("Policies",)),
        ResourceChange("Modify", "SendMessageRole", "AWS::IAM::Role", ("Policies",)),
    ]
    assert {c.logical_id for c in changes if c.action == "Add"} == {
        "TokenSecret",
        "AuthorizerRole",
        "AuthorizerFunction",
        "AuthorizerLogGroup",
        "ChatAuthorizer",
        "AuthorizerPermission",
    }
    declared = resources("auth")
    assert declared["ConnectFunction"]["Properties"]["Handler"] == (
        "chatlib.handlers.connect_verified.handler"
    )
    authorizer = declared["ChatAuthorizer"]["Properties"]
    assert authorizer["AuthorizerType"] == "REQUEST"
    assert authorizer["IdentitySource"] == ["route.request.querystring.roomId"]
    secret = declared["TokenSecret"]["Properties"]
    assert (
        "SecretString" not in secret and int(secret["GenerateSecretString"]["PasswordLength"]) >= 32
    )
    permission = declared["AuthorizerPermission"]["Properties"]["SourceArn"]
    assert permission.endswith(":<Ref ChatApi>/authorizers/<Ref ChatAuthorizer>")


def test_fan_out_defaults_to_single_and_sharded_adds_the_queue_worker_and_mapping():
    """Default ``single``: an existing deploy is unchanged. ``sharded`` adds the queue, its
    dead-letter queue and the worker, and changes only sendmessage's environment and role."""
    template = load_template(CHAT)
    assert template["Parameters"]["FanOut"]["Default"] == "single"
    assert resources("rooms") == Resolver(template, {**CODE}, pseudo=PSEUDO).resources()
    changes = compare_templates(resources("rooms"), resources("rooms", "sharded"))
    assert [c for c in changes if c.action != "Add"] == [
        ResourceChange("Modify", "SendMessageRole", "AWS::IAM::Role", ("Policies",)),
        ResourceChange("Modify", "SendMessageFunction", "AWS::Lambda::Function", ("Environment",)),
    ]
    added = {c.logical_id: c.resource_type for c in changes if c.action == "Add"}
    assert added == {
        "FanOutQueue": "AWS::SQS::Queue",
        "FanOutDeadLetterQueue": "AWS::SQS::Queue",
        "FanOutRole": "AWS::IAM::Role",
        "FanOutFunction": "AWS::Lambda::Function",
        "FanOutLogGroup": "AWS::Logs::LogGroup",
        "FanOutMapping": "AWS::Lambda::EventSourceMapping",
    }
    declared = resources("rooms", "sharded")
    queue = declared["FanOutQueue"]["Properties"]
    worker = declared["FanOutFunction"]["Properties"]
    assert queue["QueueName"] == "chat-fanout" and queue["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": "<GetAtt FanOutDeadLetterQueue.Arn>",
        "maxReceiveCount": 3,
    }
    # Lambda asks for a visibility timeout of at least six times the function's timeout
    assert int(queue["VisibilityTimeout"]) >= 6 * int(worker["Timeout"])
    dead = declared["FanOutDeadLetterQueue"]["Properties"]
    assert int(dead["MessageRetentionPeriod"]) > int(queue["MessageRetentionPeriod"])
    assert worker["FunctionName"] == "chat-fanout"
    assert worker["Handler"] == "chatlib.handlers.fanout_worker.handler"
    mapping = declared["FanOutMapping"]["Properties"]
    assert mapping == {
        "EventSourceArn": "<GetAtt FanOutQueue.Arn>",
        "FunctionName": "<Ref FanOutFunction>",
        "BatchSize": 1,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
    }


@pytest.mark.parametrize("step", ["rooms", "auth"])
def test_the_queue_permissions_name_only_this_stacks_queue(step):
    declared = resources(step, "sharded")
    queue = "arn:aws:sqs:eu-west-1:111122223333:chat-fanout"  # not the dead-letter queue
    sends = [s for s in statements(declared["SendMessageRole"]) if "sqs:" in str(s["Action"])]
    assert sends == [
        {
            "Sid": "QueueTheRestOfTheRoom",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": queue,
        }
    ]
    assert declared["FanOutQueue"]["Properties"]["QueueName"] == queue.rsplit(":", 1)[1]
    worker = {s["Sid"]: s["Resource"] for s in statements(declared["FanOutRole"])}
    assert worker["TakePagesFromTheQueue"] == queue
    assert worker["DeliverThePage"] == (  # POST only: the worker never closes a connection
        "arn:aws:execute-api:eu-west-1:111122223333:<Ref ChatApi>/dev/POST/@connections/*"
    )
    assert worker["ForgetGoneConnections"] == "<GetAtt ConnectionsTable.Arn>"


def test_outputs_name_the_websocket_and_callback_urls_and_the_table():
    template = load_template(CHAT)
    outputs = Resolver(
        template, CODE, pseudo=PSEUDO, ref=lambda name: {"ChatApi": "a1b2c3"}.get(name, name)
    ).outputs()
    assert outputs == {
        "WebSocketUrl": "wss://a1b2c3.execute-api.eu-west-1.amazonaws.com/dev",
        "CallbackUrl": "https://a1b2c3.execute-api.eu-west-1.amazonaws.com/dev/@connections",
        "TableName": "ConnectionsTable",
        "ApiId": "a1b2c3",
    }


def test_outputs_use_the_partitions_domain():
    """``${AWS::URLSuffix}``, not a spelled-out amazonaws.com: China's regions differ."""
    outputs = Resolver(
        load_template(CHAT),
        CODE,
        pseudo={**PSEUDO, "AWS::Region": "cn-north-1", "AWS::URLSuffix": "amazonaws.com.cn"},
        ref=lambda name: {"ChatApi": "a1b2c3"}.get(name, name),
    ).outputs()
    assert outputs["WebSocketUrl"] == "wss://a1b2c3.execute-api.cn-north-1.amazonaws.com.cn/dev"
    assert outputs["CallbackUrl"].startswith(
        "https://a1b2c3.execute-api.cn-north-1.amazonaws.com.cn/"
    )


# ---------------------------------------------------------------------- what AWS would reject
_REFERENCE = re.compile(r"<(?:Ref|GetAtt) (\w+)[.>]")


def dependencies(template: dict, step: str) -> dict[str, set[str]]:
    """Each included resource's direct dependencies as CloudFormation reads them: ``Ref``,
    ``Fn::GetAtt`` and ``Fn::Sub`` references in the branches this step takes, and
    ``DependsOn``."""
    resolver = Resolver(template, {**CODE, "Step": step}, pseudo=PSEUDO)
    graph = {}
    for logical_id, resource in resolver.resources().items():
        referenced = set(_REFERENCE.findall(json.dumps(resource["Properties"])))
        depends_on = template["Resources"][logical_id].get("DependsOn", [])
        depends_on = [depends_on] if isinstance(depends_on, str) else depends_on
        graph[logical_id] = (referenced | set(depends_on)) & set(template["Resources"])
    return graph


def created_before(graph: dict[str, set[str]], logical_id: str) -> set[str]:
    seen, todo = set(), list(graph[logical_id])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph.get(name, ()))
    return seen


@pytest.mark.parametrize("step", STEPS)
def test_the_stage_is_created_after_every_route(step):
    """An auto-deployed stage deploys the API when it is created; API Gateway refuses that
    while the API has no route ("At least one route is required before deploying the Api")."""
    template = load_template(CHAT)
    graph = dependencies(template, step)
    routes = {k for k, v in resources(step).items() if v["Type"] == "AWS::ApiGatewayV2::Route"}
    assert len(routes) == 4
    assert routes <= created_before(graph, "ChatStage")
    del template["Resources"]["ChatStage"]["DependsOn"]  # what the check catches
    assert not routes & created_before(dependencies(template, step), "ChatStage")


def test_access_logs_go_to_the_log_groups_arn_without_the_star():
    """``!GetAtt AccessLogGroup.Arn`` ends in ``:*``, which a WebSocket stage has refused."""
    declared = Resolver(
        load_template(CHAT),
        {**CODE, "AccessLogging": "on"},
        pseudo=PSEUDO,
        ref=lambda name: {"AccessLogGroup": "/aws/apigateway/chat-access"}.get(name, name),
    ).resources()
    settings = declared["ChatStage"]["Properties"]["AccessLogSettings"]
    assert settings["DestinationArn"] == (
        "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/apigateway/chat-access"
    )


def _concrete(name: str, attribute: str | None = None) -> str:
    """Physical ids and ARNs as AWS would give them, for the stack ``chat``."""
    return {
        "ChatApi": "a1b2c3d4e5",
        "ConnectionsTable": "chat-ConnectionsTable-A1B2C3D4E5F6",
        "ConnectionsTable.Arn": "arn:aws:dynamodb:eu-west-1:111122223333:table/"
        "chat-ConnectionsTable-A1B2C3D4E5F6",
        "TokenSecret": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:"
        "chat-token-secret-AbCdEf",
    }.get(f"{name}.{attribute}" if attribute else name, f"<{name}>")


@pytest.mark.parametrize(("step", "fan_out"), VARIANTS)
def test_every_role_is_under_the_stacks_path_and_within_its_boundary(step, fan_out):
    """The deploy policy allows roles only under ``/chatlib/<stack>/`` and with the stack's
    boundary; a role's effective permissions are its policy and the boundary, so each
    statement the functions need must be inside the boundary too, or it fails on AWS."""
    declared = Resolver(
        load_template(CHAT), {**CODE, "Step": step, "FanOut": fan_out}, pseudo=PSEUDO,
        ref=_concrete, get_att=_concrete,
    ).resources()  # fmt: skip
    boundary = function_boundary("chat")
    roles = {k: v for k, v in declared.items() if v["Type"] == "AWS::IAM::Role"}
    assert len(roles) == (5 if step == "auth" else 4) + (fan_out == "sharded")
    for logical_id, role in roles.items():
        assert role["Properties"]["Path"] == "/chatlib/chat/"
        assert role["Properties"]["PermissionsBoundary"] == boundary_arn("chat", "111122223333")
        for statement in statements(role):
            for action in as_list(statement["Action"]):
                for resource in as_list(statement["Resource"]):
                    assert iam_conditions.evaluate(boundary, action, resource), (
                        f"{logical_id}: {action} on {resource} is outside the boundary"
                    )
    assert declared["ChatApi"]["Properties"]["Tags"] == {"chatlib:stack": "chat"}


# ---------------------------------------------------------------------- the resolver itself
MINI = """
Parameters:
  Mode: {Type: String, AllowedValues: [a, b], Default: a}
  Name: {Type: String}
Conditions:
  IsA: !Equals [!Ref Mode, a]
  NotA: !Not [!Condition IsA]
  Both: !And [!Condition IsA, !Equals [x, x]]
Resources:
  Thing:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !Sub "${Name}-${AWS::Region}-${!Literal}"
      Extra: !If [NotA, "yes", !Ref AWS::NoValue]
      Joined: !Join ["-", [!Ref Name, !Select [1, [p, q, r]]]]
      Arn: !GetAtt Other.Arn
  OnlyB:
    Type: AWS::SNS::Topic
    Condition: NotA
"""


def test_resolver_evaluates_short_forms_conditions_and_no_value():
    template = load_template(MINI)
    resolver = Resolver(template, {"Name": "n"}, pseudo={"AWS::Region": "r"})
    assert resolver.resources() == {
        "Thing": {
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "TopicName": "n-r-${Literal}",
                "Joined": "n-q",
                "Arn": "<GetAtt Other.Arn>",
            },
        }
    }
    assert resolver.condition("Both") is True
    other = Resolver(template, {"Name": "n", "Mode": "b"}, pseudo={"AWS::Region": "r"})
    assert set(other.resources()) == {"Thing", "OnlyB"}
    assert other.resources()["Thing"]["Properties"]["Extra"] == "yes"


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({}, "parameter Name has no default"),
        ({"Name": "n", "Mode": "c"}, "parameter Mode must be one of a, b, not 'c'"),
        ({"Name": "n", "Typo": "x"}, "the template has no parameter Typo"),
    ],
)
def test_resolver_refuses_bad_parameters_with_a_clear_message(parameters, message):
    with pytest.raises(TemplateError, match=message):
        Resolver(load_template(MINI), parameters)


def test_load_template_refuses_text_that_is_not_a_template():
    with pytest.raises(TemplateError, match="Resources section"):
        load_template("just: a mapping")


@pytest.mark.parametrize("step", STEPS)
def test_route_handlers_follow_route_integration_and_function(step):
    template = load_template(CHAT)
    routes = route_handlers(template, {"Step": step, **CODE})
    assert set(routes) == {"$connect", "$disconnect", "$default", "sendmessage"}
    connect = "connect_verified" if step == "auth" else "connect"
    assert routes["$connect"] == f"chatlib.handlers.{connect}.handler"
    send = "broadcast" if step == "broadcast" else "room"
    assert routes["sendmessage"] == f"chatlib.handlers.{send}.handler"
    del template["Resources"]["SendMessageRoute"]
    assert "sendmessage" not in route_handlers(template, {"Step": step, **CODE})


def test_the_local_shortcut_refuses_the_step_it_cannot_define():
    from chatlib.local.api_shortcut import define_chat_shortcut

    with pytest.raises(ValueError, match="step must be one of"):
        define_chat_shortcut("auth")


# ---------------------------------------------------------------------- checkov
#: checkov lives in an environment of its own (``workbook.py test`` makes it): it pins boto3.
CHECKOV = Path(__file__).resolve().parents[1] / ".venv" / "checkov" / "bin" / "checkov"
SKIPS = INFRA / "checkov" / "skips.yaml"


def checkov_findings(step: str, tmp_path: Path, fan_out: str = "single") -> set[str]:
    """The ids of the checks checkov fails on the template with ``Step`` at ``step`` and
    ``FanOut`` at ``fan_out`` (checkov reads parameters' defaults, so it reads a copy whose
    defaults are those)."""
    text = CHAT.read_text()
    assert "    Default: rooms\n" in text and "    Default: single\n" in text
    copy = tmp_path / f"chat-{step}-{fan_out}.yaml"
    text = text.replace("    Default: rooms\n", f"    Default: {step}\n", 1)
    copy.write_text(text.replace("    Default: single\n", f"    Default: {fan_out}\n", 1))
    result = subprocess.run(
        [str(CHECKOV), "-f", str(copy), "--framework", "cloudformation", "-o", "json", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(result.stdout)
    assert report["summary"]["parsing_errors"] == 0
    return {finding["check_id"] for finding in report["results"]["failed_checks"]}


@pytest.fixture(scope="module")
def findings(tmp_path_factory) -> dict[str, set[str]]:
    if not CHECKOV.exists():
        pytest.skip(f"checkov is not installed at {CHECKOV} (python3 workbook.py test installs it)")
    tmp = tmp_path_factory.mktemp("checkov")
    found = {step: checkov_findings(step, tmp) for step in ("rooms", "auth")}
    return {**found, "rooms, sharded": checkov_findings("rooms", tmp, "sharded")}


def test_every_checkov_skip_carries_its_reason():
    skips = yaml.safe_load(SKIPS.read_text())
    assert skips and all(
        check.startswith("CKV_") and isinstance(reason, str) and len(reason.split()) >= 10
        for check, reason in skips.items()
    )


def test_checkov_finds_nothing_but_the_reasoned_skips_and_every_skip_is_needed(findings):
    skips = set(yaml.safe_load(SKIPS.read_text()))
    for step, failed in findings.items():
        assert failed <= skips, (
            f"Step={step}: checkov findings without a decision: {failed - skips}"
        )
    assert set().union(*findings.values()) == skips, "a skip no step needs any more"
    # what the hardening fixed, rather than skipped
    assert not {"CKV_AWS_28"} & set().union(*findings.values())  # point-in-time recovery
