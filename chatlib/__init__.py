"""chatlib: the serverless WebSocket chat the workbook teaches, and the tools to run it locally.

Chat logic (pure): :mod:`chatlib.messages`, :mod:`chatlib.validation`, :mod:`chatlib.limits`.
Storage and delivery (I/O): :mod:`chatlib.table`, :mod:`chatlib.store`, :mod:`chatlib.sender`,
:mod:`chatlib.fanout`. Lambda entry points: :mod:`chatlib.handlers`. Running without AWS:
:mod:`chatlib.embedded` (moto on loopback), :mod:`chatlib.event_factory` (API Gateway-shaped
events), :mod:`chatlib.connections_standin` (a stand-in ``@connections`` endpoint).

Only the names below are public; the modules behind them may move.
"""

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
    "MessageTooLarge",
    "NotConnected",
    "ReadResult",
    "WebSocketEvent",
    "capture_invocation_logs",
    "connections_endpoint",
    "create_connection_table",
    "delete_connection_table",
    "fan_out",
    "new_connection_id",
    "start_embedded_aws",
    "table_definition",
]
