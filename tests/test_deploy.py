"""Deploy infra_cfn/chat.yaml to moto with boto3 and chat through the local gateway.

One stack goes through the course's life: created at the broadcast step, updated to rooms
(same API, same URL), redeployed unchanged, a route removed, torn down. Each step is checked
the way a learner would see it: what the change set said, what the clients receive, what
moto's services now hold.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import boto3
import pytest
from gateway_helpers import nothing_arrives, open_socket, receive_json

from chatlib.deploy import (
    CHAT_TEMPLATE,
    DeployFailed,
    deploy_stack,
    load_template,
    plan_deploy,
    teardown_stack,
)
from chatlib.deploy.changes import ResourceChange
from chatlib.deploy.events import failure_from_events

CHAT = CHAT_TEMPLATE
_numbers = itertools.count()


class Lines(list):
    """Collects what a deploy reports, as the notebook would print it."""

    def __call__(self, line: str) -> None:
        self.append(line)

    def text(self) -> str:
        return "\n".join(self)


def send(ws, message: str) -> None:
    ws.send(json.dumps({"action": "sendmessage", "message": message}))


@pytest.fixture
def stack_name(stack):
    name = f"deploy-test-{next(_numbers)}"
    yield name
    teardown_stack(name, progress=Lines())


def test_a_deployed_broadcast_stack_chats_through_the_gateway(stack, stack_name):
    lines = Lines()
    result = deploy_stack(
        CHAT, stack_name=stack_name, parameters={"Step": "broadcast"}, progress=lines
    )
    assert result.status == "CREATE_COMPLETE"
    assert set(result.outputs) == {"WebSocketUrl", "CallbackUrl", "TableName", "ApiId"}
    api_id = result.outputs["ApiId"]
    assert (
        result.outputs["WebSocketUrl"] == f"wss://{api_id}.execute-api.us-east-1.amazonaws.com/dev"
    )
    assert "Change set to create stack" in lines.text()
    assert "\nAdd  ChatApi  " in lines.text()
    change_set = lines.text().split("Change set to create", 1)[1].split("\n\n", 1)[0]
    assert "Authorizer" not in change_set and "TokenSecret" not in change_set  # IsAuth only
    (bridged,) = [line for line in lines if "bridge" in line]
    assert "ApiGatewayV2 Api, 4 Integrations, 4 Routes, Stage" in bridged

    url = stack.local_url(result.outputs["WebSocketUrl"])
    alice = open_socket(url, query="roomId=lobby&userId=alice")
    bob = open_socket(url, query="roomId=elsewhere&userId=bob")
    send(alice, "hello everyone")
    frame = receive_json(bob)
    assert (frame["sender"], frame["message"]) == ("alice", "hello everyone")
    alice.close()
    bob.close()

    dynamodb = boto3.client("dynamodb")
    table = result.outputs["TableName"]
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}
    alarms = boto3.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{stack_name}-")
    assert sorted(a["AlarmName"] for a in alarms["MetricAlarms"]) == [
        f"{stack_name}-ConnectCountAlarm",
        f"{stack_name}-TableThrottleAlarm",
    ]
    functions = boto3.client("lambda")
    for name in ("connect", "disconnect", "default", "sendmessage"):
        configuration = functions.get_function_configuration(FunctionName=f"{stack_name}-{name}")
        assert configuration["Environment"]["Variables"] == {"CONNECTIONS_TABLE": table}
        assert configuration["Runtime"] == "python3.12"


def test_updating_to_rooms_keeps_the_url_and_changes_who_hears_what(stack, stack_name):
    first = deploy_stack(
        CHAT, stack_name=stack_name, parameters={"Step": "broadcast"}, progress=Lines()
    )
    plan = plan_deploy(CHAT, stack_name=stack_name, parameters={"Step": "rooms"}, progress=Lines())
    assert plan.change_set_type == "UPDATE"
    assert plan.changes == [
        ResourceChange("Modify", "SendMessageRole", "AWS::IAM::Role", ("Policies",)),
        ResourceChange("Modify", "SendMessageFunction", "AWS::Lambda::Function", ("Handler",)),
    ]
    lines = Lines()
    second = plan.execute(progress=lines)
    assert second.status == "UPDATE_COMPLETE"
    assert second.outputs == first.outputs

    role = (
        boto3.client("lambda")
        .get_function_configuration(FunctionName=f"{stack_name}-sendmessage")["Role"]
        .rsplit("/", 1)[1]
    )
    policy = boto3.client("iam").get_role_policy(RoleName=role, PolicyName="sendmessage")
    actions = {
        a
        for s in policy["PolicyDocument"]["Statement"]
        for a in [s["Action"]]
        if isinstance(a, str)
    }
    assert "dynamodb:Query" in actions and "dynamodb:Scan" not in actions

    url = stack.local_url(second.outputs["WebSocketUrl"])
    a = open_socket(url, query="roomId=r1&userId=a")
    b = open_socket(url, query="roomId=r1&userId=b")
    c = open_socket(url, query="roomId=r2&userId=c")
    send(a, "only r1")
    assert receive_json(b)["message"] == "only r1"
    assert nothing_arrives(c)
    for ws in (a, b, c):
        ws.close()


def test_deploying_the_same_thing_again_is_no_changes_not_an_error(stack, stack_name):
    deploy_stack(CHAT, stack_name=stack_name, progress=Lines())
    lines = Lines()
    again = deploy_stack(CHAT, stack_name=stack_name, progress=lines)
    assert again.changes == [] and not again.changed
    assert again.status == "CREATE_COMPLETE"
    assert "No changes" in lines.text()
    assert set(again.outputs) == {"WebSocketUrl", "CallbackUrl", "TableName", "ApiId"}
    assert "bridge" not in lines.text()


def test_a_route_removed_from_the_template_falls_to_default(stack, stack_name):
    result = deploy_stack(CHAT, stack_name=stack_name, progress=Lines())
    url = stack.local_url(result.outputs["WebSocketUrl"])
    template = load_template(CHAT)
    for name in ("SendMessageRoute", "SendMessageIntegration", "SendMessagePermission"):
        del template["Resources"][name]
    lines = Lines()
    deploy_stack(template, stack_name=stack_name, progress=lines)
    assert "\nRemove  SendMessageRoute  " in lines.text()
    routes = boto3.client("apigatewayv2").get_routes(ApiId=result.outputs["ApiId"])["Items"]
    assert sorted(r["RouteKey"] for r in routes) == ["$connect", "$default", "$disconnect"]

    assert stack.local_url(result.outputs["WebSocketUrl"]) == url
    ws = open_socket(url, query="roomId=r1&userId=a")
    send(ws, "anyone?")
    frame = receive_json(ws)
    assert frame["type"] == "help" and frame["connection"]["userId"] == "a"
    ws.close()


def test_teardown_removes_the_stack_its_api_its_alarms_and_its_bucket(stack):
    name = f"deploy-test-{next(_numbers)}"
    result = deploy_stack(CHAT, stack_name=name, progress=Lines())
    lines = Lines()
    teardown_stack(name, progress=lines)
    assert f"Stack {name}: DELETE_COMPLETE." in lines
    assert "1 object(s) removed, bucket deleted" in lines.text()
    apis = boto3.client("apigatewayv2").get_apis()["Items"]
    assert result.outputs["ApiId"] not in {api["ApiId"] for api in apis}
    alarms = boto3.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{name}-")
    assert alarms["MetricAlarms"] == []
    assert result.outputs["TableName"] not in boto3.client("dynamodb").list_tables()["TableNames"]
    buckets = {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]}
    assert not any(b.startswith(f"{name}-artifacts") for b in buckets)
    teardown_stack(name, progress=lines)  # again: nothing there, still no error
    assert lines[-2] == f"Stack {name} does not exist."


def test_a_template_cloudformation_cannot_run_fails_with_a_readable_error(stack, stack_name):
    template = load_template(CHAT)
    table = template["Resources"]["ConnectionsTable"]["Properties"]
    table["KeySchema"] = [{"AttributeName": "notDeclared", "KeyType": "HASH"}]
    with pytest.raises(DeployFailed) as caught:
        deploy_stack(template, stack_name=stack_name, progress=Lines())
    message = str(caught.value)
    assert message.startswith(f"CloudFormation could not run the change set for {stack_name}")
    assert "Traceback" not in message and "<html" not in message


def test_wrong_parameters_are_refused_before_anything_is_created(stack, stack_name):
    with pytest.raises(ValueError, match="parameter Step must be one of broadcast, rooms"):
        plan_deploy(CHAT, stack_name=stack_name, parameters={"Step": "everyone"}, progress=Lines())
    with pytest.raises(boto3.client("cloudformation").exceptions.ClientError):
        boto3.client("cloudformation").describe_stacks(StackName=stack_name)


def test_a_failed_stack_reports_each_failing_resource_and_the_final_state():
    """AWS-shaped events (newest first, as DescribeStackEvents returns them): moto never
    rolls back, so this is the one part checked on recorded events, not on a deploy."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    events = [
        {"LogicalResourceId": "chat", "ResourceType": "AWS::CloudFormation::Stack",
         "ResourceStatus": "ROLLBACK_COMPLETE", "Timestamp": at},
        {"LogicalResourceId": "SendMessageFunction", "ResourceType": "AWS::Lambda::Function",
         "ResourceStatus": "CREATE_FAILED", "Timestamp": at,
         "ResourceStatusReason": "Resource creation cancelled"},
        {"LogicalResourceId": "ConnectRole", "ResourceType": "AWS::IAM::Role",
         "ResourceStatus": "CREATE_FAILED", "Timestamp": at,
         "ResourceStatusReason": "User is not authorized to perform: iam:CreateRole"},
    ]  # fmt: skip
    error = failure_from_events("chat", "ROLLBACK_COMPLETE", events)
    assert error.status == "ROLLBACK_COMPLETE"
    assert error.reasons == (
        "ConnectRole (AWS::IAM::Role): User is not authorized to perform: iam:CreateRole",
        "SendMessageFunction (AWS::Lambda::Function): Resource creation cancelled",
    )
    assert str(error).splitlines()[0] == "Stack chat ended in ROLLBACK_COMPLETE."
