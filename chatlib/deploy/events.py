"""Stack events: follow them as a deploy runs, and turn a failed one into a clear error.

On AWS a create takes minutes, one dependency level at a time; the events are what a learner
watches. A failure is reported as each failed resource's reason, oldest first, and the state the
stack was left in, never as a bare waiter error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import boto3

from chatlib.errors import DeployFailed

__all__ = [
    "IN_PROGRESS",
    "Progress",
    "event_ids",
    "failure",
    "failure_from_events",
    "follow_events",
    "stack_status",
]

Progress = Callable[[str], None]
#: The suffix of every stack status CloudFormation is still working on.
IN_PROGRESS = "_IN_PROGRESS"


def stack_status(stack_name: str) -> str | None:
    cloudformation = boto3.client("cloudformation")
    try:
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    except cloudformation.exceptions.ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    return stack["StackStatus"]


def event_ids(cloudformation: Any, stack_name: str) -> set[str]:
    try:
        events = cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]
    except cloudformation.exceptions.ClientError:
        return set()
    return {event["EventId"] for event in events}


def follow_events(
    cloudformation: Any,
    stack_name: str,
    seen: set[str],
    *,
    total: int,
    progress: Progress,
    poll_seconds: float,
) -> str:
    """Print new stack events, oldest first, until the stack is no longer in progress."""
    finished: set[str] = set()
    while True:
        status = stack_status(stack_name) or "DELETE_COMPLETE"
        events = cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]
        for event in reversed(events):
            if event["EventId"] in seen:
                continue
            seen.add(event["EventId"])
            logical_id = event.get("LogicalResourceId", "")
            if logical_id != stack_name and event["ResourceStatus"].endswith("_COMPLETE"):
                finished.add(logical_id)
            reason = event.get("ResourceStatusReason")
            counter = "       " if logical_id == stack_name else f"[{len(finished):>2}/{total}]"
            progress(
                f"  {counter} {event['ResourceStatus']:<20} "
                f"{event.get('ResourceType', ''):<34} {logical_id}"
                + (f"  ({reason})" if reason and "FAILED" in event["ResourceStatus"] else "")
            )
        if not status.endswith(IN_PROGRESS):
            return status
        time.sleep(poll_seconds)


#: Stack-level statuses that start an operation (a rollback is part of the one before it).
_OPERATION_STARTS = {
    "CREATE_IN_PROGRESS",
    "UPDATE_IN_PROGRESS",
    "DELETE_IN_PROGRESS",
    "IMPORT_IN_PROGRESS",
}


def failure(cloudformation: Any, stack_name: str, status: str) -> DeployFailed:
    events = cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]
    return failure_from_events(stack_name, status, events)


def failure_from_events(stack_name: str, status: str, events: list[dict[str, Any]]) -> DeployFailed:
    """The error for a stack that ended in ``status``: each failed resource and its reason,
    oldest first (the first one is usually the cause; the rest are its consequences).

    Only the last operation's failures count: the events after the newest one in which the
    stack itself started an operation. ``events`` are newest first, as DescribeStackEvents
    returns them; their order is CloudFormation's, so this machine's clock (possibly off by
    minutes) plays no part.
    """
    latest: list[dict[str, Any]] = []
    for event in events:  # newest first: stop at the start of the last operation
        if (
            event.get("LogicalResourceId") == stack_name
            and event["ResourceStatus"] in _OPERATION_STARTS
        ):
            break
        latest.append(event)
    reasons = tuple(
        f"{event.get('LogicalResourceId')} ({event.get('ResourceType')}): "
        f"{event.get('ResourceStatusReason', 'no reason given')}"
        for event in reversed(latest)
        if event["ResourceStatus"].endswith("_FAILED")
    )
    detail = "\n  ".join(reasons) if reasons else "CloudFormation gave no resource reason."
    return DeployFailed(
        f"Stack {stack_name} ended in {status}.\n  {detail}", status=status, reasons=reasons
    )
