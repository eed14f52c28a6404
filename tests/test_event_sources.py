"""Lambda's SQS poller, reproduced by the local runtime (chatlib.local.gateway.event_sources).

Queues, the function and its event source mappings are made with plain boto3 against the
embedded AWS, as a learner would; the poller finds them, invokes the function through the
gateway's runtime and deletes what it should (https://docs.aws.amazon.com/lambda/latest/dg/
with-sqs.html, services-sqs-errorhandling.html, services-sqs-scaling.html).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import threading

import boto3
import pytest
from gateway_helpers import LAMBDAS, log_records, wait_for

from chatlib.local.api_shortcut import define_api_shortcut
from chatlib.local.gateway.deployment import FunctionConfig
from chatlib.local.gateway.lambda_runtime import Invocation
from chatlib.local.gateway.server import LocalGateway
from chatlib.local.gateway.sqs_events import SqsMapping, messages_to_keep

FUNCTION = "esm-probe-default"  # the probe of the fixture function_arn
_names = itertools.count()


@pytest.fixture(scope="module")
def sqs(stack):
    return boto3.client("sqs")


@pytest.fixture(scope="module")
def lambda_client(stack):
    return boto3.client("lambda")


def _probe(lambda_client, name: str, timeout: int) -> str:
    """The probe, made as every test's functions are (its zip holds tests/lambdas/)."""
    api = define_api_shortcut(
        name,
        {"$default": "queue_probe.handle"},
        environment={"PYTHONPATH": LAMBDAS},
        timeout=timeout,
    )
    function = api.function_names["$default"]
    return lambda_client.get_function_configuration(FunctionName=function)["FunctionArn"]


@pytest.fixture(scope="module")
def function_arn(stack, lambda_client):
    return _probe(lambda_client, "esm-probe", 10)


@pytest.fixture(scope="module")
def quick_function_arn(stack, lambda_client):
    """A probe whose timeout (1 s) lets a queue's visibility timeout be 1 s (AWS refuses a
    mapping whose function may run longer than its queue hides a message)."""
    return _probe(lambda_client, "esm-quick", 1)


@pytest.fixture
def queue(sqs):
    """Makes a queue (``queue(VisibilityTimeout="1")``): its URL and ARN; deleted after."""
    made = []

    def make(**attributes: str) -> tuple[str, str]:
        url = sqs.create_queue(QueueName=f"esm-{next(_names)}", Attributes=attributes)["QueueUrl"]
        made.append(url)
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return url, arn["Attributes"]["QueueArn"]

    yield make
    for url in made:
        with contextlib.suppress(sqs.exceptions.QueueDoesNotExist):  # a test deleted it
            sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def mapping(stack, lambda_client, function_arn):
    """Maps a queue to the probe (``mapping(queue_url, queue_arn, BatchSize=1)``), waits until
    the gateway polls it, and returns the mapping's UUID; every mapping is deleted after."""
    made = []

    def create(url: str, arn: str, function: str = function_arn, **options) -> str:
        uuid = lambda_client.create_event_source_mapping(
            EventSourceArn=arn, FunctionName=function, **options
        )["UUID"]
        made.append(uuid)
        stack.refresh()
        wait_for(lambda: url in stack.gateway.event_sources.polled_queues)
        return uuid

    yield create
    for uuid in made:
        lambda_client.delete_event_source_mapping(UUID=uuid)
    stack.refresh()
    wait_for(lambda: not stack.gateway.event_sources.polled_queues)


def batches(stack, queue_arn: str, function: str = FUNCTION) -> list[dict]:
    """What the probe was given for ``queue_arn``'s messages, one record per invocation."""
    return [
        record
        for record in log_records(stack, function, "BATCH")
        if record["event"]["Records"][0]["eventSourceARN"] == queue_arn
    ]


def counts(sqs, url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(found[names[0]]), int(found[names[1]])


def test_a_message_is_handled_once_in_the_documented_event_and_deleted(stack, sqs, queue, mapping):
    url, arn = queue()
    mapping(url, arn)
    body = json.dumps({"hello": "queue"})
    sent = sqs.send_message(
        QueueUrl=url,
        MessageBody=body,
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "page"},
            "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    wait_for(lambda: batches(stack, arn))
    stack.wait_until_idle()
    assert counts(sqs, url) == (0, 0)
    (batch,) = batches(stack, arn)
    (record,) = batch["event"]["Records"]
    assert record["messageId"] == sent["MessageId"]
    assert record["body"] == body
    assert record["md5OfBody"] == hashlib.md5(body.encode()).hexdigest()
    assert (record["eventSource"], record["eventSourceARN"], record["awsRegion"]) == (
        "aws:sqs",
        arn,
        arn.split(":")[3],
    )
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(
        record["attributes"]
    )
    assert record["messageAttributes"] == {
        "kind": {
            "stringValue": "page",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
        "raw": {
            "binaryValue": "AAE=",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Binary",
        },
    }
    assert record["receiptHandle"]


def test_a_failing_function_leaves_the_message_to_come_back_then_to_the_dead_letter_queue(
    stack, sqs, queue, mapping, quick_function_arn
):
    dlq_url, dlq_arn = queue()
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    url, arn = queue(VisibilityTimeout="1", RedrivePolicy=redrive)
    mapping(url, arn, quick_function_arn)
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"fail": True}))
    wait_for(lambda: counts(sqs, dlq_url)[0] == 1, timeout=15)
    received = [
        b["event"]["Records"][0]["attributes"]["ApproximateReceiveCount"]
        for b in batches(stack, arn, "esm-quick-default")
    ]
    assert received == ["1", "2"]  # SQS moved it on the third receive, as maxReceiveCount says
    assert counts(sqs, url) == (0, 0)


def test_partial_batch_failures_keep_exactly_the_listed_messages(stack, sqs, queue, mapping):
    url, arn = queue(VisibilityTimeout="30")
    bodies = [{"n": 1}, {"n": 2, "keep": True}, {"n": 3}]
    entries = [{"Id": str(i), "MessageBody": json.dumps(b)} for i, b in enumerate(bodies)]
    sqs.send_message_batch(QueueUrl=url, Entries=entries)
    mapping(url, arn, BatchSize=10, FunctionResponseTypes=["ReportBatchItemFailures"])
    wait_for(lambda: batches(stack, arn))
    stack.wait_until_idle()
    (batch,) = batches(stack, arn)
    assert sorted(json.loads(r["body"])["n"] for r in batch["event"]["Records"]) == [1, 2, 3]
    assert counts(sqs, url) == (0, 1)  # the kept one waits out its visibility timeout
    left = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0).get("Messages", [])
    assert left == []  # not visible: nobody else got it


def test_a_batching_window_gathers_more_than_one_receive_into_one_batch(stack, sqs, queue, mapping):
    url, arn = queue()
    for first in (0, 10):
        entries = [{"Id": str(i), "MessageBody": json.dumps({"n": first + i})} for i in range(10)]
        sqs.send_message_batch(QueueUrl=url, Entries=entries[: 15 - first])
    mapping(url, arn, BatchSize=20, MaximumBatchingWindowInSeconds=1)
    wait_for(lambda: batches(stack, arn))
    stack.wait_until_idle()
    (batch,) = batches(stack, arn)  # ReceiveMessage gives ten at most: two receives, one batch
    assert sorted(json.loads(r["body"])["n"] for r in batch["event"]["Records"]) == list(range(15))
    assert counts(sqs, url) == (0, 0)


def _invocation(result=None, error=None) -> Invocation:
    return Invocation("r", result=result, error_type=error)


def test_the_function_answer_decides_what_is_kept_as_lambda_documents():
    function = FunctionConfig("f", "arn:aws:lambda:us-east-1:1:function:f", "m.h")
    reporting = SqsMapping("u", "arn:aws:sqs:us-east-1:1:q", function, report_failures=True)
    plain = SqsMapping("u", "arn:aws:sqs:us-east-1:1:q", function)
    ids = {"a", "b"}

    def kept(result=None, error=None, mapping=reporting):
        return messages_to_keep(_invocation(result, error), mapping, ids)

    assert kept(error="Sandbox.Timedout") == ids
    assert kept(error="RuntimeError", mapping=plain) == ids
    assert kept({"batchItemFailures": [{"itemIdentifier": "a"}]}, mapping=plain) == set()
    assert kept({"batchItemFailures": [{"itemIdentifier": "a"}]}) == {"a"}
    for success in (None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}):
        assert kept(success) == set()
    for whole in (
        "not an object",
        {"batchItemFailures": "a"},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"messageId": "a"}]},
        {"batchItemFailures": [{"itemIdentifier": "not-in-the-batch"}]},
    ):
        assert kept(whole) == ids


def test_a_disabled_or_deleted_mapping_stops_being_polled(
    stack, sqs, lambda_client, queue, mapping
):
    sources = stack.gateway.event_sources
    url, arn = queue()
    uuid = mapping(url, arn)
    lambda_client.update_event_source_mapping(UUID=uuid, Enabled=False)
    wait_for(lambda: url not in sources.polled_queues)  # the next discovery, with no refresh()
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    stack.wait_until_idle()
    assert counts(sqs, url) == (1, 0) and batches(stack, arn) == []  # never received
    lambda_client.update_event_source_mapping(UUID=uuid, Enabled=True, BatchSize=5)
    wait_for(lambda: url in sources.polled_queues)
    wait_for(lambda: batches(stack, arn))
    stack.wait_until_idle()
    assert counts(sqs, url) == (0, 0)
    lambda_client.delete_event_source_mapping(UUID=uuid)
    wait_for(lambda: url not in sources.polled_queues)


def test_batches_run_in_parallel_instances_up_to_the_maximum_concurrency(
    stack, sqs, queue, mapping
):
    url, arn = queue()
    entries = [{"Id": str(i), "MessageBody": json.dumps({"sleep": 0.6})} for i in range(4)]
    sqs.send_message_batch(QueueUrl=url, Entries=entries)
    mapping(url, arn, BatchSize=1, ScalingConfig={"MaximumConcurrency": 2})
    wait_for(lambda: len(batches(stack, arn)) == 4, timeout=20)
    found = batches(stack, arn)
    changes = sorted([(b["started"], 1) for b in found] + [(b["ended"], -1) for b in found])
    running = list(itertools.accumulate(change for _, change in changes))
    assert max(running) == 2  # two at once, never more
    assert len({b["pid"] for b in found}) == 2  # each in an instance of its own


def test_wait_until_idle_waits_for_a_batch_in_flight(stack, sqs, queue, mapping):
    url, arn = queue()
    mapping(url, arn)
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"sleep": 1}))
    stack.wait_until_idle()
    assert len(batches(stack, arn)) == 1
    assert counts(sqs, url) == (0, 0)


def test_a_mapping_aws_would_refuse_is_not_polled_and_says_why(
    stack, sqs, lambda_client, queue, function_arn, caplog
):
    url, arn = queue(VisibilityTimeout="5")  # the probe may run 10 s
    with caplog.at_level(logging.WARNING, logger="chatlib.local.gateway.event_sources"):
        uuid = lambda_client.create_event_source_mapping(
            EventSourceArn=arn, FunctionName=function_arn
        )["UUID"]
        try:
            stack.refresh()
            said = wait_for(
                lambda: [r.getMessage() for r in caplog.records if uuid in r.getMessage()]
            )
        finally:
            lambda_client.delete_event_source_mapping(UUID=uuid)
    assert said == [
        f"mapping {uuid} is not polled: AWS refuses it (queue visibility timeout: 5 seconds "
        "is less than function timeout: 10 seconds)"
    ]
    assert url not in stack.gateway.event_sources.polled_queues


def test_a_queue_deleted_under_the_poller_is_logged_and_others_go_on(
    stack, sqs, queue, mapping, caplog
):
    doomed_url, doomed_arn = queue()
    url, arn = queue()
    mapping(doomed_url, doomed_arn)
    mapping(url, arn)
    with caplog.at_level(logging.WARNING, logger="chatlib.local.gateway.event_sources"):
        sqs.delete_queue(QueueUrl=doomed_url)
        wait_for(lambda: any(doomed_url in r.getMessage() for r in caplog.records))
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    wait_for(lambda: batches(stack, arn))
    stack.wait_until_idle()
    assert counts(sqs, url) == (0, 0)


def test_stop_leaves_no_poller_thread_or_task(stack, queue, mapping):
    url, arn = queue()
    mapping(url, arn)  # a mapping to poll: the gateway below polls it too
    before = {t for t in threading.enumerate() if t.name.startswith("chatlib-sqs")}

    def no_api(api_id, stage):
        raise LookupError(api_id)

    async def run_and_stop():
        gateway = LocalGateway(
            load=no_api, base_environment=dict(stack.gateway.runtime.base_environment)
        )
        await gateway.start()
        gateway.forget_deployments()
        while url not in gateway.event_sources.polled_queues:
            await asyncio.sleep(0.05)
        await gateway.stop()
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    assert asyncio.run(run_and_stop()) == []
    after = {t for t in threading.enumerate() if t.name.startswith("chatlib-sqs")}
    assert after <= before


def test_the_embedded_aws_restarting_under_the_poller_is_logged_and_polling_resumes():
    """As under ``chatlib-local serve``: moto in its own process is killed, started again and
    redeployed; the poller says so once, pauses during the redeploy and polls the new queue."""
    import subprocess
    import sys
    from pathlib import Path

    script = f"""
import logging, os, signal, sys, boto3
sys.path.insert(0, {str(Path(__file__).parent)!r})
from gateway_helpers import LAMBDAS, log_records, wait_for
from chatlib.local.api_shortcut import define_api_shortcut
from chatlib.local.gateway.stack import start_local_stack

said = []
handler = logging.Handler()
handler.emit = lambda record: said.append(record.getMessage())
logging.getLogger("chatlib.local.gateway.event_sources").addHandler(handler)
stack = start_local_stack(aws_in_own_process=True)

def deploy():
    api = define_api_shortcut("restart", {{"$default": "queue_probe.handle"}},
                              environment={{"PYTHONPATH": LAMBDAS}})
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="restart")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    boto3.client("lambda").create_event_source_mapping(
        EventSourceArn=arn["Attributes"]["QueueArn"], FunctionName=api.function_names["$default"])
    stack.refresh()
    wait_for(lambda: url in stack.gateway.event_sources.polled_queues)
    return url

deploy()
os.kill(stack.aws_pid(), signal.SIGKILL)
wait_for(lambda: any("polling" in line for line in said), timeout=20)
url = stack.restart_aws(deploy)
boto3.client("sqs").send_message(QueueUrl=url, MessageBody="{{}}")
wait_for(lambda: log_records(stack, "restart-default", "BATCH"), timeout=20)
stack.wait_until_idle()
handled = log_records(stack, "restart-default", "BATCH")
print(len([line for line in said if "polling" in line]), len(handled))
stack.stop()
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    failures_said, batches_handled = map(int, done.stdout.split()[-2:])
    assert failures_said == 1  # once, however long moto was away
    assert batches_handled == 1
