"""`chatlib-local smoke`: it passes on the chat deployed at each step, and fails, naming the
check, on a stack that does not do what its step promises (rooms that leak, no authorizer).

The stacks are infra_cfn/chat.yaml deployed on the embedded AWS and served by the local
gateway; the smoke test reaches them only as clients do, plus the table for the stale row.
"""

from __future__ import annotations

import secrets

import pytest

from chatlib.deploy import CHAT_TEMPLATE, deploy_stack, teardown_stack
from chatlib.tokens import mint_token
from chatlib.tools.cli import main
from chatlib.tools.smoke import SmokeTarget, run_smoke, target_for_stack

ALWAYS = ["connect", "sender's copy", "same room", "rooms apart", "$default", "stale row",
          "frame limit"]  # fmt: skip
TOKEN_CHECKS = ["missing token", "forged token", "expired token", "wrong room"]


def quiet(_line: str) -> None:
    pass


@pytest.fixture(scope="module")
def deployed(stack):
    """One stack per step, deployed once for the module: name -> local URL."""
    urls = {}
    for step in ("broadcast", "rooms", "auth"):
        name = f"smoke-{step}"
        result = deploy_stack(CHAT_TEMPLATE, stack_name=name, parameters={"Step": step},
                              progress=quiet)  # fmt: skip
        urls[step] = stack.local_url(result.outputs["WebSocketUrl"])
    yield urls
    for step in urls:
        teardown_stack(f"smoke-{step}", progress=quiet)


def outcome(checks):
    return {check.name: check.passed for check in checks}


@pytest.mark.parametrize("step", ["broadcast", "rooms", "auth"])
def test_every_check_holds_on_the_chat_at_each_step(deployed, step):
    target = target_for_stack(f"smoke-{step}", url=deployed[step])
    assert target.step == step  # read from the stack's Step parameter
    checks = run_smoke(target)
    expected = ALWAYS + (TOKEN_CHECKS if step == "auth" else [])
    assert outcome(checks) == dict.fromkeys(expected, True), [c.line() for c in checks]


def test_leaking_rooms_fail_the_rooms_apart_check(deployed):
    """A stack that broadcasts where rooms were promised: everything else still holds."""
    target = target_for_stack("smoke-broadcast", url=deployed["broadcast"], step="rooms")
    result = outcome(run_smoke(target))
    assert result.pop("rooms apart") is False
    assert all(result.values())


def test_a_missing_authorizer_fails_the_token_checks(deployed):
    """Checked as the auth step, a rooms-step stack lets anyone in: every refusal fails."""
    secret = secrets.token_urlsafe(32)
    target = SmokeTarget(
        deployed["rooms"],
        "auth",
        mint=lambda user, rooms, ttl: mint_token(
            secret, user_id=user, rooms=rooms, ttl_seconds=ttl
        ),  # fmt: skip
    )
    result = outcome(run_smoke(target))
    assert [result[name] for name in TOKEN_CHECKS] == [False] * 4
    assert result["stale row"] is None  # no table given: skipped, not passed


def test_a_target_that_cannot_mint_is_refused_before_anything_connects():
    with pytest.raises(ValueError, match="mint tokens"):
        SmokeTarget("ws://127.0.0.1:9/x/dev", "auth")
    with pytest.raises(ValueError, match="step must be one of"):
        SmokeTarget("ws://127.0.0.1:9/x/dev", "everything")


def test_the_command_prints_one_line_per_check_and_exits_by_the_verdict(
    deployed, embedded_aws, capsys
):
    where = ["--endpoint-url", embedded_aws.endpoint_url]
    assert main(["smoke", deployed["auth"], "--stack", "smoke-auth", *where]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("(auth step)")
    assert [line.split()[0] for line in lines[1:-1]] == ["ok"] * 11
    assert lines[-1] == "the chat works (11 checks held, 0 failed, 0 skipped)"

    assert main(["smoke", deployed["broadcast"], "--step", "rooms"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("FAIL rooms apart") for line in lines)
    assert lines[-1].startswith("FAILED: rooms apart (")


def test_the_real_account_path_runs_as_commands(stack, embedded_aws, capsys):
    """deploy, smoke, teardown: the commands the README gives for an account, here pointed at
    the embedded AWS with --endpoint-url instead of --aws."""
    import boto3

    where = ["--endpoint-url", embedded_aws.endpoint_url]
    deploy = ["deploy", "--stack", "cli-chat", "--step", "rooms", "--fan-out", "sharded"]
    assert main([*deploy, *where]) == 0
    url = capsys.readouterr().out.splitlines()[-1].removeprefix("WebSocket URL: ")
    described = boto3.client("cloudformation").describe_stacks(StackName="cli-chat")["Stacks"][0]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]}
    assert (parameters["Step"], parameters["FanOut"]) == ("rooms", "sharded")
    assert url.startswith("wss://") and url.endswith("/dev")
    assert main(["smoke", stack.local_url(url), "--stack", "cli-chat", *where]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("the chat works (7 checks held")
    assert main(["teardown", "--stack", "cli-chat", *where]) == 0
    names = [s["StackName"] for s in boto3.client("cloudformation").list_stacks()["StackSummaries"]
             if s["StackStatus"] != "DELETE_COMPLETE"]  # fmt: skip
    assert "cli-chat" not in names
