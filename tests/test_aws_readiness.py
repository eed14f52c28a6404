"""What a real account would reject, pinned where the emulator alone would not show it.

Issue 23: an update that resets omitted parameters, stack names whose derived names break,
failure reasons filtered by this machine's clock. (The template's own findings are in
test_templates.py; the deploy policy's in test_deploy_policy.py; the sender's time budget in
test_sender_budget.py.)
"""

from __future__ import annotations

import io
import itertools
import os
import shutil
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from test_lambda_package import distribution_closure, template_handlers, top_level_paths

from chatlib.deploy import (
    CHAT_TEMPLATE,
    build_package,
    deploy_stack,
    load_template,
    plan_deploy,
    teardown_stack,
)
from chatlib.deploy.events import failure_from_events
from chatlib.deploy.names import check_stack_name, longest_stack_name
from chatlib.errors import TemplateError
from chatlib.local.gateway import lambda_runtime
from chatlib.local.gateway.lambda_runtime import _version_of

CHAT = CHAT_TEMPLATE
_numbers = itertools.count()


def quiet(_line: str) -> None:
    pass


@pytest.fixture
def stack_name(stack):
    name = f"ready-{next(_numbers)}"
    yield name
    teardown_stack(name, progress=quiet)


@pytest.fixture
def sent_change_sets():
    """The parameters of every CreateChangeSet this process sends."""
    sent: list[list[dict]] = []

    def record(params, **_):
        sent.append(params["Parameters"])

    events = boto3._get_default_session().events
    events.register("provide-client-params.cloudformation.CreateChangeSet", record, "ready")
    yield sent
    events.unregister("provide-client-params.cloudformation.CreateChangeSet", unique_id="ready")


# ---------------------------------------------------------------------- item 4: parameters
def test_a_bare_update_of_an_auth_stack_keeps_it_at_auth(stack, stack_name, sent_change_sets):
    """``Step`` defaults to ``rooms``: without UsePreviousValue a redeploy with no parameters
    would remove the authorizer and open ``$connect`` to anyone."""
    deploy_stack(
        CHAT,
        stack_name=stack_name,
        parameters={"Step": "auth", "PointInTimeRecovery": "false"},
        progress=quiet,
    )
    plan = plan_deploy(CHAT, stack_name=stack_name, progress=quiet)
    assert plan.change_set_type == "UPDATE"
    assert plan.parameters["Step"] == "auth"
    assert plan.parameters["PointInTimeRecovery"] == "false"
    assert {"ParameterKey": "Step", "UsePreviousValue": True} in sent_change_sets[-1]
    assert {"ParameterKey": "PointInTimeRecovery", "UsePreviousValue": True} in sent_change_sets[-1]
    assert not any(change.action == "Remove" for change in plan.changes)
    result = plan.execute(progress=quiet)

    cloudformation = boto3.client("cloudformation")
    deployed = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]["Parameters"]
    values = {p["ParameterKey"]: p["ParameterValue"] for p in deployed}
    assert (values["Step"], values["PointInTimeRecovery"]) == ("auth", "false")
    routes = boto3.client("apigatewayv2").get_routes(ApiId=result.outputs["ApiId"])["Items"]
    connect = next(route for route in routes if route["RouteKey"] == "$connect")
    assert connect["AuthorizationType"] == "CUSTOM"
    assert "TokenSecretArn" in result.outputs


def test_a_parameter_given_on_update_still_wins(stack, stack_name, sent_change_sets):
    deploy_stack(CHAT, stack_name=stack_name, parameters={"Step": "auth"}, progress=quiet)
    plan = plan_deploy(CHAT, stack_name=stack_name, parameters={"Step": "rooms"}, progress=quiet)
    assert plan.parameters["Step"] == "rooms"
    assert {"ParameterKey": "Step", "ParameterValue": "rooms"} in sent_change_sets[-1]
    assert {c.logical_id for c in plan.changes if c.action == "Remove"} >= {"ChatAuthorizer"}


def test_a_kept_value_the_new_template_refuses_is_a_clear_error(stack, stack_name):
    deploy_stack(CHAT, stack_name=stack_name, parameters={"Step": "auth"}, progress=quiet)
    template = load_template(CHAT)
    template["Parameters"]["Step"]["AllowedValues"] = ["broadcast", "rooms"]
    with pytest.raises(TemplateError, match="parameter Step must be one of broadcast, rooms"):
        plan_deploy(template, stack_name=stack_name, progress=quiet)


# ---------------------------------------------------------------------- item 6: stack names
def _name(length: int) -> str:
    """A valid-looking stack name of ``length`` characters, hyphens included."""
    return ("chat-" * 26)[:length].rstrip("-").ljust(length, "x")


def test_every_stack_name_length_from_1_to_128_is_accepted_or_refused_clearly(embedded_aws):
    """Every length is checked against the names AWS would build from it (the functions,
    log groups, secret, API and authorizer names, and the code bucket's, for the embedded
    account and region); deploying 128 stacks would take minutes, so the deploys below
    cover the edges: the shortest name, the longest accepted, and the first refused."""
    template = load_template(CHAT)
    identity = boto3.client("sts").get_caller_identity()
    suffix = f"-artifacts-{identity['Account']}-{boto3.session.Session().region_name}"
    accepted, refused = [], []
    for length in range(1, 129):
        name = _name(length)
        assert len(name) == length
        try:
            check_stack_name(name, template, bucket=name.lower() + suffix)
        except TemplateError as error:
            assert "too long" in str(error) and "Use at most 30 characters" in str(error)
            refused.append(length)
        else:
            accepted.append(length)
    assert accepted == list(range(1, 31)) and refused == list(range(31, 129))
    assert longest_stack_name(template, bucket_suffix=suffix) == 30
    # ap-northeast-1 has a longer name: 25; with a bucket of one's own, the functions: 52
    assert (
        longest_stack_name(template, bucket_suffix="-artifacts-123456789012-ap-northeast-1") == 25
    )
    check_stack_name(_name(52), template)
    with pytest.raises(TemplateError, match="SendMessageFunction.*Use at most 52"):
        check_stack_name(_name(53), template)


@pytest.mark.parametrize("name", ["1chat", "chat_room", "chat.room", "", "c" * 129, "xn--chat"])
def test_names_aws_refuses_outright_are_refused(embedded_aws, name):
    with pytest.raises(TemplateError):
        check_stack_name(name, load_template(CHAT), bucket=name.lower() + "-artifacts-1-r")


@pytest.mark.parametrize("length", [1, 30])
def test_the_shortest_and_longest_accepted_names_deploy(stack, length):
    name = _name(length)
    result = deploy_stack(CHAT, stack_name=name, parameters={"Step": "auth"}, progress=quiet)
    try:
        assert result.status == "CREATE_COMPLETE"
        functions, iam = boto3.client("lambda"), boto3.client("iam")
        role_arn = functions.get_function(FunctionName=f"{name}-sendmessage")["Configuration"][
            "Role"
        ]
        role = iam.get_role(RoleName=role_arn.rsplit("/", 1)[1])["Role"]
        boundary = f"arn:aws:iam::123456789012:policy/chatlib/{name}/function-boundary"
        assert role["Path"] == f"/chatlib/{name}/"
        assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
        assert iam.get_policy(PolicyArn=boundary)["Policy"]["PolicyName"] == "function-boundary"
        buckets = {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]}
        assert f"{name.lower()}-artifacts-123456789012-us-east-1" in buckets
    finally:
        teardown_stack(name, progress=quiet)


def test_the_first_refused_name_fails_before_anything_is_created(stack):
    name = _name(31)
    with pytest.raises(TemplateError, match=r"code bucket name .*\(64 characters"):
        plan_deploy(CHAT, stack_name=name, progress=quiet)
    buckets = {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]}
    assert not any(bucket.startswith(name.lower()) for bucket in buckets)
    with pytest.raises(boto3.client("cloudformation").exceptions.ClientError):
        boto3.client("cloudformation").describe_stacks(StackName=name)


# ---------------------------------------------------------------------- item 9: event order
def _event(logical_id: str, status: str, at: datetime, reason: str = "") -> dict:
    event = {"LogicalResourceId": logical_id, "ResourceStatus": status, "Timestamp": at}
    event["ResourceType"] = "AWS::CloudFormation::Stack" if logical_id == "chat" else "AWS::X"
    if reason:
        event["ResourceStatusReason"] = reason
    return event


def test_failures_are_those_of_the_last_operation_whatever_the_clocks_say():
    """Newest first, as DescribeStackEvents returns them. The timestamps are deliberately
    out of step with this machine's clock (an hour behind it, then a day ahead): the reasons
    come from the events' order alone."""
    now = datetime.now(UTC)
    earlier, later = now - timedelta(hours=1), now + timedelta(days=1)
    events = [
        _event("chat", "UPDATE_ROLLBACK_COMPLETE", earlier),
        _event("SendMessageFunction", "UPDATE_FAILED", earlier, "Resource update cancelled"),
        _event("ChatStage", "UPDATE_FAILED", earlier, "At least one route is required"),
        _event("chat", "UPDATE_IN_PROGRESS", earlier, "User Initiated"),
        _event("chat", "UPDATE_COMPLETE", later),
        _event("OldRole", "CREATE_FAILED", later, "an earlier deploy's failure"),
        _event("chat", "CREATE_IN_PROGRESS", later, "User Initiated"),
    ]
    error = failure_from_events("chat", "UPDATE_ROLLBACK_COMPLETE", events)
    assert error.reasons == (
        "ChatStage (AWS::X): At least one route is required",
        "SendMessageFunction (AWS::X): Resource update cancelled",
    )


# ---------------------------------------------------------------------- item 10: the runtime
def test_function_instances_run_under_the_templates_python_when_it_is_installed(
    tmp_path, monkeypatch
):

    runtime = load_template(CHAT)["Resources"]["SendMessageFunction"]["Properties"]["Runtime"]
    assert lambda_runtime.TEMPLATE_RUNTIME == runtime  # one name for both
    fake = tmp_path / runtime
    fake.write_text("#!/bin/sh\necho 3.12\n")  # what a real one prints for the version check
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    lambda_runtime.worker_interpreter.cache_clear()
    try:
        assert lambda_runtime.worker_interpreter() == str(fake)
    finally:
        lambda_runtime.worker_interpreter.cache_clear()


PYENV_SHIM = "#!/bin/sh\necho 'pyenv: python3.12: command not found'; exit 127\n"


@pytest.mark.parametrize("shim", [None, PYENV_SHIM])
def test_without_it_they_run_under_this_python_and_say_so_once(tmp_path, monkeypatch, caplog, shim):
    """Nothing on PATH, or a version manager's shim for a version it does not hold."""

    if shim:
        (tmp_path / "python3.12").write_text(shim)
        (tmp_path / "python3.12").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    lambda_runtime.worker_interpreter.cache_clear()
    try:
        with caplog.at_level("INFO", logger="chatlib.local.gateway.runtime"):
            assert lambda_runtime.worker_interpreter() == sys.executable
            assert lambda_runtime.worker_interpreter() == sys.executable
    finally:
        lambda_runtime.worker_interpreter.cache_clear()
    notes = [r.getMessage() for r in caplog.records if "not installed" in r.getMessage()]
    assert notes == [
        f"python3.12 (the template's runtime) is not installed: function instances run under "
        f"Python {sys.version_info[0]}.{sys.version_info[1]}, as this process does"
    ]


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_the_zip_imports_under_the_lambda_runtimes_python(version, tmp_path):
    """The template says python3.12 and Lambda offers 3.13: the zip's handlers must import
    under each with only boto3 beside them. Runs where that interpreter is installed (CI
    images with several Pythons); skipped, with the reason, elsewhere."""
    python = next((p for p in _pythons(version) if _version_of(p) == version), None)
    if python is None:
        pytest.skip(f"python{version} is not installed here (looked on PATH and in pyenv)")
    code, packages = tmp_path / "task", tmp_path / "boto3-only"
    with zipfile.ZipFile(io.BytesIO(build_package().data)) as archive:
        archive.extractall(code)
    packages.mkdir()
    for distribution in distribution_closure("boto3"):
        for path in top_level_paths(distribution):
            (packages / path.name).symlink_to(path)
    script = (
        f"import importlib, sys; sys.path[:0] = [{str(code)!r}, {str(packages)!r}]\n"
        f"for handler in {sorted(template_handlers())!r}:\n"
        "    module, _, function = handler.rpartition('.')\n"
        "    assert callable(getattr(importlib.import_module(module), function)), handler\n"
        "print(sys.version_info[:2])\n"
    )
    result = subprocess.run([python, "-I", "-S", "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tuple(int(n) for n in version.split(".")))


def _pythons(version: str) -> list[str]:
    """Candidates for Python ``version``: on PATH, then in pyenv's versions folder (where a
    CI image or a laptop often keeps the ones not on PATH)."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = [shutil.which(f"python{version}")]
    found += sorted(str(p) for p in root.glob(f"versions/{version}.*/bin/python{version}"))
    return [p for p in found if p]
