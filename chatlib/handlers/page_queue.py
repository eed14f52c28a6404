"""The sharded fan-out's queue: pages of a room, handed from ``sendmessage`` to the workers.

With ``FanOut=sharded`` (``infra_cfn/chat.yaml``) the ``sendmessage`` function's environment
names an SQS queue (:data:`PAGE_QUEUE_VARIABLE`). The sender posts the room's first page
itself and puts every further page on the queue; Lambda's SQS poller hands each page to one
invocation of :mod:`chatlib.handlers.fanout_worker`. A page is one message, JSON::

    {"endpoint": "https://{domainName}/{stage}", "connectionIds": ["…", …], "data": "<frame>"}

``endpoint`` is the ``@connections`` URL the sender itself posts to: on AWS,
``https://{domainName}/{stage}`` of the event that invoked it; off AWS, the one local seam's
URL (:data:`chatlib.sender.ENDPOINT_OVERRIDE_VARIABLE`), which a worker invoked by a queue
rather than through an API has no way to know otherwise. The worker resolves it exactly as the
sender resolves its event's (:func:`chatlib.sender.resolved_endpoint`: the seam wins when
set). Only the sender's role may send to the queue, and the worker's role may post only to its
own API's ``@connections``, so a page naming another endpoint could be posted nowhere else.

Pages go out with ``SendMessageBatch``: at most :data:`~chatlib.limits.SQS_BATCH_ENTRIES`
entries and :data:`SQS_BATCH_BYTES` in one call (ten pages of a 32 KB frame would pass the
second). Entries SQS refuses for its own reasons are sent again, up to three attempts; what
still fails is returned, so the sender can count those members as not delivered.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from chatlib.errors import BadRequest, ConfigurationError
from chatlib.limits import FANOUT_PAGE_SIZE, SQS_BATCH_ENTRIES

__all__ = [
    "PAGE_QUEUE_VARIABLE",
    "PAGE_SIZE_VARIABLE",
    "SQS_BATCH_BYTES",
    "Page",
    "PageQueue",
    "page_size_from",
]

log = logging.getLogger("chatlib.handlers")

#: The sender's environment names the fan-out queue here (``FanOut=sharded`` only).
PAGE_QUEUE_VARIABLE = "FANOUT_QUEUE_URL"
#: Connection ids per page, when not :data:`~chatlib.limits.FANOUT_PAGE_SIZE`.
PAGE_SIZE_VARIABLE = "FANOUT_PAGE_SIZE"
#: The most one ``SendMessageBatch`` carries, all entries together. SQS allows 1 MiB since
#: 2025 (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-batch-api.html);
#: 256 KiB, its limit before, also fits a queue whose ``MaximumMessageSize`` was left at the
#: old default, and costs one call more per seven pages only when frames near 32 KB.
SQS_BATCH_BYTES = 256 * 1024
#: Attempts per entry that SQS refused through no fault of the request (``SenderFault`` false).
_ATTEMPTS = 3


def page_size_from(environ: Mapping[str, str] = os.environ) -> int:
    """The page size the environment sets, or the default; a bad value is a clear 500."""
    raw = environ.get(PAGE_SIZE_VARIABLE)
    if not raw:
        return FANOUT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if size < 1:
        raise ConfigurationError(f"{PAGE_SIZE_VARIABLE} must be a whole number of at least 1")
    return size


@dataclass(frozen=True)
class Page:
    """One queue message: the frame and the connections a worker posts it to."""

    endpoint: str
    connection_ids: list[str]
    data: bytes

    def to_body(self) -> str:
        return json.dumps(
            {
                "endpoint": self.endpoint,
                "connectionIds": self.connection_ids,
                "data": self.data.decode("utf-8"),
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_body(cls, body: str) -> Page:
        """Read a page; anything else is :class:`~chatlib.errors.BadRequest`, never a guess."""
        try:
            message = json.loads(body)
        except (TypeError, ValueError):
            raise BadRequest("a fan-out page must be a JSON object") from None
        if not isinstance(message, dict):
            raise BadRequest("a fan-out page must be a JSON object")
        endpoint, ids, data = (message.get(k) for k in ("endpoint", "connectionIds", "data"))
        if not isinstance(endpoint, str) or not endpoint:
            raise BadRequest("a fan-out page needs its @connections endpoint")
        if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
            raise BadRequest("a fan-out page needs connectionIds, a list of ids")
        if not isinstance(data, str):
            raise BadRequest("a fan-out page needs data, the frame's text")
        return cls(endpoint, ids, data.encode("utf-8"))


class PageQueue:
    """Send pages to the fan-out queue (``SendMessageBatch``, with SQS's limits kept)."""

    def __init__(self, queue_url: str, *, client: Any = None) -> None:
        self.queue_url = queue_url
        self._client = client or boto3.client("sqs", config=Config(retries={"mode": "standard"}))

    def send(self, pages: list[Page]) -> list[Page]:
        """Queue every page; return those that could not be queued (logged)."""
        unsent: list[Page] = []
        for batch in _batches([page.to_body() for page in pages]):
            unsent += [pages[index] for index in self._send_batch(batch)]
        return unsent

    def _send_batch(self, batch: dict[int, str]) -> list[int]:
        """Send one batch; return the indexes of the pages SQS did not take."""
        pending, given_up = dict(batch), set()
        for _ in range(_ATTEMPTS):
            entries = [{"Id": str(i), "MessageBody": body} for i, body in pending.items()]
            try:
                response = self._client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except Exception:
                log.warning("could not queue %d fan-out page(s)", len(pending), exc_info=True)
                break
            failed = response.get("Failed", [])
            for failure in failed:
                log.warning("fan-out page not queued: %s", failure.get("Code"))
            given_up |= {int(f["Id"]) for f in failed if f.get("SenderFault")}
            pending = {int(f["Id"]): pending[int(f["Id"])] for f in failed}
            pending = {i: body for i, body in pending.items() if i not in given_up}
            if not pending:
                break
        return sorted(given_up | set(pending))


def _batches(bodies: list[str]) -> list[dict[int, str]]:
    """Consecutive groups of bodies (by index) within SQS's entries and bytes per call."""
    batches: list[dict[int, str]] = []
    size = 0
    for index, body in enumerate(bodies):
        length = len(body.encode("utf-8"))
        if not batches or len(batches[-1]) == SQS_BATCH_ENTRIES or size + length > SQS_BATCH_BYTES:
            batches.append({})
            size = 0
        batches[-1][index] = body
        size += length
    return batches
