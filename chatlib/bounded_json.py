"""``json.loads`` as strict as JSON itself, with a nesting limit checked first.

A 128 KB frame of ``[[[[…`` makes ``json.loads`` raise ``RecursionError``, and on CPython
3.11 hitting that limit can leave the interpreter's recursion bookkeeping off, so that a
later ``compile`` fails with ``SystemError``. Refusing deep documents before parsing keeps
both the gateway and the Lambda instance healthy.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MAX_JSON_DEPTH", "loads_bounded"]

#: Far deeper than any chat frame needs, far shallower than the interpreter's limit.
MAX_JSON_DEPTH = 64

_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"', re.S)
_BRACKETS = re.compile(r"[\[\]{}]")


def loads_bounded(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON; raise ``ValueError`` if it is invalid or nested deeper than ``max_depth``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    depth = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > max_depth:
            raise ValueError(f"JSON nested deeper than {max_depth} levels")
    return json.loads(text, parse_constant=_reject_constant)


def _reject_constant(name: str) -> Any:
    """Python accepts ``NaN`` and ``Infinity``; JSON (RFC 8259), and so API Gateway, does not."""
    raise ValueError(f"{name} is not JSON")
