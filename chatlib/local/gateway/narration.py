"""The gateway's own log lines, as an instructor reads them on a projected terminal.

Two rules: a token never appears (a JWT in a query string is a password for its lifetime:
``token=eyJ…`` is shown as ``token=***``), and a message's line says what the handler did
(its ``statusCode``, refused or delivered, to how many), not merely that it returned.
"""

from __future__ import annotations

import re

from chatlib.local.gateway.lambda_runtime import Invocation

__all__ = ["describe_outcome", "mask_tokens"]

_SECRET_PARAMETER = re.compile(
    r"(?P<name>(?:^|[?&;])[^=&;]*(?:token|secret|password|signature)[^=&;]*=)[^&;#]*",
    re.IGNORECASE,
)
#: The handler's counts worth a glance, in the order they are told.
_COUNTS = ("recipients", "delivered", "gone", "failed")


def mask_tokens(text: str) -> str:
    """``text`` (a query string or URL) with the value of every token-like parameter masked."""
    return _SECRET_PARAMETER.sub(lambda match: match.group("name") + "***", text)


def describe_outcome(invocation: Invocation) -> str:
    """``200 delivered: recipients 3, delivered 2, gone 1``, ``400 refused``, or the failure."""
    if not invocation.ok:
        return f"failed: {invocation.error_type}"
    result = invocation.result
    status = result.get("statusCode") if isinstance(result, dict) else None
    if not isinstance(status, int):
        return "ok"
    summary = invocation.summary or {}
    counts = summary.get("counts") if isinstance(summary.get("counts"), dict) else {}
    told = [f"{name} {counts[name]}" for name in _COUNTS if name in counts]
    if status >= 500:
        word = "error"
    elif status >= 400:
        word = "refused"
    else:
        word = "delivered" if "delivered" in counts else "ok"
    return f"{status} {word}" + (": " + ", ".join(told) if told else "")
