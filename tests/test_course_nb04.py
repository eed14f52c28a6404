"""Notebook 04's exercise: the learner's whisper route, deployed, judged by its check.

The notebook's own published solution (its ``<details>`` block) and its whisper module (03's
reference, ``chatlib.course.nb03.WHISPER_SOLUTION``) are deployed here the way the notebook
deploys them: plain boto3 change sets, the zip built with ``build_package(extra_modules=[…])``.
With the solution the check says "Correct"; then each plausible mistake is deployed as an
update of the same stack and the check must name it: the route missing, the invoke permission
missing or too wide, a role that may Scan or Query the table, a stage that does not wait for
the route. An exercise still holding its TODO lines is "Not answered yet".
"""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from cfnlint.decode.cfn_yaml import loads
from notebook_files import ROOT, read, solution_codes

from chatlib import CHAT_TEMPLATE, build_package, teardown_stack
from chatlib.course.nb03 import WHISPER_SOLUTION
from chatlib.course.nb04 import check_whisper_route
from chatlib.deploy.boundary import ensure_boundary

NOTEBOOK = ROOT / "notebooks" / "04_deploy_cloudformation.ipynb"
STACK = "nb04-check"


def notebook_solution() -> dict:
    """WHISPER_RESOURCES and whisper_template as the notebook's solution makes them."""
    namespace = {"TEMPLATE": CHAT_TEMPLATE, "loads": loads}
    exec(solution_codes(read(NOTEBOOK))[0], namespace)  # noqa: S102 - the notebook's own code
    return namespace


def whisper_module() -> str:
    """The handler notebook 04 deploys: 03's reference, from its course module."""
    return WHISPER_SOLUTION


def deploy(template: dict, package_key: str, bucket: str, step: str = "rooms") -> str:
    """One change set, executed as the notebook does; returns the stack's status."""
    cloudformation = boto3.client("cloudformation")
    try:
        cloudformation.describe_stacks(StackName=STACK)
        kind = "UPDATE"
    except cloudformation.exceptions.ClientError:
        kind = "CREATE"
    given = {"Step": step, "CodeBucket": bucket, "CodeKey": package_key}
    created = cloudformation.create_change_set(
        StackName=STACK,
        ChangeSetName=f"test-{uuid.uuid4().hex[:8]}",
        ChangeSetType=kind,
        TemplateBody=json.dumps(template, indent=1),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in given.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    cloudformation.get_waiter("change_set_create_complete").wait(
        ChangeSetName=created["Id"], WaiterConfig={"Delay": 1, "MaxAttempts": 10}
    )
    cloudformation.execute_change_set(ChangeSetName=created["Id"])
    return cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]


@pytest.fixture(scope="module")
def deployed(stack, tmp_path_factory):
    """The solution deployed (the rooms step plus the learner's whisper route)."""
    folder = tmp_path_factory.mktemp("learner")
    (folder / "whisper.py").write_text(whisper_module())
    package = build_package(extra_modules=[folder / "whisper.py"])
    bucket = f"{STACK}-artifacts"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=package.key, Body=package.data)
    ensure_boundary(STACK, progress=lambda line: None)
    solution = notebook_solution()

    def redeploy(template, step="rooms"):
        return deploy(template, package.key, bucket, step)

    assert redeploy(solution["whisper_template"]) == "CREATE_COMPLETE"
    yield solution, redeploy
    teardown_stack(STACK, bucket=bucket, progress=lambda line: None)


def variant(solution: dict, change) -> dict:
    template = json.loads(json.dumps(solution["whisper_template"]))
    change(template["Resources"])
    return template


def test_open_connections_follow_an_update_made_with_plain_boto3(deployed, stack):
    """As on AWS, a connection opened before an update is served by the updated stack from its
    next message (the local gateway otherwise keeps what it read at the handshake)."""
    from chatlib import ChatClient, stack_outputs

    solution, redeploy = deployed
    url = stack.local_url(stack_outputs(STACK)["WebSocketUrl"])
    alice = ChatClient.connect(url, room_id="blue", user_id="alice")
    bob = ChatClient.connect(url, room_id="green", user_id="bob")
    try:
        alice.send("rooms: not for bob")
        assert bob.receive_all() == []
        assert redeploy(solution["whisper_template"], step="broadcast") == "UPDATE_COMPLETE"
        alice.send("broadcast: for everyone")
        assert bob.receive()["message"] == "broadcast: for everyone"
    finally:
        alice.close()
        bob.close()


def test_the_notebooks_solution_is_correct_and_each_mistake_is_named(deployed):
    solution, redeploy = deployed
    resources = solution["WHISPER_RESOURCES"]
    assert check_whisper_route(STACK, resources).startswith("Correct!")

    def scan_too(r):
        statements = r["WhisperRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        statements.append(
            {
                "Effect": "Allow",
                "Action": "dynamodb:Scan",
                "Resource": {"Fn::GetAtt": ["ConnectionsTable", "Arn"]},
            }
        )

    def query_the_table(r):
        statements = r["WhisperRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        find = next(s for s in statements if s.get("Sid") == "FindTheUser")
        find["Resource"] = {"Fn::GetAtt": ["ConnectionsTable", "Arn"]}

    def any_route(r):
        r["WhisperPermission"]["Properties"]["SourceArn"]["Fn::Sub"] = r["WhisperPermission"][
            "Properties"
        ]["SourceArn"]["Fn::Sub"].replace("/*/whisper", "/*/*")

    mistakes = {
        "no whisper route": lambda r: (r.pop("WhisperRoute"), r.pop("WhisperPermission")),
        "Target is not an integration": lambda r: r["WhisperRoute"]["Properties"].update(
            Target="integrations/none"
        ),
        "may not invoke": lambda r: r.pop("WhisperPermission"),
        "allow the whisper route only": any_route,
        "may Scan the table": scan_too,
        "Query on the userId-index only": query_the_table,
        "does not depend on WhisperRoute": lambda r: r["ChatStage"]["DependsOn"].remove(
            "WhisperRoute"
        ),
    }
    for expected, change in mistakes.items():
        assert redeploy(variant(solution, change)) == "UPDATE_COMPLETE", expected
        verdict = check_whisper_route(STACK, resources)
        assert verdict.startswith("Not quite") and expected in verdict, (expected, verdict)


def test_a_handler_that_posts_to_the_wrong_people_fails_through_the_gateway(deployed, tmp_path):
    """The deployed parts all right, the delivery wrong: to the sender instead of bob."""
    solution, redeploy = deployed
    wrong = whisper_module().replace(
        'connections_of(body["to"])', 'connections_of(sender["userId"])'
    )
    (tmp_path / "whisper.py").write_text(wrong)
    package = build_package(extra_modules=[tmp_path / "whisper.py"])
    bucket = f"{STACK}-artifacts"
    boto3.client("s3").put_object(Bucket=bucket, Key=package.key, Body=package.data)
    assert deploy(solution["whisper_template"], package.key, bucket) == "UPDATE_COMPLETE"
    verdict = check_whisper_route(STACK, solution["WHISPER_RESOURCES"])
    assert verdict.startswith("Not quite") and "expected bob@blue and bob@green" in verdict


def test_an_untouched_exercise_is_not_answered_yet():
    exercise = next(c for c in read(NOTEBOOK).cells if "exercise" in c.metadata.get("tags", []))
    untouched = exercise.source.split('"""')[1]
    assert "TODO" in untouched
    assert check_whisper_route(STACK, untouched).startswith("Not answered yet")
