"""Chat deployments for end-to-end tests: chatlib's handlers, with one route swapped if asked."""

from __future__ import annotations

import itertools

from gateway_helpers import LAMBDAS

from chatlib import create_connection_table
from chatlib.local.api_shortcut import define_api_shortcut

_numbers = itertools.count()

CHAT_ROUTES = {
    "$connect": "chatlib.handlers.connect.handler",
    "$disconnect": "chatlib.handlers.disconnect.handler",
    "$default": "chatlib.handlers.default.handler",
    "sendmessage": "chatlib.handlers.room.handler",
}


def deploy_test_chat(stack, *, replace=None, environment=None, timeout=10):
    """A fresh rooms-step chat on a table of its own; returns (url, table, function prefix)."""
    n = next(_numbers)
    table = f"e2e-chat-{n}"
    create_connection_table(table)
    routes = {**CHAT_ROUTES, **(replace or {})}
    api = define_api_shortcut(
        f"e2e-chat-{n}",
        {key: handler for key, handler in routes.items() if handler},
        environment={"CONNECTIONS_TABLE": table, "PYTHONPATH": LAMBDAS, **(environment or {})},
        timeout=timeout,
    )
    return stack.gateway.websocket_url(api.api_id, api.stage), table, f"e2e-chat-{n}"
