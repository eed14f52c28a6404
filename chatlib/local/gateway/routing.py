"""Route selection, as API Gateway does it for a WebSocket API (pure, no I/O).

The API's route selection expression names a JSON path in the message body, typically
``$request.body.action``. Its value picks the route whose key equals it exactly; when no
key matches, or the body is not JSON, or the path is missing (API Gateway evaluates that
to an empty string), the message goes to ``$default``; with no ``$default`` either,
there is no route and the client gets a Forbidden frame.
"""

from __future__ import annotations

import json
from collections.abc import Container

from chatlib.bounded_json import loads_bounded

__all__ = ["DEFAULT_ROUTE", "evaluate_selection_expression", "select_route"]

DEFAULT_ROUTE = "$default"
_BODY_PREFIX = "$request.body."


def evaluate_selection_expression(expression: str, body: str | bytes | None) -> str:
    """The value ``expression`` selects from ``body``: a string, or ``""`` when absent.

    Non-string values are rendered as JSON (``{"action": 1}`` selects ``"1"``).
    """
    if not expression.startswith(_BODY_PREFIX) or body is None:
        return ""
    try:
        value = loads_bounded(body)
    except ValueError:  # not JSON (or absurdly deep): API Gateway routes it to $default
        return ""
    for part in expression[len(_BODY_PREFIX) :].split("."):
        if not isinstance(value, dict) or part not in value:
            return ""
        value = value[part]
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def select_route(
    expression: str, body: str | bytes | None, route_keys: Container[str]
) -> str | None:
    """The route key that serves ``body``, or ``None`` when no route does."""
    selected = evaluate_selection_expression(expression, body)
    if selected and not selected.startswith("$") and selected in route_keys:
        return selected
    if DEFAULT_ROUTE in route_keys:
        return DEFAULT_ROUTE
    return None
