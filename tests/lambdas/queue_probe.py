"""A Lambda handler for SQS event source mappings: it prints what it was given and does
what each message's body asks (``{"fail": true}``, ``{"keep": true}``, ``{"sleep": s}``)."""

from __future__ import annotations

import json
import os
import time


def handle(event, context):
    started = time.time()
    asks = [json.loads(record["body"]) for record in event["Records"]]
    time.sleep(max([float(ask.get("sleep", 0)) for ask in asks] + [0]))
    print(
        "BATCH",
        json.dumps({"event": event, "pid": os.getpid(), "started": started, "ended": time.time()}),
    )
    if any(ask.get("fail") for ask in asks):
        raise RuntimeError("asked to fail")
    kept = [
        r["messageId"] for r, ask in zip(event["Records"], asks, strict=True) if ask.get("keep")
    ]
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in kept]}
