"""What Lambda's SQS poller hands a function and how it reads the answer (pure; no I/O).

The event is the documented one ("Example standard queue message event",
https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html), built from ``ReceiveMessage``'s
answer. The answer is read as https://docs.aws.amazon.com/lambda/latest/dg/
services-sqs-errorhandling.html says, partial batch responses included.
:mod:`.event_sources` does the polling, invoking and deleting.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from chatlib.local.gateway.deployment import FunctionConfig
from chatlib.local.gateway.lambda_runtime import Invocation

__all__ = ["SqsMapping", "messages_to_keep", "sqs_event"]


@dataclass(frozen=True)
class SqsMapping:
    """One enabled event source mapping on an SQS queue, as ``ListEventSourceMappings``
    reports it, with its function's configuration."""

    uuid: str
    queue_arn: str
    function: FunctionConfig
    batch_size: int = 10
    window_seconds: float = 0.0
    report_failures: bool = False
    max_concurrency: int | None = None

    @classmethod
    def from_configuration(cls, esm: dict[str, Any], function: FunctionConfig) -> SqsMapping:
        scaling = esm.get("ScalingConfig") or {}
        return cls(
            uuid=esm["UUID"],
            queue_arn=esm["EventSourceArn"],
            function=function,
            batch_size=int(esm.get("BatchSize") or 10),
            window_seconds=float(esm.get("MaximumBatchingWindowInSeconds") or 0),
            report_failures="ReportBatchItemFailures" in (esm.get("FunctionResponseTypes") or []),
            max_concurrency=scaling.get("MaximumConcurrency"),
        )

    def concurrency(self, local_cap: int) -> int:
        return max(1, min(self.max_concurrency or local_cap, local_cap))


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event Lambda passes for a batch ("Example standard queue message event",
    https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html), from ``ReceiveMessage``'s
    answer: system attributes as strings, message attributes in camelCase with binary values
    in base64."""
    region = queue_arn.split(":")[3]
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": dict(message.get("Attributes") or {}),
                "messageAttributes": {
                    name: _attribute(value)
                    for name, value in (message.get("MessageAttributes") or {}).items()
                },
                "md5OfBody": message["MD5OfBody"],
                **(
                    {"md5OfMessageAttributes": message["MD5OfMessageAttributes"]}
                    if message.get("MD5OfMessageAttributes")
                    else {}
                ),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


def _attribute(value: dict[str, Any]) -> dict[str, Any]:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    shaped: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [b64(item) for item in value.get("BinaryListValues") or []],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        shaped["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        shaped["binaryValue"] = b64(value["BinaryValue"])
    return shaped


def messages_to_keep(invocation: Invocation, mapping: SqsMapping, ids: set[str]) -> set[str]:
    """The message ids left in the queue after an invocation on a batch of ``ids``.

    All of them when the function failed or timed out. Without ``ReportBatchItemFailures``
    none otherwise (the answer is not read). With it, as services-sqs-errorhandling lists:
    no answer, an empty or null ``batchItemFailures`` is complete success; an answer that is
    not an object, or an ``itemIdentifier`` that is missing, empty or not in the batch, fails
    the whole batch; otherwise exactly the listed ids are kept."""
    if not invocation.ok:
        return set(ids)
    result = invocation.result
    if not mapping.report_failures or result in (None, "", {}):
        return set()
    if not isinstance(result, dict):
        return set(ids)
    failures = result.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return set(ids)
    kept = set()
    for failure in failures:
        item = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(item, str) or item not in ids:
            return set(ids)
        kept.add(item)
    return kept
