"""chatlib: the serverless WebSocket chat the workbook teaches, and the tools to run it locally.

Chat logic (pure): :mod:`chatlib.messages`, :mod:`chatlib.validation`, :mod:`chatlib.limits`.
Storage and delivery (I/O): :mod:`chatlib.table`, :mod:`chatlib.store`, :mod:`chatlib.sender`,
:mod:`chatlib.fanout`. Lambda entry points: :mod:`chatlib.handlers`. Running without AWS:
:mod:`chatlib.embedded` (moto on loopback), :mod:`chatlib.gateway` (API Gateway's WebSocket
data plane, locally), :mod:`chatlib.api_definition` (define the API in the control plane),
:mod:`chatlib.deploy` (CloudFormation templates deployed with boto3),
:mod:`chatlib.event_factory` (API Gateway-shaped events), :mod:`chatlib.client` (a chat
client), :mod:`chatlib.connections_standin` (a stand-in ``@connections`` for unit tests).

Only the names below are public; the modules behind them may move. The laptop-only parts
(the gateway, the clients, the embedded AWS, the deploy helper, the test helpers) load on
first use and are left out of the Lambda package, so that a Lambda function importing a
handler needs nothing but the standard library and boto3.
"""

from importlib import import_module
from typing import Any

from chatlib.apigw_event import WebSocketEvent
from chatlib.errors import (
    BadRequest,
    ChatlibError,
    ConfigurationError,
    ConnectionGone,
    InvalidIdentifier,
    InvalidToken,
    MessageTooLarge,
    NotConnected,
)
from chatlib.fanout import FanOutReport, fan_out
from chatlib.invocation_log import capture_invocation_logs
from chatlib.sender import ENDPOINT_OVERRIDE_VARIABLE, ConnectionsSender, connections_endpoint
from chatlib.store import Connection, ConnectionStore, ReadResult
from chatlib.table import create_connection_table, delete_connection_table, table_definition

__all__ = [
    "ENDPOINT_OVERRIDE_VARIABLE",
    "BadRequest",
    "ChatClient",
    "ChatlibError",
    "ConfigurationError",
    "Connection",
    "ConnectionGone",
    "ConnectionStore",
    "ConnectionsSender",
    "ConnectionsStandIn",
    "DeployFailed",
    "EmbeddedAWS",
    "EventFactory",
    "FakeLambdaContext",
    "FanOutReport",
    "InvalidIdentifier",
    "InvalidToken",
    "LocalStack",
    "MessageTooLarge",
    "NotConnected",
    "ReadResult",
    "WebSocketEvent",
    "capture_invocation_logs",
    "connections_endpoint",
    "create_connection_table",
    "build_package",
    "define_websocket_api",
    "delete_connection_table",
    "deploy_chat",
    "deploy_stack",
    "fan_out",
    "issue_token",
    "mint_token",
    "new_connection_id",
    "plan_deploy",
    "stack_outputs",
    "start_embedded_aws",
    "start_local_stack",
    "table_definition",
    "teardown_stack",
    "verify_token",
]


_LAZY = {
    "ChatClient": "chatlib.client",
    "DeployFailed": "chatlib.deploy",
    "build_package": "chatlib.deploy",
    "deploy_stack": "chatlib.deploy",
    "issue_token": "chatlib.token_secret",
    "mint_token": "chatlib.tokens",
    "verify_token": "chatlib.tokens",
    "plan_deploy": "chatlib.deploy",
    "stack_outputs": "chatlib.deploy",
    "teardown_stack": "chatlib.deploy",
    "ConnectionsStandIn": "chatlib.connections_standin",
    "EmbeddedAWS": "chatlib.embedded",
    "EventFactory": "chatlib.event_factory",
    "FakeLambdaContext": "chatlib.event_factory",
    "define_websocket_api": "chatlib.api_definition",
    "deploy_chat": "chatlib.api_definition",
    "new_connection_id": "chatlib.event_factory",
    "start_embedded_aws": "chatlib.embedded",
    "LocalStack": "chatlib.gateway.stack",
    "start_local_stack": "chatlib.gateway.stack",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'chatlib' has no attribute {name!r}")
