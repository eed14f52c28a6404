"""chatlib's patches to moto apply only to the moto they were checked against.

A class may install a moto release between the dry run and the day. Each patch in
:data:`chatlib.local.moto_server.PATCHES` checks the source of what it replaces; one that
differs is left out with one line saying so, and moto answers as shipped.

And what two of the patches promise: moto's SQS leaves a mapped queue's messages to the
local runtime's poller; the Query without copies answers exactly as moto's own, and an
answered item is the caller's to change.
"""

from __future__ import annotations

import copy
import itertools
import uuid

import pytest
from botocore.exceptions import ClientError
from fresh_interpreter import run_fresh
from moto.core import DEFAULT_ACCOUNT_ID as ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models import table as table_module
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

from chatlib.local import moto_server
from chatlib.local.moto_server import Patch, fingerprint, unexpected


def test_every_patch_was_checked_against_the_moto_installed_here(tmp_path):
    """What CI installs (the lock) is what the patches were checked against. After a lock
    refresh brings a new moto, this fails for each patch whose source changed: review the
    patch against moto's new source, then add the fingerprint shown to its ``checked``."""
    done = run_fresh(
        tmp_path,
        """
        from chatlib.local import moto_server
        for patch in moto_server.PATCHES:
            print(patch.name, "->", moto_server.unexpected(patch))
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"{patch.name} -> None" for patch in moto_server.PATCHES]


STAND_IN_SCRIPT = """
    import boto3
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.responses import DynamoResult

    moto_lt = DynamoType.__lt__


    def stand_in_lt(self, other):
        # a moto release whose comparison is written differently
        return moto_lt(self, other)


    DynamoType.__lt__ = stand_in_lt

    from chatlib.local.embedded import start_embedded_aws

    aws = start_embedded_aws()  # moto in a thread here, patched by chatlib.local.moto_server
    print("stand-in kept", DynamoType.__lt__ is stand_in_lt)
    print("equality is moto's", DynamoType.__eq__.__module__)
    print("reads written by", DynamoResult.execute_result.__module__)
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName="t", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "room", "KeyType": "HASH"},
                   {"AttributeName": "name", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "room", "AttributeType": "S"},
                              {"AttributeName": "name", "AttributeType": "S"}])
    for name in ["b", "B", "a", "é", "a b"]:
        dynamodb.put_item(TableName="t", Item={"room": {"S": "r"}, "name": {"S": name}})
    items = dynamodb.query(TableName="t", KeyConditionExpression="room = :r",
                           ExpressionAttributeValues={":r": {"S": "r"}})["Items"]
    print("order", [item["name"]["S"] for item in items])
    aws.stop()
"""


def test_a_changed_internal_is_left_alone_with_one_line_and_moto_still_answers(tmp_path):
    done = run_fresh(tmp_path, STAND_IN_SCRIPT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "stand-in kept True",
        "equality is moto's moto.dynamodb.models.dynamo_type",  # the patch is left out whole
        "reads written by chatlib.local.moto_server",  # the other patches still apply
        "order ['B', 'a', 'a b', 'b', 'é']",
    ]
    (line,) = done.stderr.splitlines()
    assert line.startswith("chatlib: moto 5.") and "moto runs as shipped" in line
    assert "string comparisons (sorting keys converts every string first)" in line
    others = [patch.name for patch in moto_server.PATCHES if patch.name != "string comparisons"]
    assert not [name for name in others if name in line]


def moto_like(value):
    return value + 1


def test_a_missing_or_unreadable_internal_is_unexpected_and_a_checked_one_is_not():
    here = f"{__name__}:moto_like"

    def patch(*replaces: str, checked: frozenset[str] = frozenset()) -> Patch:
        return Patch("a patch", replaces, checked, "nothing", lambda: None)

    assert unexpected(patch(here, checked=frozenset({fingerprint((here,))}))) is None
    assert unexpected(patch(here)).startswith("moto's source differs (fingerprint ")
    missing = "moto.core.responses:no_such_function"
    assert unexpected(patch(here, missing)) == f"moto has no {missing}"
    assert unexpected(patch("moto.no_such_module:f")) == "moto has no moto.no_such_module:f"
    built_in = "builtins:len"  # no Python source: as unknown as a changed one
    assert unexpected(patch(built_in)) == f"the source of {built_in} cannot be read"


def test_a_left_out_patch_that_changes_answers_is_not_called_a_speed_up():
    def patch(name: str, speed_only: bool) -> Patch:
        return Patch(name, (), frozenset(), f"{name} lost", lambda: None, speed_only)

    fast, behaviour = patch("fast", True), patch("behaviour", False)
    assert moto_server.skipped_line([fast]).endswith(
        "without: fast (fast lost). Answers are the same; the chat is slower."
    )
    assert moto_server.skipped_line([fast, behaviour]).endswith(
        "without: fast (fast lost); behaviour (behaviour lost)."
    )


MAPPED_QUEUE_SCRIPT = """
    import io, zipfile
    import boto3
    from moto.awslambda.models import LambdaBackend

    tried = []
    send_sqs_batch = LambdaBackend.send_sqs_batch  # where moto's SQS hands messages to Lambda


    def recorded(self, *args, **kwargs):
        tried.append(args[0])
        return send_sqs_batch(self, *args, **kwargs)


    LambdaBackend.send_sqs_batch = recorded

    from chatlib.local.embedded import start_embedded_aws

    aws = start_embedded_aws()  # moto in a thread here, patched by chatlib.local.moto_server
    iam, awslambda, sqs = boto3.client("iam"), boto3.client("lambda"), boto3.client("sqs")
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("worker.py", "def handler(event, context):\\n    return {}\\n")
    awslambda.create_function(FunctionName="worker", Runtime="python3.12", Role=role,
                              Handler="worker.handler", Code={"ZipFile": package.getvalue()})
    url = sqs.create_queue(QueueName="pages")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    mapping = awslambda.create_event_source_mapping(
        EventSourceArn=arn["Attributes"]["QueueArn"], FunctionName="worker", BatchSize=1)
    print("mapping", mapping["State"])
    sqs.send_message(QueueUrl=url, MessageBody="one")
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "2", "MessageBody": "two"}])
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    print("visible", counts["ApproximateNumberOfMessages"],
          "in flight", counts["ApproximateNumberOfMessagesNotVisible"])
    received = []
    while len(received) < 2:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                    MessageSystemAttributeNames=["ApproximateReceiveCount"])
        received += batch["Messages"]
    print("received", sorted((m["Body"], m["Attributes"]["ApproximateReceiveCount"])
                             for m in received))
    print("invocations tried", tried)
    aws.stop()
"""


def test_a_mapped_queue_keeps_its_messages_for_the_poller_and_nothing_tries_docker(tmp_path):
    """With an event source mapping on a queue, plain moto receives each message as it is
    sent and tries to run the function in Docker (here: fails, prints a Docker error, and the
    message's first receive by the poller counts 2). Patched, SendMessage only queues it."""
    done = run_fresh(tmp_path, MAPPED_QUEUE_SCRIPT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "mapping Enabled",
        "visible 2 in flight 0",
        "received [('one', '1'), ('two', '1')]",
        "invocations tried []",
    ]
    assert "docker" not in done.stderr.lower()


# ---- Query without copies: the same answers as moto's own Table.query ----------------------


def key_schema(hash_name: str, range_name: str | None = None) -> list[dict]:
    ranges = [{"AttributeName": range_name, "KeyType": "RANGE"}] if range_name else []
    return [{"AttributeName": hash_name, "KeyType": "HASH"}, *ranges]


def index(name: str, keys: list[dict], projection: str, **more) -> dict:
    projected = {"ProjectionType": projection, **more}
    return {"IndexName": name, "KeySchema": keys, "Projection": projected}


SPREAD_TABLE = {
    "KeySchema": key_schema("pk", "sk"),
    "AttributeDefinitions": [
        {"AttributeName": name, "AttributeType": kind}
        for name, kind in (("pk", "S"), ("sk", "N"), ("g", "S"), ("gs", "S"), ("lsk", "S"))
    ],
    "GlobalSecondaryIndexes": [
        index("by-g", key_schema("g", "gs"), "ALL"),
        index("by-g-keys", key_schema("g"), "KEYS_ONLY"),
        index("by-g-include", key_schema("g", "gs"), "INCLUDE", NonKeyAttributes=["tags"]),
    ],
    "LocalSecondaryIndexes": [index("by-lsk", key_schema("pk", "lsk"), "ALL")],
}


def spread_items() -> list[dict]:
    """Two partitions of every attribute type (a sparse index sort key among them), and one
    of items big enough that a page stops at DynamoDB's 1 MB before its end."""
    items = []
    for pk in ("a", "b"):
        for sk in range(12):
            item = {
                "pk": {"S": pk}, "sk": {"N": str(sk * 5 - 20)}, "g": {"S": f"g{sk % 2}"},
                "lsk": {"S": f"l{11 - sk:02d}"}, "n": {"N": f"{sk * 1.5}"},
                "txt": {"S": "ünï ✓" * (sk % 3)}, "tags": {"SS": [f"t{sk % 3}", "all"]},
                "nums": {"NS": [str(sk), "0.5"]}, "bin": {"B": bytes([sk, 255])},
                "flag": {"BOOL": sk % 2 == 0}, "nothing": {"NULL": True},
                "lst": {"L": [{"S": "x"}, {"M": {"deep": {"N": str(sk)}}}]},
                "m": {"M": {"nested": {"S": pk * sk}, "ns": {"NS": ["1"]}}},
            }  # fmt: skip
            if sk % 4 != 3:
                item["gs"] = {"S": f"s{sk % 5}"}
            items.append(item)
    for sk in range(30):
        big = {"pk": {"S": "big"}, "sk": {"N": str(sk)}, "g": {"S": "gbig"}, "gs": {"S": "s"}}
        # 60 kB in UTF-8, 40,000 characters: the limit counts bytes
        items.append(big | {"blob": {"S": f"{sk:02d}" * 10_000 + "é" * 20_000}})
    return items


_VALUES = {
    ":a": {"S": "a"}, ":big": {"S": "big"}, ":g0": {"S": "g0"}, ":g1": {"S": "g1"},
    ":gbig": {"S": "gbig"},
    ":lo": {"N": "-5"}, ":hi": {"N": "25"}, ":s1": {"S": "s1"}, ":s3": {"S": "s3"},
    ":s": {"S": "s"}, ":l0": {"S": "l0"}, ":l05": {"S": "l05"}, ":n": {"N": "4.5"},
    ":t": {"S": "t1"}, ":two": {"N": "2"}, ":yes": {"BOOL": True},
}  # fmt: skip


def key(expression: str, **more) -> dict:
    used = {name: value for name, value in _VALUES.items() if name in expression}
    for text in (more.get("FilterExpression", ""), more.get("ProjectionExpression", "")):
        used |= {name: value for name, value in _VALUES.items() if name in text}
    return {"KeyConditionExpression": expression, "ExpressionAttributeValues": used} | more


SPREAD_QUERIES = [
    key("pk = :a"),
    key("pk = :a", ScanIndexForward=False),
    key("pk = :a AND sk BETWEEN :lo AND :hi"),
    key("pk = :a AND sk < :hi", ScanIndexForward=False),
    key("pk = :a AND sk >= :lo"),
    key("pk = :a AND sk = :lo"),
    key("pk = :a AND begins_with(lsk, :l0)", IndexName="by-lsk"),
    key("pk = :a AND lsk > :l05", IndexName="by-lsk", ScanIndexForward=False),
    key("g = :g0", IndexName="by-g"),
    key("g = :g0 AND gs BETWEEN :s1 AND :s3", IndexName="by-g", ScanIndexForward=False),
    key("g = :g0 AND begins_with(gs, :s)", IndexName="by-g"),
    key("g = :g1", IndexName="by-g"),  # sparse: a quarter of g1's items have no gs
    key("g = :g1", IndexName="by-g-keys"),
    key("g = :g1", IndexName="by-g-include"),
    key("pk = :a", FilterExpression="n > :n"),
    key("pk = :a", FilterExpression="contains(tags, :t) AND size(txt) > :two"),
    key("g = :g0", IndexName="by-g", FilterExpression="attribute_not_exists(gs) OR flag = :yes"),
    key("pk = :a", ProjectionExpression="pk, sk, txt"),
    key("pk = :a", ProjectionExpression="lst[1].deep, #m.nested, bin",
        ExpressionAttributeNames={"#m": "m"}),
    key("g = :g0", IndexName="by-g", ProjectionExpression="tags, gs", FilterExpression="n > :n"),
    key("pk = :a", Select="COUNT", FilterExpression="n > :n"),
    key("g = :g0", IndexName="by-g-keys", Select="COUNT"),
    key("pk = :big"),  # 1.8 MB: a page ends at the 1 MB limit
    key("pk = :big", ScanIndexForward=False, ProjectionExpression="sk"),
    key("g = :gbig", IndexName="by-g", FilterExpression="sk > :two"),
    {"KeyConditions": {"pk": {"AttributeValueList": [{"S": "a"}], "ComparisonOperator": "EQ"}},
     "QueryFilter": {"n": {"AttributeValueList": [{"N": "3"}], "ComparisonOperator": "GT"}}},
]  # fmt: skip


def all_pages(dynamodb, table: str, query: dict, limit: int | None) -> list[dict]:
    """Every page, following ``LastEvaluatedKey`` (at most 30: the table holds 54 items)."""
    pages, request = [], {"TableName": table, **query} | ({"Limit": limit} if limit else {})
    while len(pages) < 30:
        page = dynamodb.query(**request)
        page.pop("ResponseMetadata")
        pages.append(page)
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return pages


class CountedCopy:
    """Stands for the ``copy`` module in moto's table module: counts the deep copies."""

    def __init__(self) -> None:
        self.deep_copies = 0

    def deepcopy(self, value, memo=None):
        self.deep_copies += 1
        return copy.deepcopy(value, memo)


@pytest.fixture
def spread_table(dynamodb):
    name = f"spread-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **SPREAD_TABLE)
    for item in spread_items():
        dynamodb.put_item(TableName=name, Item=item)
    yield name
    dynamodb.delete_table(TableName=name)


def test_queries_answer_exactly_as_moto_does_without_copying(dynamodb, spread_table, monkeypatch):
    patched = Table.query
    assert patched.__module__ == "chatlib.local.moto_patches_query"  # installed with the others
    plain = patched.__wrapped__
    differences, copied = [], []
    for query, limit in itertools.product(SPREAD_QUERIES, (None, 3, 7)):
        monkeypatch.setattr(Table, "query", plain)
        expected = all_pages(dynamodb, spread_table, query, limit)
        monkeypatch.setattr(Table, "query", patched)
        counted = CountedCopy()
        monkeypatch.setattr(table_module, "copy", counted)
        answered = all_pages(dynamodb, spread_table, query, limit)
        monkeypatch.setattr(table_module, "copy", copy)
        if answered != expected:
            differences.append((query, limit))
        copied.append(counted.deep_copies)
    assert differences == []
    # moto's own query deep-copies each page's items once; this one copies none, except for
    # the legacy QueryFilter, which it leaves to moto (the last query)
    assert copied[:-3] == [0] * (len(copied) - 3) and min(copied[-3:]) > 0
    pages = {len(all_pages(dynamodb, spread_table, q, None)) for q in SPREAD_QUERIES[-4:-1]}
    assert pages == {2}  # the 1 MB limit was reached, in both orders and on the index


def test_a_query_moto_refuses_is_refused_with_moto_s_error(dynamodb, spread_table, monkeypatch):
    def error() -> tuple[str, str]:
        with pytest.raises(ClientError) as raised:  # refused by moto's Table.query itself
            dynamodb.query(
                TableName=spread_table, ConsistentRead=True, **key("g = :g0", IndexName="by-g")
            )
        return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]

    answered = error()
    monkeypatch.setattr(Table, "query", Table.query.__wrapped__)
    assert error() == answered
    assert answered[1] == "Consistent reads are not supported on global secondary indexes"


def test_changing_an_answered_item_never_changes_the_stored_one(spread_table):
    table = dynamodb_backends[ACCOUNT_ID]["us-east-1"].get_table(spread_table)
    stored = {(i.hash_key.value, i.range_key.value): i.to_json() for i in table.all_items()}
    a, g0 = DynamoType({"S": "a"}), DynamoType({"S": "g0"})
    on_g0 = {"hash_key_conditions": [("g", g0)]}
    answers = [
        table.query(a, None, [], None, None, True, None),  # whole items
        table.query(None, None, [], None, None, True, None, "by-g", **on_g0),
        table.query(None, None, [], None, None, True, [["txt"], ["lst"]], "by-g-include", **on_g0),
        table.query(None, None, [], None, None, True, None, "by-g-keys", **on_g0),
    ]
    assert [len(items) for items, _, _ in answers] == [12, 12, 12, 12]
    for items, _, _ in answers:
        for item in items:
            item.attrs["added"] = DynamoType({"S": "changed"})
            item.hash_key.value = item.range_key.value = "changed"
            for value in item.attrs.values():
                if value.type == "L":
                    value.value[1].value["deep"].value = "changed"
                elif value.type in ("SS", "NS"):
                    value.value.append("changed")
                else:
                    value.value = "changed"
    after = {(i.hash_key.value, i.range_key.value): i.to_json() for i in table.all_items()}
    assert after == stored


def test_an_answer_leaves_no_item_behind_in_moto(spread_table):
    """moto's models keep every instance made through their ``__new__`` (``BaseModel``, for
    moto's dashboard): moto's own Query leaves each copy and each projection behind for as
    long as moto runs. The chat's Query (an index, a filter, one string projected) and a
    Query answered whole leave none."""
    from moto.dynamodb.models import get_filter_expression

    table = dynamodb_backends[ACCOUNT_ID]["us-east-1"].get_table(spread_table)
    alive = Item.instances_tracked
    kept = len(alive)
    filtered = get_filter_expression("n > :n", {}, {":n": {"N": "1"}})
    room = table.query(None, None, [], None, None, True, [["pk"]], "by-g", False, filtered,
                       [("g", DynamoType({"S": "g0"}))])  # fmt: skip
    whole = table.query(DynamoType({"S": "a"}), None, [], None, None, True, None)
    assert (len(room[0]), len(whole[0])) == (10, 12)
    assert len(alive) == kept
