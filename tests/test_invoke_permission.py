"""API Gateway invokes a function only if the function's policy allows it, as on AWS.

The rules (:mod:`chatlib.local.gateway.invoke_permission`) are pinned on policy documents;
then, through the gateway, with functions wired by hand as notebook 02 wires them: no
permission, a permission for another API, a Deny, and the right one. A refused ``$connect``
fails the handshake with 500, a refused message route answers "Internal server error", the
function never runs, and the reason is in the stage's execution log.
"""

from __future__ import annotations

import io
import json
import zipfile

import boto3
import pytest
from gateway_helpers import open_socket, receive_json, refused_status

from chatlib.local.gateway.invoke_permission import (
    REFUSED,
    authorizer_source_arn,
    invoke_refusal,
    route_source_arn,
)

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:chat-send"
SOURCE = route_source_arn("us-east-1", "123456789012", "abc123", "dev", "sendmessage")


def _policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(source_arn=None, **overrides):
    statement = {
        "Sid": "s",
        "Effect": "Allow",
        "Principal": {"Service": "apigateway.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": FUNCTION,
    }
    if source_arn:
        statement["Condition"] = {"ArnLike": {"AWS:SourceArn": source_arn}}
    return {**statement, **overrides}


# -- the rules -------------------------------------------------------------------------------
def test_the_source_arns_api_gateway_presents():
    assert SOURCE == "arn:aws:execute-api:us-east-1:123456789012:abc123/dev/sendmessage"
    assert authorizer_source_arn("us-east-1", "1", "abc123", "xyz") == (
        "arn:aws:execute-api:us-east-1:1:abc123/authorizers/xyz"
    )


def test_no_policy_refuses_and_says_add_permission_was_never_run():
    reason = invoke_refusal(None, FUNCTION, SOURCE)
    assert reason.startswith(REFUSED) and "add-permission was never run" in reason


@pytest.mark.parametrize(
    "pattern",
    [
        "arn:aws:execute-api:us-east-1:123456789012:abc123/*/sendmessage",  # the template's
        "arn:aws:execute-api:us-east-1:123456789012:abc123/*",
        "arn:aws:execute-api:us-east-1:123456789012:abc123/dev/sendmessage",
        "arn:aws:execute-api:*:*:abc123/*/*",
    ],
)
def test_a_matching_source_arn_allows(pattern):
    assert invoke_refusal(_policy(_allow(pattern)), FUNCTION, SOURCE) is None


@pytest.mark.parametrize(
    "pattern",
    [
        "arn:aws:execute-api:us-east-1:123456789012:other99/*/sendmessage",  # another API
        "arn:aws:execute-api:us-east-1:123456789012:abc123/*/$connect",  # another route
        "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/sendmessage",  # another stage
        "arn:aws:execute-api:us-east-1:999999999999:abc123/*/sendmessage",  # another account
        "arn:aws:execute-api:us-east-1:*",  # '*' stays within one of the ARN's six parts
    ],
)
def test_a_source_arn_for_something_else_refuses(pattern):
    reason = invoke_refusal(_policy(_allow(pattern)), FUNCTION, SOURCE)
    assert reason is not None and f"allows apigateway.amazonaws.com from {SOURCE}" in reason


def test_principal_action_and_resource_must_match():
    assert invoke_refusal(
        _policy(_allow(Principal={"Service": "sns.amazonaws.com"})), FUNCTION, SOURCE
    )
    assert invoke_refusal(_policy(_allow(Action="lambda:GetFunction")), FUNCTION, SOURCE)
    assert invoke_refusal(_policy(_allow(Resource=FUNCTION + "-other")), FUNCTION, SOURCE)
    assert invoke_refusal(_policy(_allow(Action="lambda:*")), FUNCTION, SOURCE) is None
    assert invoke_refusal(_policy(_allow(Principal="*")), FUNCTION, SOURCE) is None


def test_a_deny_wins_and_an_unknown_condition_never_holds():
    deny = _allow(Effect="Deny", Sid="d")
    reason = invoke_refusal(_policy(_allow(), deny), FUNCTION, SOURCE)
    assert reason is not None and "a Deny statement" in reason
    odd = _allow(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
    assert invoke_refusal(_policy(odd), FUNCTION, SOURCE) is not None
    account = _allow(Condition={"StringEquals": {"AWS:SourceAccount": "123456789012"}})
    assert invoke_refusal(_policy(account), FUNCTION, SOURCE) is None


# -- through the gateway ---------------------------------------------------------------------
HANDLERS = """
def connect(event, context):
    print("CONNECT RAN")
    return {"statusCode": 200}

def echo(event, context):
    print("ECHO RAN")
    return {"statusCode": 200}
"""


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("wired.py", HANDLERS)
    return buffer.getvalue()


_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def wire_by_hand(name, code, routes, *, permit):
    """Notebook 02's calls: a role, one function per route (``code``: the zip), the API, its
    integrations, routes and stage, and (if ``permit``) each function's invoke permission.
    Returns the API id and ``{route key: function ARN}``."""
    iam, lam, apigw = boto3.client("iam"), boto3.client("lambda"), boto3.client("apigatewayv2")
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps(_TRUST))
    api_id = apigw.create_api(
        Name=name, ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
    )["ApiId"]
    arns = {}
    for route, handler in routes.items():
        arns[route] = lam.create_function(
            FunctionName=f"{name}-{route.strip('$')}",
            Runtime="python3.12",
            Role=role["Role"]["Arn"],
            Handler=handler,
            Code={"ZipFile": code},
        )["FunctionArn"]
        uri = (
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
            f"{arns[route]}/invocations"
        )
        integration = apigw.create_integration(
            ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=uri
        )
        apigw.create_route(
            ApiId=api_id, RouteKey=route, Target=f"integrations/{integration['IntegrationId']}"
        )
        if permit:
            source = f"arn:aws:execute-api:us-east-1:123456789012:{api_id}/*/{route}"
            _permit(arns[route], source, "apigateway")
    apigw.create_stage(ApiId=api_id, StageName="dev", AutoDeploy=True)
    return api_id, arns


@pytest.fixture(scope="module")
def wired(stack):
    """An API wired by hand: $connect and echo, each its own function, no permission yet."""
    routes = {"$connect": "wired.connect", "echo": "wired.echo"}
    api_id, arns = wire_by_hand("wired", _zip(), routes, permit=False)
    return api_id, arns, stack.gateway.websocket_url(api_id, "dev")


def _permit(function_arn, source_arn, statement_id):
    boto3.client("lambda").add_permission(
        FunctionName=function_arn,
        StatementId=statement_id,
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=source_arn,
    )


def _execution_log(api_id):
    events = boto3.client("logs").filter_log_events(
        logGroupName=f"API-Gateway-Execution-Logs_{api_id}/dev"
    )["events"]
    return [event["message"] for event in events]


def test_permissions_decide_what_runs(wired, stack):
    api_id, arns, url = wired
    # 1. nothing allows API Gateway: the handshake fails as AWS's does, $connect never ran
    assert refused_status(url) == 500
    assert not any("CONNECT RAN" in line for line in stack.logs("wired-connect"))
    log = _execution_log(api_id)
    assert any(REFUSED in line and "(wired-connect)" in line for line in log), log

    # 2. a permission for another API does not help
    _permit(arns["$connect"], "arn:aws:execute-api:us-east-1:123456789012:other1/*/$connect", "x")
    stack.refresh()
    assert refused_status(url) == 500

    # 3. the right one: the handshake succeeds; the message route is still refused
    arn = f"arn:aws:execute-api:us-east-1:123456789012:{api_id}/*/$connect"
    _permit(arns["$connect"], arn, "connect")
    stack.refresh()
    ws = open_socket(url)
    assert any("CONNECT RAN" in line for line in stack.logs("wired-connect"))
    ws.send(json.dumps({"action": "echo"}))
    assert receive_json(ws)["message"] == "Internal server error"
    assert not any("ECHO RAN" in line for line in stack.logs("wired-echo"))

    # 4. once echo has its permission too, the same open connection reaches it
    _permit(arns["echo"], f"arn:aws:execute-api:us-east-1:123456789012:{api_id}/*/echo", "echo")
    stack.refresh()
    ws.send(json.dumps({"action": "echo"}))
    stack.wait_until_idle()
    assert any("ECHO RAN" in line for line in stack.logs("wired-echo"))
    ws.close()


def test_a_template_deployed_stack_carries_its_permissions(stack):
    """moto's CloudFormation leaves ``${ChatApi}`` unresolved in each SourceArn; the bridge
    puts the resolved permission in its place, so the deployed chat is served."""
    from chatlib import ChatClient, deploy_stack
    from chatlib.deploy import CHAT_TEMPLATE

    result = deploy_stack(
        CHAT_TEMPLATE,
        stack_name="perm-check",
        parameters={"Step": "broadcast"},
        progress=lambda _: 0,
    )
    policy = json.loads(
        boto3.client("lambda").get_policy(FunctionName="perm-check-connect")["Policy"]
    )
    sources = [s["Condition"]["ArnLike"]["AWS:SourceArn"] for s in policy["Statement"]]
    api_id = stack.local_url(result.outputs["WebSocketUrl"]).rsplit("/", 2)[-2]
    assert sources == [f"arn:aws:execute-api:us-east-1:123456789012:{api_id}/*/$connect"]
    client = ChatClient.connect(
        stack.local_url(result.outputs["WebSocketUrl"]), room_id="lobby", user_id="p"
    )
    client.send("hello")
    stack.wait_until_idle()
    assert [f["message"] for f in client.receive_all()] == ["hello"]
    client.close()


AUTHORIZER = """
def allow(event, context):
    statement = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    return {"principalId": "u", "policyDocument": policy}

def connect(event, context):
    return {"statusCode": 200}
"""


def test_an_authorizer_needs_its_own_permission(stack, tmp_path):
    """API Gateway invokes a Lambda authorizer as ``{api}/authorizers/{id}``: without a
    permission for that, every handshake fails with 500 before ``$connect`` is reached."""
    from chatlib.local.api_shortcut import AuthorizerSpec, define_api_shortcut

    (tmp_path / "authz.py").write_text(AUTHORIZER)
    api = define_api_shortcut(
        "authorized",
        {"$connect": "authz.connect"},
        authorizer=AuthorizerSpec("authz.allow"),
        environment={"PYTHONPATH": str(tmp_path)},
    )
    url = stack.gateway.websocket_url(api.api_id, api.stage)
    open_socket(url, query="token=x").close()  # the shortcut granted it

    lam = boto3.client("lambda")
    function = api.function_names["authorizer"]
    policy = json.loads(lam.get_policy(FunctionName=function)["Policy"])
    (statement,) = policy["Statement"]
    assert "/authorizers/" in statement["Condition"]["ArnLike"]["AWS:SourceArn"]
    lam.remove_permission(FunctionName=function, StatementId=statement["Sid"])
    stack.refresh()
    assert refused_status(url, "token=x") == 500
    assert any(f"({function})" in line for line in _execution_log(api.api_id))
