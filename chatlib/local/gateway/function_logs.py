"""What the local functions print, kept as Lambda keeps it: in CloudWatch Logs.

Lambda writes each function instance's output to a log stream of its own
(``2024/05/01/[$LATEST]<32 hex digits>``) in the function's log group
(``/aws/lambda/<function name>``). :class:`FunctionLogs` does the same against the embedded
AWS: every line is kept in memory (``stack.logs(name)``, for notebooks and tests) and queued
for CloudWatch Logs; :meth:`FunctionLogs.ship` sends what is queued in one ``PutLogEvents``
per stream, so ``logs.filter_log_events``, ``aws logs tail`` and ``chatlib-local logs`` read
the functions' logs here as they would on AWS. The runtime calls ``ship`` about once a second
in a worker thread: no line waits on a network round trip.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

__all__ = ["FunctionLogs", "log_group_name", "new_log_stream_name"]

log = logging.getLogger("chatlib.local.gateway.runtime")

#: CloudWatch Logs limits for one PutLogEvents call.
_MAX_BATCH_EVENTS = 10_000
_MAX_BATCH_BYTES = 1_048_576 - 1_000
_EVENT_OVERHEAD = 26


def log_group_name(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


def new_log_stream_name() -> str:
    """A stream name in Lambda's format, one per function instance."""
    return time.strftime("%Y/%m/%d", time.gmtime()) + f"/[$LATEST]{uuid.uuid4().hex}"


class FunctionLogs:
    """Log lines per function, newest last. With a ``client`` (boto3 ``logs``), the lines are
    also queued for that CloudWatch Logs, per function and stream, until :meth:`ship`."""

    def __init__(self, max_lines: int = 20_000, *, client: Any = None) -> None:
        self._lines: dict[str, collections.deque[str]] = collections.defaultdict(
            lambda: collections.deque(maxlen=max_lines)
        )
        self._client = client
        self._queued: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._created: set[tuple[str, str]] = set()
        self._queue_lock = threading.Lock()
        self._ship_lock = threading.Lock()  # one shipment at a time, in order

    def append(
        self, function_name: str, line: str, stream: str | None = None, *, group: str = ""
    ) -> None:
        """Keep ``line`` under ``function_name``; with a ``stream``, queue it for the function's
        log group (or for ``group``: API Gateway's execution log, say)."""
        self._lines[function_name].append(line)
        if self._client is not None and stream is not None:
            # CloudWatch Logs refuses an empty message; Lambda's agent keeps the blank line
            event = {"timestamp": int(time.time() * 1000), "message": line or " "}
            key = (group or log_group_name(function_name), stream)
            with self._queue_lock:
                self._queued.setdefault(key, []).append(event)

    def lines(self, function_name: str) -> list[str]:
        return list(self._lines.get(function_name, ()))

    def function_names(self) -> list[str]:
        return sorted(self._lines)

    def ship(self) -> int:
        """Send every queued line to CloudWatch Logs; return how many were sent. Blocking:
        call it from a worker thread. A failure is logged and the lines are dropped, as a
        log agent does when its destination is gone (the embedded AWS stopping, say)."""
        with self._ship_lock:
            with self._queue_lock:
                queued, self._queued = self._queued, {}
            sent = 0
            for (group, stream), events in queued.items():
                try:
                    self._ensure_stream(group, stream)
                    for batch in _batches(events):
                        self._client.put_log_events(
                            logGroupName=group, logStreamName=stream, logEvents=batch
                        )
                        sent += len(batch)
                except Exception as error:  # never take the gateway down for a log line
                    log.debug("could not write %d lines to %s: %s", len(events), group, error)
            return sent

    @contextlib.contextmanager
    def destination_replaced(self) -> Iterator[None]:
        """Hold shipping while the embedded AWS is replaced (``serve`` restarting it). Nothing
        is shipped meanwhile: a log group made before the template's own
        ``AWS::Logs::LogGroup`` would fail the redeploy. Lines queued for the old destination
        are dropped, as a log agent drops them when its destination is gone, and every stream
        is made again in the new one."""
        with self._ship_lock:
            try:
                yield
            finally:
                with self._queue_lock:
                    self._queued.clear()
                self._created.clear()

    def _ensure_stream(self, group: str, stream: str) -> None:
        if (group, stream) in self._created:
            return
        errors = self._client.exceptions
        try:  # the template creates the group; a function defined by hand may have none
            self._client.create_log_group(logGroupName=group)
        except errors.ResourceAlreadyExistsException:
            pass
        try:
            self._client.create_log_stream(logGroupName=group, logStreamName=stream)
        except errors.ResourceAlreadyExistsException:
            pass
        self._created.add((group, stream))


def _batches(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split events into PutLogEvents calls within CloudWatch Logs' count and size limits."""
    batches: list[list[dict[str, Any]]] = [[]]
    size = 0
    for event in events:
        event_size = len(event["message"].encode("utf-8")) + _EVENT_OVERHEAD
        if batches[-1] and (
            len(batches[-1]) >= _MAX_BATCH_EVENTS or size + event_size > _MAX_BATCH_BYTES
        ):
            batches.append([])
            size = 0
        batches[-1].append(event)
        size += event_size
    return [batch for batch in batches if batch]
