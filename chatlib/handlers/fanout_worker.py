"""The sharded fan-out's worker: one queued page of a room per invocation.

Lambda's SQS poller invokes it with the queue's messages (``BatchSize: 1`` in
``infra_cfn/chat.yaml``, so one page; more are handled one after the other). For each page:
parse (:class:`~chatlib.handlers.page_queue.Page`) -> post the frame to every id of the page
(:func:`chatlib.fanout.fan_out`, the sender's own path: the same retries, window and budget)
-> delete the rows that answered 410 -> log one outcome line like every other handler.

What is retried, and what is not. A post that failed after its own retries is logged and
counted, never retried by SQS: running the page again would send the frame twice to every
member already served. A page is handed back to SQS (``batchItemFailures``, with the
mapping's ``ReportBatchItemFailures``) only when no post could be made at all: a page that
cannot be read, an endpoint that cannot be used, a missing table setting, or every post of
the page throttled (429). SQS then offers it again after the queue's visibility timeout, and
after three receives moves it to the dead-letter queue
(https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from chatlib.errors import ChatlibError, ConnectionsApiError
from chatlib.fanout import FanOutReport, fan_out
from chatlib.handlers.invocation import connection_store, connections_sender, table_name_from
from chatlib.handlers.page_queue import Page
from chatlib.invocation_log import log_invocation
from chatlib.sender import resolved_endpoint

__all__ = ["ROUTE", "deliver_page", "handler", "nothing_posted"]

log = logging.getLogger("chatlib.handlers")

#: How the worker names itself in its log lines (it serves no route).
ROUTE = "fanout"


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Deliver each page of an SQS event; return the pages SQS should offer again."""
    failures = []
    for record in event.get("Records") or []:
        if not _handle_record(record, context):
            failures.append({"itemIdentifier": record.get("messageId", "")})
    return {"batchItemFailures": failures}


def deliver_page(page: Page, environ: Mapping[str, str] = os.environ) -> FanOutReport:
    """Post the page's frame to each of its connections; forget those that are gone."""
    store = connection_store(table_name_from(environ))
    sender = connections_sender(resolved_endpoint(page.endpoint, environ))
    return fan_out(
        page.connection_ids, page.data, post_to_all=sender.post_to_all, forget=store.delete
    )


def nothing_posted(report: FanOutReport) -> bool:
    """True when every post of the page was throttled: no member got the frame, so running
    the page again duplicates nothing."""
    return (
        bool(report.failed)
        and not report.delivered
        and not report.gone
        and all(
            isinstance(outcome, ConnectionsApiError) and outcome.status == 429
            for outcome in report.errors.values()
        )
    )


def _handle_record(record: Mapping[str, Any], context: Any) -> bool:
    """Deliver one record's page and log it; False when SQS should offer it again."""
    started = time.perf_counter()
    counts: dict[str, int] = {}
    reason: dict[str, str] = {}
    try:
        page = Page.from_body(record.get("body", ""))
        counts["recipients"] = len(page.connection_ids)
        report = deliver_page(page)
        counts.update(report.counts())
        status = 429 if nothing_posted(report) else 200
    except ChatlibError as error:  # the page could not be started: hand it back
        status, reason["reason"] = error.status, f"{error.code}: {error.message}"
    except Exception:
        log.exception("unhandled error delivering fan-out page %s", record.get("messageId"))
        status = 500
    log_invocation(
        route=ROUTE,
        messageId=record.get("messageId"),
        requestId=getattr(context, "aws_request_id", None),
        outcome="ok" if status == 200 else "error",
        status=status,
        counts=counts,
        durationMs=round((time.perf_counter() - started) * 1000, 1),
        **reason,
    )
    return status == 200
