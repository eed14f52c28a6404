"""chatlib: the serverless WebSocket chat the workbook teaches, and the tools to run it locally.

Chat logic (pure): :mod:`chatlib.messages`, :mod:`chatlib.validation`, :mod:`chatlib.limits`.
Storage and delivery (I/O): :mod:`chatlib.table`, :mod:`chatlib.store`, :mod:`chatlib.sender`,
:mod:`chatlib.fanout`. Lambda entry points: :mod:`chatlib.handlers`. Running without AWS:
:mod:`chatlib.embedded` (moto on loopback), :mod:`chatlib.gateway` (API Gateway's WebSocket
data plane, locally), :mod:`chatlib.api_definition` (define the API in the control plane),
:mod:`chatlib.event_factory` (API Gateway-shaped events), :mod:`chatlib.client` (a chat
client), :mod:`chatlib.connections_standin` (a stand-in ``@connections`` for unit tests).

Only the names below are public; the modules behind them may move. The local-only parts
(the gateway, the chat client) load on first use, so that a Lambda function importing a
handler needs nothing but the standard library and boto3.
"""

from importlib import import_module
from typing import Any

from chatlib.api_definition import define_websocket_api, deploy_chat
from chatlib.apigw_event import WebSocketEvent
from chatlib.connections_standin import ConnectionsStandIn
from chatlib.embedded import EmbeddedAWS, start_embedded_aws
from chatlib.errors import (
    BadRequest,
    ChatlibError,
    ConfigurationError,
    ConnectionGone,
    InvalidIdentifier,
    MessageTooLarge,
    NotConnected,
)
from chatlib.event_factory import EventFactory, FakeLambdaContext, new_connection_id
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
    "EmbeddedAWS",
    "EventFactory",
    "FakeLambdaContext",
    "FanOutReport",
    "InvalidIdentifier",
    "LocalStack",
    "MessageTooLarge",
    "NotConnected",
    "ReadResult",
    "WebSocketEvent",
    "capture_invocation_logs",
    "connections_endpoint",
    "create_connection_table",
    "define_websocket_api",
    "delete_connection_table",
    "deploy_chat",
    "fan_out",
    "new_connection_id",
    "start_embedded_aws",
    "start_local_stack",
    "table_definition",
]


_LAZY = {
    "ChatClient": "chatlib.client",
    "LocalStack": "chatlib.gateway.stack",
    "start_local_stack": "chatlib.gateway.stack",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'chatlib' has no attribute {name!r}")
