"""The sharded fan-out (``FanOut=sharded``): the page plan, the page message, the sender's
split and the worker, against moto's SQS and the ``@connections`` stand-in.

Lambda's SQS poller is played here by :func:`poll_once` (receive, invoke the worker with the
documented event shape, delete what succeeded): the handlers are tested on their own; the
local runtime's real poller is exercised end to end in ``test_delivery_properties.py``.
"""

from __future__ import annotations

import itertools
import json

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_handlers import join, say, texts

from chatlib import LambdaContext, capture_invocation_logs
from chatlib.errors import BadRequest, ConfigurationError
from chatlib.fanout import plan_pages
from chatlib.handlers import fanout_worker
from chatlib.handlers.page_queue import (
    PAGE_QUEUE_VARIABLE,
    PAGE_SIZE_VARIABLE,
    SQS_BATCH_BYTES,
    Page,
    PageQueue,
    _batches,
    page_size_from,
)
from chatlib.limits import FANOUT_PAGE_SIZE, SQS_BATCH_ENTRIES
from chatlib.local.gateway.sqs_events import sqs_event
from chatlib.sender import ENDPOINT_OVERRIDE_VARIABLE

_queues = itertools.count()
ids = st.lists(st.text("abcdef0123=", min_size=1, max_size=6), max_size=60)


# ---------------------------------------------------------------------- the plan (pure)
@given(ids, st.integers(1, 12), st.data())
def test_every_id_lands_in_exactly_one_page_and_the_senders_copy_goes_first(
    connection_ids, page_size, data
):
    sender = data.draw(st.sampled_from(connection_ids)) if connection_ids else None
    plan = plan_pages(connection_ids, page_size, first=sender)
    pages = [plan.inline, *plan.queued] if plan.inline else plan.queued
    flat = [i for page in pages for i in page]
    assert sorted(flat) == sorted(set(connection_ids))  # each member once, nobody else
    assert all(1 <= len(page) <= page_size for page in pages)
    assert all(len(page) == page_size for page in pages[:-1])  # only the last one is short
    if sender is not None:
        assert plan.inline[0] == sender
    if len(set(connection_ids)) <= page_size:  # a room of one page: nothing is queued
        assert plan.queued == []


def test_a_sender_who_is_not_a_member_changes_nothing_and_a_bad_size_is_refused():
    assert plan_pages(["a", "b", "c"], 2, first="z").inline == ["a", "b"]
    assert plan_pages([], 2, first="z") == plan_pages([], 2)
    with pytest.raises(ValueError, match="at least 1"):
        plan_pages(["a"], 0)


@given(st.lists(st.integers(0, 40_000), max_size=40))
def test_batches_keep_sqss_entries_and_bytes_per_call(sizes):
    bodies = ["x" * size for size in sizes]
    batches = _batches(bodies)
    assert [i for batch in batches for i in batch] == list(range(len(bodies)))
    for batch in batches:
        assert 1 <= len(batch) <= SQS_BATCH_ENTRIES
        assert sum(map(len, batch.values())) <= SQS_BATCH_BYTES or len(batch) == 1


# ---------------------------------------------------------------------- the page message
def test_a_page_reads_back_what_was_written():
    page = Page("https://abc.execute-api.eu-west-1.amazonaws.com/dev", ["a=", "b="], "ü".encode())
    assert Page.from_body(page.to_body()) == page
    assert json.loads(page.to_body()) == {
        "endpoint": page.endpoint,
        "connectionIds": ["a=", "b="],
        "data": "ü",
    }


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("not json", "JSON object"),
        ("[1]", "JSON object"),
        ('{"connectionIds": ["a"], "data": "x"}', "endpoint"),
        ('{"endpoint": "https://h/dev", "connectionIds": "a", "data": "x"}', "connectionIds"),
        ('{"endpoint": "https://h/dev", "connectionIds": [""], "data": "x"}', "connectionIds"),
        ('{"endpoint": "https://h/dev", "connectionIds": ["a"]}', "data"),
    ],
)
def test_a_malformed_page_is_a_bad_request_that_says_what_is_missing(body, says):
    with pytest.raises(BadRequest, match=says):
        Page.from_body(body)


@pytest.mark.parametrize("raw", ["0", "-3", "ten"])
def test_a_bad_page_size_setting_is_a_configuration_error(raw):
    assert page_size_from({}) == FANOUT_PAGE_SIZE
    assert page_size_from({PAGE_SIZE_VARIABLE: "7"}) == 7
    with pytest.raises(ConfigurationError, match=PAGE_SIZE_VARIABLE):
        page_size_from({PAGE_SIZE_VARIABLE: raw})


# ---------------------------------------------------------------------- with moto's SQS
@pytest.fixture
def queue_url(embedded_aws):
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=f"fanout-test-{next(_queues)}")["QueueUrl"]
    yield url
    sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def sharded(monkeypatch, handler_env, queue_url):
    """The sender's environment with ``FanOut=sharded`` and pages of two."""
    monkeypatch.setenv(PAGE_QUEUE_VARIABLE, queue_url)
    monkeypatch.setenv(PAGE_SIZE_VARIABLE, "2")
    return queue_url


def receive(queue_url: str) -> list[dict]:
    """Every message waiting (several receives: SQS may return fewer than asked)."""
    sqs, found = boto3.client("sqs"), []
    while messages := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30
    ).get("Messages"):
        found += messages
    return found


def queue_arn(queue_url: str) -> str:
    return f"arn:aws:sqs:us-east-1:123456789012:{queue_url.rsplit('/', 1)[-1]}"


def poll_once(queue_url: str) -> list[dict]:
    """STAND-IN for Lambda's poller: one page per invocation (BatchSize 1), deleted unless
    the worker reports it failed (that one is made visible again at once, as if the queue's
    visibility timeout had passed). Returns the worker's answers."""
    sqs, answers = boto3.client("sqs"), []
    for message in receive(queue_url):
        event = sqs_event([message], queue_arn(queue_url))
        answer = fanout_worker.handler(event, LambdaContext("fanout"))
        answers.append(answer)
        handle = message["ReceiptHandle"]
        if not answer["batchItemFailures"]:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=handle)
        else:
            sqs.change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0
            )
    return answers


def test_the_sender_posts_its_own_page_and_queues_the_rest(events, standin, store, sharded):
    members = [join(events, standin, f"u{n}", "blue") for n in range(5)]
    outsider = join(events, standin, "x", "green")
    with capture_invocation_logs() as logs:
        assert say(events, members[3], "paged")["statusCode"] == 200
    assert logs[-1]["counts"] == {
        "recipients": 5,
        "itemsRead": 5,
        "delivered": 2,
        "gone": 0,
        "failed": 0,
        "queuedPages": 2,
    }
    assert texts(standin, members[3]) == ["paged"]  # the sender's copy, at once
    assert sum(texts(standin, m) == ["paged"] for m in members) == 2
    with capture_invocation_logs() as logs:
        assert poll_once(sharded) == [{"batchItemFailures": []}] * 2
    assert [line["route"] for line in logs] == ["fanout", "fanout"]
    assert sum(line["counts"]["delivered"] for line in logs) == 3
    for member in members:
        assert texts(standin, member) == ["paged"]  # everyone once
    assert texts(standin, outsider) == []
    assert receive(sharded) == []


def test_a_room_of_one_page_goes_out_as_without_sharding(events, standin, sharded):
    a, b = (join(events, standin, name, "blue") for name in "ab")
    with capture_invocation_logs() as logs:
        say(events, a, "small room")
    assert logs[-1]["counts"]["queuedPages"] == 0
    assert texts(standin, a) == texts(standin, b) == ["small room"]
    assert receive(sharded) == []


def test_the_worker_forgets_members_that_are_gone(events, standin, store, sharded):
    members = [join(events, standin, f"u{n}", "blue") for n in range(4)]
    standin.drop(members[3])  # the last page: members 2 and 3
    say(events, members[0], "anyone?")
    with capture_invocation_logs() as logs:
        assert poll_once(sharded) == [{"batchItemFailures": []}]
    assert logs[-1]["counts"] == {"recipients": 2, "delivered": 1, "gone": 1, "failed": 0}
    assert store.get(members[3]) is None and store.get(members[2]) is not None


def test_a_page_that_cannot_be_started_goes_back_to_the_queue(sharded, monkeypatch):
    monkeypatch.delenv(ENDPOINT_OVERRIDE_VARIABLE)  # as on AWS: the page's endpoint is used
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=sharded, MessageBody="not a page")
    bad_endpoint = Page("ftp://nowhere/dev", ["a"], b"{}").to_body()
    sqs.send_message(QueueUrl=sharded, MessageBody=bad_endpoint)
    with capture_invocation_logs() as logs:
        answers = poll_once(sharded)
    assert all(len(answer["batchItemFailures"]) == 1 for answer in answers) and len(answers) == 2
    reasons = sorted(line["reason"].split(":")[0] for line in logs)
    assert reasons == ["BadRequest", "ConfigurationError"]
    assert all(line["outcome"] == "error" for line in logs)


def test_a_page_throttled_before_any_post_is_retried_one_refused_in_part_is_not(
    events, standin, sharded, monkeypatch
):
    monkeypatch.setattr("chatlib.sender.backoff_delay", lambda retry: 0.0)
    members = [join(events, standin, f"u{n}", "blue") for n in range(4)]
    say(events, members[0], "busy")
    standin.inject_errors(*[429] * 6)  # both posts of the queued page, all three attempts
    (answer,) = poll_once(sharded)
    assert len(answer["batchItemFailures"]) == 1  # nobody was served: SQS offers it again
    assert texts(standin, members[2]) == texts(standin, members[3]) == []
    standin.inject_errors(403)  # one member refused, the other served: not run again
    assert poll_once(sharded) == [{"batchItemFailures": []}]
    assert sum(texts(standin, m) == ["busy"] for m in members[2:]) == 1
    assert receive(sharded) == []


def test_pages_too_large_for_one_batch_are_split_across_calls(sharded):
    frame = json.dumps({"message": "x" * 30_000}).encode()
    pages = [Page("https://h/dev", [f"c{n}"], frame) for n in range(10)]
    assert PageQueue(sharded).send(pages) == []  # 10 x 30 KB is more than one call may carry
    assert sorted(json.loads(m["Body"])["connectionIds"][0] for m in receive(sharded)) == sorted(
        f"c{n}" for n in range(10)
    )


def test_pages_sqs_refuses_are_returned_not_lost(embedded_aws):
    missing = "https://sqs.us-east-1.amazonaws.com/123456789012/no-such-queue"
    page = Page("https://h/dev", ["a"], b"{}")
    assert PageQueue(missing).send([page]) == [page]


# ---------------------------------------------------------------------- the deploy
def test_a_deploy_switches_to_sharded_and_a_bare_redeploy_keeps_it(embedded_aws):
    """``FanOut`` passes through the deploy like any parameter: an update that leaves it out
    keeps it (``UsePreviousValue``), where CloudFormation would fall back to ``single``."""
    from chatlib.deploy import CHAT_TEMPLATE, deploy_stack, teardown_stack

    name, quiet = "sharded-e2e", {"progress": lambda _: None}
    lambda_client, sqs = boto3.client("lambda"), boto3.client("sqs")

    def mapped() -> list[dict]:
        pages = lambda_client.get_paginator("list_event_source_mappings").paginate()
        worker = f":function:{name}-fanout"
        found = [m for page in pages for m in page["EventSourceMappings"]]
        return [m for m in found if m["FunctionArn"].endswith(worker)]

    try:
        deploy_stack(CHAT_TEMPLATE, stack_name=name, **quiet)
        assert mapped() == []
        assert sqs.list_queues(QueueNamePrefix=f"{name}-").get("QueueUrls", []) == []
        deploy_stack(CHAT_TEMPLATE, stack_name=name, parameters={"FanOut": "sharded"}, **quiet)
        deploy_stack(CHAT_TEMPLATE, stack_name=name, **quiet)  # a bare redeploy
        deployed = boto3.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
        assert {"ParameterKey": "FanOut", "ParameterValue": "sharded"} in deployed["Parameters"]
        (mapping,) = mapped()
        assert (mapping["BatchSize"], mapping["FunctionResponseTypes"]) == (
            1,
            ["ReportBatchItemFailures"],
        )
        url = sqs.get_queue_url(QueueName=f"{name}-fanout")["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert mapping["EventSourceArn"] == attributes["QueueArn"]
        assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"].endswith(
            f":{name}-fanout-dlq"
        )
        variables = lambda_client.get_function_configuration(FunctionName=f"{name}-sendmessage")[
            "Environment"
        ]["Variables"]
        assert variables[PAGE_QUEUE_VARIABLE].endswith(f"/{name}-fanout")
    finally:
        teardown_stack(name, **quiet)
    assert mapped() == []
    assert sqs.list_queues(QueueNamePrefix=f"{name}-").get("QueueUrls", []) == []


class _RefusingSQS:
    """A STAND-IN SQS client whose ``SendMessageBatch`` refuses the entries named, in turn:
    moto never answers a batch in part, as SQS may."""

    def __init__(self, *refusals: dict[str, bool]) -> None:
        self.refusals, self.calls = list(refusals), []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:  # noqa: N803
        self.calls.append([entry["Id"] for entry in Entries])
        refused = self.refusals.pop(0) if self.refusals else {}
        failed = [
            {"Id": e["Id"], "SenderFault": refused[e["Id"]], "Code": "InternalError"}
            for e in Entries
            if e["Id"] in refused
        ]
        return {"Successful": [], "Failed": failed}


def test_entries_sqs_failed_on_its_side_are_sent_again_and_the_senders_faults_are_not():
    pages = [Page("https://h/dev", [f"c{n}"], b"{}") for n in range(3)]
    client = _RefusingSQS({"1": False, "2": True}, {"1": False})
    assert PageQueue("q", client=client).send(pages) == [pages[2]]
    assert client.calls == [["0", "1", "2"], ["1"], ["1"]]  # the last attempt succeeds
    stubborn = _RefusingSQS(*[{"0": False}] * 3)
    assert PageQueue("q", client=stubborn).send(pages[:1]) == pages[:1]
    assert len(stubborn.calls) == 3  # three attempts, then the page is counted as failed
