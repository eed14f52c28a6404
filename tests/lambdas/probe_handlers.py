"""Lambda handlers that let the gateway tests see what a function sees.

They run inside the local Lambda runtime, each in its own process, found through the
function's own PYTHONPATH setting. They tell the test what happened by posting a frame
back to the caller through @connections, or by printing to their log.
"""

from __future__ import annotations

import json
import os
import time

import boto3

from chatlib.sender import connections_endpoint

_invocations = 0  # module state: survives warm invocations


def _reply(event, payload):
    context = event["requestContext"]
    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=connections_endpoint(context["domainName"], context["stage"]),
    )
    client.post_to_connection(ConnectionId=context["connectionId"], Data=json.dumps(payload))


def report(event, context):
    """Reply with the event, this function's environment and its context object."""
    global _invocations
    _invocations += 1
    _reply(
        event,
        {
            "event": event,
            "environment": dict(os.environ),
            "context": {
                "function_name": context.function_name,
                "aws_request_id": context.aws_request_id,
                "remaining_ms": context.get_remaining_time_in_millis(),
            },
            "invocations": _invocations,
            "pid": os.getpid(),
        },
    )
    return {"statusCode": 200}


def connect(event, context):
    """$connect: status from ?status=, subprotocol echo unless ?echo=no; logs the event."""
    print("CONNECT", json.dumps(event))
    query = event.get("queryStringParameters") or {}
    if query.get("post_during_connect"):
        try:
            _reply(event, {"too": "early"})
            print("POST DURING CONNECT: delivered")
        except Exception as error:
            print("POST DURING CONNECT:", type(error).__name__)
    response = {"statusCode": int(query.get("status", 200))}
    offered = (event.get("headers") or {}).get("Sec-WebSocket-Protocol")
    if offered and query.get("echo") != "no":
        response["headers"] = {"Sec-WebSocket-Protocol": offered.split(",")[0].strip()}
    return response


def disconnect(event, context):
    print("DISCONNECT", json.dumps(event["requestContext"]))
    return {"statusCode": 200}


def sleepy(event, context):
    time.sleep(float(json.loads(event["body"]).get("seconds", 5)))
    return {"statusCode": 200}


def boom(event, context):
    raise RuntimeError("handler exploded on purpose")


def authorizer(event, context):
    """Allow, deny, fail or misbehave depending on the token."""
    print("AUTHORIZER", json.dumps(event))
    token = (event.get("queryStringParameters") or {}).get("token") or (
        event.get("headers") or {}
    ).get("Sec-WebSocket-Protocol", "")
    if token == "unauthorized":
        raise Exception("Unauthorized")
    if token == "crash":
        raise RuntimeError("authorizer bug")
    if token == "garbage":
        return "not a policy"
    if token == "bad-action":  # an Action that is not a string: a malformed policy
        statement = {"Action": 7, "Effect": "Allow", "Resource": event["methodArn"]}
        return {"principalId": "x", "policyDocument": {"Statement": [statement]}}
    effect = "Allow" if token in {"allow", "allow-wildcard"} else "Deny"
    resource = event["methodArn"]
    if token == "allow-wildcard":
        resource = resource.rsplit("/", 2)[0] + "/*"
    return {
        "principalId": "user-42",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": {"userId": "alice", "rooms": "blue,green", "level": 3, "admin": False},
    }
