"""One structured JSON log line per handler invocation, and a way to read them back.

On Lambda, the line goes to CloudWatch Logs through the runtime's root handler; the
``chatlib`` logger is set to INFO itself because Lambda's root logger starts at WARNING.
CloudWatch Logs Insights can then query fields such as ``outcome`` or ``counts.gone``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["capture_invocation_logs", "log_invocation"]

_logger = logging.getLogger("chatlib.invocations")
_logger.setLevel(logging.INFO)


def log_invocation(**fields: Any) -> None:
    level = logging.ERROR if fields.get("outcome") == "error" else logging.INFO
    _logger.log(level, json.dumps(fields, sort_keys=True, default=str))


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(json.loads(record.getMessage()))


@contextmanager
def capture_invocation_logs() -> Iterator[list[dict[str, Any]]]:
    """Collect the invocation log lines emitted inside the ``with`` block, parsed.

    While collecting, the lines are not passed on to other handlers, so a notebook shows
    only what it chooses to print.
    """
    collector = _Collector()
    _logger.addHandler(collector)
    propagate, _logger.propagate = _logger.propagate, False
    try:
        yield collector.records
    finally:
        _logger.removeHandler(collector)
        _logger.propagate = propagate
