"""A learner's own boto3 deploy, on the embedded AWS, gets the stack AWS would give them.

Notebook 04 deploys with plain ``create_change_set`` / ``execute_change_set`` / waiters and no
"if local". moto's CloudFormation skips the WebSocket API's resource types, lists every
resource in a change set whatever its Condition, and nothing for a parameters-only update;
:mod:`chatlib.local.change_set_finisher` makes the embedded AWS finish each executed change
set with the bridge and list changes as CloudFormation does. chatlib's own deploy names its
change sets ``chatlib-…`` and finishes them itself; those are left alone.
"""

from __future__ import annotations

import itertools
import json

import boto3
import pytest
from botocore.exceptions import WaiterError
from fresh_interpreter import run_fresh

_numbers = itertools.count()

API_ONLY = {
    "Parameters": {"Route": {"Type": "String", "Default": "hello"}},
    "Conditions": {"Shouting": {"Fn::Equals": [{"Ref": "Route"}, "HELLO"]}},
    "Resources": {
        "Api": {
            "Type": "AWS::ApiGatewayV2::Api",
            "Properties": {
                "Name": {"Ref": "AWS::StackName"},
                "ProtocolType": "WEBSOCKET",
                "RouteSelectionExpression": "$request.body.action",
            },
        },
        "Integration": {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {
                "ApiId": {"Ref": "Api"},
                "IntegrationType": "MOCK",
            },
        },
        "Route": {
            "Type": "AWS::ApiGatewayV2::Route",
            "Properties": {
                "ApiId": {"Ref": "Api"},
                "RouteKey": {"Ref": "Route"},
                "Target": {"Fn::Sub": "integrations/${Integration}"},
            },
        },
        "Stage": {
            "Type": "AWS::ApiGatewayV2::Stage",
            "DependsOn": ["Route"],
            "Properties": {"ApiId": {"Ref": "Api"}, "StageName": "dev"},
        },
        "Loud": {
            "Type": "AWS::SNS::Topic",
            "Condition": "Shouting",
        },
    },
    "Outputs": {
        "WebSocketUrl": {
            "Description": "Where clients connect.",
            "Value": {"Fn::Sub": "wss://${Api}.execute-api.${AWS::Region}.amazonaws.com/dev"},
        }
    },
}


def change_set(stack_name, template, parameters, *, kind, name=None):
    cloudformation = boto3.client("cloudformation")
    created = cloudformation.create_change_set(
        StackName=stack_name,
        ChangeSetName=name or f"mine-{next(_numbers)}",
        ChangeSetType=kind,
        TemplateBody=json.dumps(template),
        Parameters=parameters,
    )
    cloudformation.get_waiter("change_set_create_complete").wait(
        ChangeSetName=created["Id"], WaiterConfig={"Delay": 1, "MaxAttempts": 10}
    )
    described = cloudformation.describe_change_set(ChangeSetName=created["Id"])
    return created["Id"], [change["ResourceChange"] for change in described["Changes"]]


def stack_api(stack_name):
    apigateway = boto3.client("apigatewayv2")
    apis = [api for api in apigateway.get_apis()["Items"] if api["Name"] == stack_name]
    return apis[0] if apis else None


@pytest.fixture
def stack_name(embedded_aws):
    name = f"finisher-{next(_numbers)}"
    yield name
    boto3.client("cloudformation").delete_stack(StackName=name)
    api = stack_api(name)
    if api:
        boto3.client("apigatewayv2").delete_api(ApiId=api["ApiId"])


def test_an_executed_change_set_is_finished_and_its_outputs_resolved(stack_name):
    cloudformation = boto3.client("cloudformation")
    change_set_id, changes = change_set(stack_name, API_ONLY, [], kind="CREATE")
    assert [(c["Action"], c["LogicalResourceId"]) for c in changes] == [
        ("Add", "Api"),
        ("Add", "Integration"),
        ("Add", "Route"),
        ("Add", "Stage"),
    ]  # Loud's Condition is false: CloudFormation leaves it out, and so does the list
    cloudformation.execute_change_set(ChangeSetName=change_set_id)
    cloudformation.get_waiter("stack_create_complete").wait(
        StackName=stack_name, WaiterConfig={"Delay": 1, "MaxAttempts": 5}
    )
    api = stack_api(stack_name)
    routes = boto3.client("apigatewayv2").get_routes(ApiId=api["ApiId"])["Items"]
    stages = boto3.client("apigatewayv2").get_stages(ApiId=api["ApiId"])["Items"]
    assert [route["RouteKey"] for route in routes] == ["hello"]
    assert [stage["StageName"] for stage in stages] == ["dev"]
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    assert stack["Outputs"] == [
        {
            "OutputKey": "WebSocketUrl",
            "OutputValue": f"wss://{api['ApiId']}.execute-api.us-east-1.amazonaws.com/dev",
            "Description": "Where clients connect.",
        }
    ]


def test_a_parameters_only_update_lists_what_changes_and_keeps_the_api(stack_name):
    cloudformation = boto3.client("cloudformation")
    created, _ = change_set(stack_name, API_ONLY, [], kind="CREATE")
    cloudformation.execute_change_set(ChangeSetName=created)
    api_id = stack_api(stack_name)["ApiId"]
    parameters = [{"ParameterKey": "Route", "ParameterValue": "goodbye"}]
    updated, changes = change_set(stack_name, API_ONLY, parameters, kind="UPDATE")
    assert changes == [
        {
            "Action": "Modify",
            "LogicalResourceId": "Route",
            "ResourceType": "AWS::ApiGatewayV2::Route",
            "Details": [{"Target": {"Attribute": "Properties", "Name": "RouteKey"}}],
        }
    ]
    cloudformation.execute_change_set(ChangeSetName=updated)
    cloudformation.get_waiter("stack_update_complete").wait(
        StackName=stack_name, WaiterConfig={"Delay": 1, "MaxAttempts": 5}
    )
    assert stack_api(stack_name)["ApiId"] == api_id  # updated in place: the same URL
    routes = boto3.client("apigatewayv2").get_routes(ApiId=api_id)["Items"]
    assert [route["RouteKey"] for route in routes] == ["goodbye"]


def test_a_failure_of_the_bridge_fails_the_stack_with_its_reason_in_the_events(stack_name):
    cloudformation = boto3.client("cloudformation")
    broken = json.loads(json.dumps(API_ONLY))
    del broken["Resources"]["Route"]["Properties"]["RouteKey"]  # API Gateway requires one
    created, _ = change_set(stack_name, broken, [], kind="CREATE")
    cloudformation.execute_change_set(ChangeSetName=created)
    with pytest.raises(WaiterError, match="CREATE_FAILED"):
        cloudformation.get_waiter("stack_create_complete").wait(
            StackName=stack_name, WaiterConfig={"Delay": 1, "MaxAttempts": 5}
        )
    latest = cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"][0]
    assert latest["ResourceStatus"] == "CREATE_FAILED"
    assert "RouteKey" in latest["ResourceStatusReason"]


def test_chatlibs_own_change_sets_are_left_to_chatlibs_deploy(stack_name):
    cloudformation = boto3.client("cloudformation")
    created, changes = change_set(
        stack_name, API_ONLY, [], kind="CREATE", name="chatlib-by-the-deploy"
    )
    assert "Loud" in {change["LogicalResourceId"] for change in changes}  # moto's own list
    cloudformation.execute_change_set(ChangeSetName=created)
    assert stack_api(stack_name) is None  # chatlib.deploy.stack runs the bridge itself


def test_an_update_with_nothing_to_do_is_a_failed_change_set_with_aws_reason(stack_name):
    cloudformation = boto3.client("cloudformation")
    created, _ = change_set(stack_name, API_ONLY, [], kind="CREATE")
    cloudformation.execute_change_set(ChangeSetName=created)
    same = [{"ParameterKey": "Route", "UsePreviousValue": True}]
    refused = cloudformation.create_change_set(  # AWS accepts the call; the change set fails
        StackName=stack_name,
        ChangeSetName="mine-again",
        ChangeSetType="UPDATE",
        TemplateBody=json.dumps(API_ONLY),
        Parameters=same,
    )
    with pytest.raises(WaiterError):
        cloudformation.get_waiter("change_set_create_complete").wait(
            ChangeSetName=refused["Id"], WaiterConfig={"Delay": 1, "MaxAttempts": 2}
        )
    described = cloudformation.describe_change_set(ChangeSetName=refused["Id"])
    assert (described["Status"], described["ExecutionStatus"]) == ("FAILED", "UNAVAILABLE")
    assert described["StatusReason"].startswith("The submitted information didn't contain changes")
    assert described["Changes"] == []


def test_an_update_keeping_every_parameter_skips_resources_their_condition_left_out(stack_name):
    """``UsePreviousValue`` for a parameter still at its default: moto used to "update" the
    conditioned-out topic that refers to it, and crashed."""
    template = json.loads(json.dumps(API_ONLY))
    template["Parameters"]["Volume"] = {"Type": "String", "Default": "quiet"}
    template["Resources"]["Loud"]["Properties"] = {"TopicName": {"Ref": "Volume"}}
    cloudformation = boto3.client("cloudformation")
    created, _ = change_set(stack_name, template, [], kind="CREATE")
    cloudformation.execute_change_set(ChangeSetName=created)
    keep = [{"ParameterKey": "Volume", "UsePreviousValue": True}]
    route = [{"ParameterKey": "Route", "ParameterValue": "goodbye"}]
    updated, changes = change_set(stack_name, template, route + keep, kind="UPDATE")
    assert [change["LogicalResourceId"] for change in changes] == ["Route"]
    cloudformation.execute_change_set(ChangeSetName=updated)
    cloudformation.get_waiter("stack_update_complete").wait(
        StackName=stack_name, WaiterConfig={"Delay": 1, "MaxAttempts": 5}
    )


WITH_A_PERMISSION = {
    "Parameters": API_ONLY["Parameters"],
    "Resources": {
        **{key: value for key, value in API_ONLY["Resources"].items() if key != "Loud"},
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            },
        },
        "Function": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "FunctionName": {"Fn::Sub": "${AWS::StackName}-fn"},
                "Runtime": "python3.12",
                "Handler": "index.handler",
                "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                "Code": {"ZipFile": "def handler(event, context):\n    return {}\n"},
            },
        },
        "Permission": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "FunctionName": {"Ref": "Function"},
                "Action": "lambda:InvokeFunction",
                "Principal": "apigateway.amazonaws.com",
                "SourceArn": {
                    "Fn::Sub": "arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/*/hello"
                },
            },
        },
    },
}


def granted(function_name):
    lambda_client = boto3.client("lambda")
    try:
        policy = json.loads(lambda_client.get_policy(FunctionName=function_name)["Policy"])
    except lambda_client.exceptions.ResourceNotFoundException:
        return []
    return [
        s["Condition"]["ArnLike"]["AWS:SourceArn"].rsplit(":", 1)[1] for s in policy["Statement"]
    ]


def test_an_update_that_changes_or_removes_an_invoke_permission_takes_the_grant_away(stack_name):
    cloudformation = boto3.client("cloudformation")
    created, _ = change_set(stack_name, WITH_A_PERMISSION, [], kind="CREATE")
    cloudformation.execute_change_set(ChangeSetName=created)
    function = f"{stack_name}-fn"
    api_id = stack_api(stack_name)["ApiId"]
    assert granted(function) == [f"{api_id}/*/hello"]
    changed = json.loads(json.dumps(WITH_A_PERMISSION))
    source = changed["Resources"]["Permission"]["Properties"]["SourceArn"]
    source["Fn::Sub"] = source["Fn::Sub"].replace("/hello", "/bye")
    updated, _ = change_set(stack_name, changed, [], kind="UPDATE")
    cloudformation.execute_change_set(ChangeSetName=updated)
    assert granted(function) == [f"{api_id}/*/bye"]
    del changed["Resources"]["Permission"]
    removed, changes = change_set(stack_name, changed, [], kind="UPDATE")
    assert [(c["Action"], c["LogicalResourceId"]) for c in changes] == [("Remove", "Permission")]
    cloudformation.execute_change_set(ChangeSetName=removed)
    assert granted(function) == []


def test_an_update_leaves_alone_a_resource_its_condition_kept_out(stack_name):
    """moto "modified" every resource referring to a changed parameter, including one never
    created (a new CodeKey and the auth step's functions), and failed."""
    template = json.loads(json.dumps(API_ONLY))
    template["Resources"]["Loud"]["Properties"] = {"TopicName": {"Ref": "Route"}}
    cloudformation = boto3.client("cloudformation")
    created, _ = change_set(stack_name, template, [], kind="CREATE")
    cloudformation.execute_change_set(ChangeSetName=created)
    route = [{"ParameterKey": "Route", "ParameterValue": "goodbye"}]
    updated, changes = change_set(stack_name, template, route, kind="UPDATE")
    assert [change["LogicalResourceId"] for change in changes] == ["Route"]
    cloudformation.execute_change_set(ChangeSetName=updated)
    cloudformation.get_waiter("stack_update_complete").wait(
        StackName=stack_name, WaiterConfig={"Delay": 1, "MaxAttempts": 5}
    )


def test_the_wrappers_were_checked_against_the_moto_installed_here(tmp_path):
    """What CI installs (the lock) is what the wrappers were written against. After a lock
    refresh brings a new moto, review them against its CloudFormation and add the fingerprint
    this prints to ``CHECKED``."""
    done = run_fresh(
        tmp_path,
        """
        from chatlib.local import change_set_finisher
        print(change_set_finisher.unexpected())
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"


def test_another_moto_gets_no_wrappers_one_line_and_a_working_aws(tmp_path):
    """A moto whose change sets compute their list differently: nothing is wrapped (a wrapper
    around code it was not written for could corrupt a stack), one line says what a learner
    loses, and the embedded AWS still answers."""
    done = run_fresh(
        tmp_path,
        """
        import boto3
        from moto.cloudformation.models import ChangeSet, CloudFormationBackend

        moto_diff = ChangeSet.diff


        def stand_in_diff(self):
            # a moto release whose change set lists its changes another way
            return moto_diff(self)


        ChangeSet.diff = stand_in_diff

        from chatlib.local.embedded import start_embedded_aws

        aws = start_embedded_aws()
        wrapped = getattr(CloudFormationBackend.execute_change_set, "finishes_with_the_bridge", 0)
        print("wrapped", bool(wrapped), "diff kept", ChangeSet.diff is stand_in_diff)
        print("buckets", boto3.client("s3").list_buckets()["Buckets"])
        aws.stop()
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["wrapped False diff kept True", "buckets []"]
    said = [line for line in done.stderr.splitlines() if line.startswith("chatlib:")]
    assert len(said) == 1, done.stderr
    assert "left to plain moto" in said[0] and "moto's CloudFormation differs" in said[0]
    assert "Traceback" not in done.stderr
