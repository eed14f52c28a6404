"""chatlib: the serverless WebSocket chat the workbook teaches, and the tools to run it locally.

The folders say where code runs:

    chatlib/            runs in Lambda, and ships in the zip: chat rules (messages, validation,
                        limits, tokens), storage and delivery (table, store, sender, fanout),
                        the event view, logs, errors
    chatlib/handlers/   the Lambda entry points, one module per route (ships too)
    chatlib/deploy/     deploys the stack with boto3, to AWS or to the embedded one
    chatlib/local/      exists only because there is no AWS here: moto, the gateway, the bridge
    chatlib/tools/      for people: the CLI, the chat clients, the room view, the browser page
    chatlib/course/     the notebooks' exercise checks, one module per notebook

The Lambda zip holds exactly the first two (an allow-list in :mod:`chatlib.deploy.package`),
and no module there imports the other four (``tests/test_layout.py``). Only the names below
are public; the deploy, local and tools names load on first use, so a Lambda function that
imports a handler needs nothing but the standard library, boto3 and PyJWT.
"""

from importlib import import_module
from typing import Any

from chatlib.apigw_event import WebSocketEvent
from chatlib.errors import (
    BadRequest,
    ChatlibError,
    ConfigurationError,
    ConnectionGone,
    ConnectionsApiError,
    DeployFailed,
    InvalidIdentifier,
    InvalidToken,
    MessageTooLarge,
    NotConnected,
    TemplateError,
    TokenExpired,
)
from chatlib.fanout import FanOutReport, fan_out
from chatlib.invocation_log import capture_invocation_logs
from chatlib.sender import ENDPOINT_OVERRIDE_VARIABLE, ConnectionsSender, connections_endpoint
from chatlib.store import Connection, ConnectionStore, ReadResult
from chatlib.table import create_connection_table, delete_connection_table, table_definition

_LAZY = {
    "CHAT_TEMPLATE": "chatlib.deploy",
    "build_package": "chatlib.deploy",
    "deploy_stack": "chatlib.deploy",
    "issue_token": "chatlib.deploy",
    "plan_deploy": "chatlib.deploy",
    "rotate_token_secret": "chatlib.deploy",
    "stack_outputs": "chatlib.deploy",
    "teardown_stack": "chatlib.deploy",
    "mint_token": "chatlib.tokens",
    "verify_token": "chatlib.tokens",
    "ChatClient": "chatlib.tools.client",
    "ConnectionsStandIn": "chatlib.local.connections_standin",
    "EmbeddedAWS": "chatlib.local.embedded",
    "start_embedded_aws": "chatlib.local.embedded",
    "EventFactory": "chatlib.local.event_factory",
    "new_connection_id": "chatlib.local.event_factory",
    "LambdaContext": "chatlib.local.lambda_context",
    "define_api_shortcut": "chatlib.local.api_shortcut",
    "define_chat_shortcut": "chatlib.local.api_shortcut",
    "LocalStack": "chatlib.local.gateway.stack",
    "start_local_stack": "chatlib.local.gateway.stack",
    "stop_local_stack": "chatlib.local.gateway.stack",
}
#: Earlier names, kept so that code written against them still runs.
_RENAMED = {
    "FakeLambdaContext": "LambdaContext",
    "deploy_chat": "define_chat_shortcut",
    "define_websocket_api": "define_api_shortcut",
}

__all__ = [
    "BadRequest",
    "CHAT_TEMPLATE",
    "ChatClient",
    "ChatlibError",
    "ConfigurationError",
    "Connection",
    "ConnectionGone",
    "ConnectionStore",
    "ConnectionsApiError",
    "ConnectionsSender",
    "ConnectionsStandIn",
    "DeployFailed",
    "ENDPOINT_OVERRIDE_VARIABLE",
    "EmbeddedAWS",
    "EventFactory",
    "FanOutReport",
    "InvalidIdentifier",
    "InvalidToken",
    "LambdaContext",
    "LocalStack",
    "MessageTooLarge",
    "NotConnected",
    "ReadResult",
    "TemplateError",
    "TokenExpired",
    "WebSocketEvent",
    "build_package",
    "capture_invocation_logs",
    "connections_endpoint",
    "create_connection_table",
    "define_api_shortcut",
    "define_chat_shortcut",
    "delete_connection_table",
    "deploy_stack",
    "fan_out",
    "issue_token",
    "mint_token",
    "new_connection_id",
    "plan_deploy",
    "rotate_token_secret",
    "stack_outputs",
    "start_embedded_aws",
    "start_local_stack",
    "stop_local_stack",
    "table_definition",
    "teardown_stack",
    "verify_token",
]


def __getattr__(name: str) -> Any:
    name = _RENAMED.get(name, name)
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'chatlib' has no attribute {name!r}")
