"""``chatlib-local logs FUNCTION [--follow]``: a function's CloudWatch Logs, like ``sam logs``.

It reads ``/aws/lambda/<function>`` with ``FilterLogEvents``, so it works the same against the
embedded AWS (where the local runtime writes every function instance's output) and against
AWS. With ``--follow`` it asks again every second for what is new, until Ctrl-C.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

import boto3

__all__ = ["log_group_for", "tail_function_logs"]


def log_group_for(function: str, stack: str) -> str:
    """``sendmessage`` -> ``/aws/lambda/chat-sendmessage``; full names and groups as given."""
    if function.startswith("/aws/lambda/"):
        return function
    if not function.startswith(f"{stack}-"):
        function = f"{stack}-{function}"
    return f"/aws/lambda/{function}"


def tail_function_logs(
    function: str,
    *,
    stack: str,
    since_minutes: float = 60,
    follow: bool = False,
    poll_seconds: float = 1.0,
    client: Any = None,
    stdout: IO[str] = sys.stdout,
) -> int:
    client = client or boto3.client("logs")
    group = log_group_for(function, stack)
    start = int((time.time() - since_minutes * 60) * 1000)
    seen: set[str] = set()
    try:
        while True:
            try:
                events = _events(client, group, start)
            except client.exceptions.ResourceNotFoundException:
                if not follow:
                    print(f"no log group {group}: has the function run yet?", file=sys.stderr)
                    return 1
                events = []
            for event in events:
                if event["eventId"] in seen:
                    continue
                seen.add(event["eventId"])
                start = max(start, event["timestamp"])
                stamp = time.strftime("%H:%M:%S", time.localtime(event["timestamp"] / 1000))
                stdout.write(f"{stamp} {event['message'].rstrip()}\n")
            stdout.flush()
            if not follow:
                return 0
            time.sleep(poll_seconds)
    except KeyboardInterrupt:
        return 0


def _events(client: Any, group: str, start: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in client.get_paginator("filter_log_events").paginate(
        logGroupName=group, startTime=start
    ):
        events.extend(page["events"])
    return sorted(events, key=lambda event: (event["timestamp"], event["eventId"]))
