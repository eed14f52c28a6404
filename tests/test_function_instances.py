"""Function instances as Lambda runs them: retired when idle, their output in CloudWatch Logs."""

from __future__ import annotations

import json

import boto3
import psutil
import pytest
from gateway_helpers import LAMBDAS, PROBE, open_socket, receive_json, wait_for

from chatlib.local.api_shortcut import define_api_shortcut


@pytest.fixture(scope="module")
def reporter(stack):
    api = define_api_shortcut(
        "instances", {"$default": f"{PROBE}.report"}, environment={"PYTHONPATH": LAMBDAS}
    )
    return stack.gateway.websocket_url(api.api_id, api.stage)


def report(url):
    ws = open_socket(url)
    ws.send(json.dumps({"action": "report"}))
    reply = receive_json(ws)
    ws.close()
    return reply


def ended(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_an_idle_instance_is_retired_and_its_process_ends(stack, reporter):
    runtime = stack.gateway.runtime
    first = report(reporter)["pid"]
    stack.wait_until_idle()
    assert not ended(first)
    original, runtime.idle_seconds = runtime.idle_seconds, 0.5
    try:
        wait_for(lambda: ended(first), timeout=15)
    finally:
        runtime.idle_seconds = original
    assert runtime.retired >= 1
    assert report(reporter)["pid"] != first  # the next invocation starts cold


def test_a_busy_instance_is_kept_while_the_idle_time_is_long(stack, reporter):
    first = report(reporter)["pid"]
    stack.wait_until_idle()
    assert stack.gateway.runtime.retire_idle() == 0  # five minutes have not passed
    assert report(reporter)["pid"] == first


def test_stop_local_stack_ends_every_instance_and_the_embedded_aws():
    """A notebook's last cell, in a process of its own: nothing of the stack is left."""
    import subprocess
    import sys

    script = f"""
import json, sys, psutil, websocket, chatlib
from chatlib.local.api_shortcut import define_api_shortcut
sys.path.insert(0, {LAMBDAS!r})
stack = chatlib.start_local_stack()
api = define_api_shortcut("last-cell", {{"$default": "{PROBE}.report"}},
                          environment={{"PYTHONPATH": {LAMBDAS!r}}})
ws = websocket.create_connection(stack.gateway.websocket_url(api.api_id, api.stage), timeout=10)
ws.send("x"); json.loads(ws.recv()); ws.close()
stack.wait_until_idle()
before = len(psutil.Process().children(recursive=True))
print(chatlib.stop_local_stack())
print(chatlib.stop_local_stack())
after = [p for p in psutil.Process().children(recursive=True) if p.status() != "zombie"]
print(before, len(after))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    first, second, counts = done.stdout.strip().splitlines()[-3:]
    assert first == "stopped the local gateway and its function instances and the embedded AWS"
    assert second == "nothing was running"
    before, after = map(int, counts.split())
    assert before >= 1 and after == 0


def test_function_output_is_readable_through_cloudwatch_logs(stack, reporter):
    request_id = report(reporter)["context"]["aws_request_id"]
    logs = boto3.client("logs")

    def events():
        try:  # like Lambda, the runtime creates the group with the first lines it ships
            found = logs.filter_log_events(logGroupName="/aws/lambda/instances-default")["events"]
        except logs.exceptions.ResourceNotFoundException:
            return []
        return [e for e in found if request_id in e["message"]]

    lines = [e["message"] for e in wait_for(events, timeout=15)]
    assert f"START RequestId: {request_id} Version: $LATEST" in lines
    assert any(line.startswith(f"REPORT RequestId: {request_id}") for line in lines)
    (stream,) = {e["logStreamName"] for e in events()}
    assert stream.split("/")[3].startswith("[$LATEST]")  # yyyy/mm/dd/[$LATEST]<instance>
