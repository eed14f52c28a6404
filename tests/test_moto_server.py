"""chatlib's moto server: DynamoDB reads written with json.dumps must read back exactly as
moto's own serializer would have written them, and the collector's freezing must run."""

from __future__ import annotations

import contextlib
import gc
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from botocore.exceptions import ClientError

from chatlib.local import moto_server

EVERY_TYPE_SCRIPT = textwrap.dedent(
    """
    import json
    import boto3
    from chatlib.local.embedded import start_embedded_aws
    aws = start_embedded_aws(own_process=True)  # python -m chatlib.local.moto_server
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName="t", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"},
                              {"AttributeName": "room", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "room-index",
                                 "KeySchema": [{"AttributeName": "room", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}])
    item = {
        "k": {"S": "a"}, "room": {"S": "lobby"}, "n": {"N": "-12.5e3"},
        "b": {"B": bytes(range(256))}, "yes": {"BOOL": True}, "nothing": {"NULL": True},
        "list": {"L": [{"S": "x"}, {"N": "1"}, {"M": {"deep": {"B": b"\\x00\\xff"}}}]},
        "map": {"M": {"name": {"S": "ünïcode ✓"}, "empty": {"S": ""}}},
        "ss": {"SS": ["p", "q"]}, "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": [b"\\x01", b"\\x02"]},
    }
    dynamodb.put_item(TableName="t", Item=item)
    for key in "bcd":
        dynamodb.put_item(TableName="t", Item={"k": {"S": key}, "room": {"S": "lobby"}})

    def same(got):
        normal = lambda i: {k: sorted(v.get("SS") or v.get("NS") or v.get("BS")) if
                            set(v) & {"SS", "NS", "BS"} else v for k, v in i.items()}
        return normal(got) == normal(item)

    got = dynamodb.get_item(TableName="t", Key={"k": {"S": "a"}}, ConsistentRead=True)
    print("get", same(got["Item"]))
    print("get missing", "Item" in dynamodb.get_item(TableName="t", Key={"k": {"S": "z"}}))
    query = dynamodb.query(
        TableName="t", IndexName="room-index", KeyConditionExpression="room = :r",
        ExpressionAttributeValues={":r": {"S": "lobby"}}, ReturnConsumedCapacity="TOTAL")
    print("query", query["Count"], query["ScannedCount"],
          any(same(i) for i in query["Items"]), "TableName" in query["ConsumedCapacity"])
    page = dynamodb.scan(TableName="t", Limit=2)
    print("page", page["Count"], sorted(page["LastEvaluatedKey"]))
    paginator = dynamodb.get_paginator("scan")
    print("pages", sum(p["Count"] for p in paginator.paginate(TableName="t",
                                                             PaginationConfig={"PageSize": 1})))
    print("ids", sorted(i["k"]["S"] for i in dynamodb.scan(
        TableName="t", ProjectionExpression="k")["Items"]))
    for projection in ("k", "room, k", "k, n", "nothing_here", "#m.#n"):
        names = {"#m": "map", "#n": "name"} if "#" in projection else {}
        got = dynamodb.get_item(TableName="t", Key={"k": {"S": "a"}},
                                ProjectionExpression=projection,
                                **({"ExpressionAttributeNames": names} if names else {}))["Item"]
        shown = {k: float(v["N"]) if "N" in v else v for k, v in sorted(got.items())}
        print("projection", projection, shown)
    try:
        dynamodb.query(TableName="missing", KeyConditionExpression="k = :k",
                       ExpressionAttributeValues={":k": {"S": "a"}})
    except dynamodb.exceptions.ResourceNotFoundException:
        print("error ResourceNotFoundException")
    aws.stop()
    """
)


def printed_against_moto_server(script: str) -> list[str]:
    """Run ``script`` in a clean interpreter (it starts ``python -m chatlib.local.moto_server``);
    return the lines it printed."""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_reads_of_every_attribute_type_come_back_as_written():
    assert printed_against_moto_server(EVERY_TYPE_SCRIPT) == [
        "get True",
        "get missing False",
        "query 4 4 True True",
        "page 2 ['k']",
        "pages 4",
        "ids ['a', 'b', 'c', 'd']",
        "projection k {'k': {'S': 'a'}}",
        "projection room, k {'k': {'S': 'a'}, 'room': {'S': 'lobby'}}",
        "projection k, n {'k': {'S': 'a'}, 'n': -12500.0}",
        "projection nothing_here {}",
        "projection #m.#n {'map': {'M': {'name': {'S': 'ünïcode ✓'}}}}",
        "error ResourceNotFoundException",
    ]


ORDER_AND_CONNECTION_SCRIPT = textwrap.dedent(
    """
    import http.client, boto3
    from chatlib.local.embedded import start_embedded_aws
    aws = start_embedded_aws(own_process=True)
    dynamodb = boto3.client("dynamodb")
    for name, kind in (("by-name", "S"), ("by-rank", "N")):
        dynamodb.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"},
                                  {"AttributeName": "room", "AttributeType": "S"},
                                  {"AttributeName": "sort", "AttributeType": kind}],
            GlobalSecondaryIndexes=[{"IndexName": "idx", "Projection": {"ProjectionType": "ALL"},
                                     "KeySchema": [{"AttributeName": "room", "KeyType": "HASH"},
                                                   {"AttributeName": "sort", "KeyType": "RANGE"}]}])
    names = ["b", "B", "a", "ab", "é", "a b", "Z9"]
    ranks = ["10", "9", "-1", "2.5", "100", "0"]
    for i, name in enumerate(names):
        dynamodb.put_item(TableName="by-name",
                          Item={"k": {"S": f"k{i}"}, "room": {"S": "r"}, "sort": {"S": name}})
    for i, rank in enumerate(ranks):
        dynamodb.put_item(TableName="by-rank",
                          Item={"k": {"S": f"k{i}"}, "room": {"S": "r"}, "sort": {"N": rank}})
    def order(table, condition="room = :r", values=(), **extra):
        items = dynamodb.query(TableName=table, IndexName="idx", KeyConditionExpression=condition,
                               ExpressionAttributeValues={":r": {"S": "r"}, **dict(values)},
                               **extra)["Items"]
        return [list(i["sort"].values())[0] for i in items]
    print("names", order("by-name"))
    print("names from a", order("by-name", "room = :r AND sort >= :a", {":a": {"S": "a"}}))
    print("ranks", order("by-rank"))
    print("ranks backwards", order("by-rank", ScanIndexForward=False))
    host, port = aws.endpoint_url.split("//")[1].split(":")
    connection = http.client.HTTPConnection(host, int(port))
    for _ in range(2):
        connection.request("GET", "/moto-api/data.json")
        answer = connection.getresponse()
        answer.read()
        kept = connection.sock is not None
        print("kept alive", answer.status, answer.getheader("Connection"), kept)
    aws.stop()
    """
)


def test_queries_keep_dynamodb_order_and_connections_stay_open():
    assert printed_against_moto_server(ORDER_AND_CONNECTION_SCRIPT) == [
        # code point order for strings, numeric order for numbers (DynamoDB's sort orders)
        "names ['B', 'Z9', 'a', 'a b', 'ab', 'b', 'é']",
        "names from a ['a', 'a b', 'ab', 'b', 'é']",
        "ranks ['-1', '0', '2.5', '9', '10', '100']",
        "ranks backwards ['100', '10', '9', '2.5', '0', '-1']",
        "kept alive 200 None True",
        "kept alive 200 None True",
    ]


def test_the_fast_path_is_installed_where_moto_runs_in_this_process(embedded_aws):
    from moto.dynamodb.responses import DynamoResult

    assert DynamoResult.execute_result.__module__ == moto_server.__name__
    assert moto_server.FAST_OPERATIONS == {"Query", "Scan", "GetItem"}


@contextlib.contextmanager
def keeper_in_this_process(**options):
    """Run keep_frozen here, then give this process its collector back as it was."""
    threshold, stop = gc.get_threshold(), threading.Event()
    keeper = moto_server.keep_frozen(stop=stop, **options)
    try:
        yield keeper
    finally:
        stop.set()
        keeper.join(timeout=5)
        gc.unfreeze()  # this test process is not moto's
        gc.set_threshold(*threshold)
        assert not keeper.is_alive()


def frozen_within(seconds: float, before: int) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if gc.get_freeze_count() > before:
            return True
        time.sleep(0.01)
    return False


def test_full_collections_wait_until_moto_is_quiet():
    busy = threading.Event()
    busy.set()
    before = gc.get_freeze_count()
    quiet_for = lambda: 0.0 if busy.is_set() else 1.0  # noqa: E731
    with keeper_in_this_process(interval=0.02, quiet_for=quiet_for, at_the_latest=60) as thread:
        assert thread.daemon and thread.name == "gc-freeze"
        assert gc.get_threshold()[2] == 1_000_000  # CPython no longer starts full collections
        assert not frozen_within(0.3, before), "collected while a request was in flight"
        busy.clear()
        assert frozen_within(5, before)


def test_a_busy_moto_is_still_collected_at_the_latest_after_a_while():
    before = gc.get_freeze_count()
    with keeper_in_this_process(interval=0.02, quiet_for=lambda: 0.0, at_the_latest=0.2):
        assert frozen_within(5, before)


def test_request_activity_knows_when_a_request_is_in_flight():
    seen = []

    def application(environ, start_response):
        seen.append(activity.quiet_for())
        return [b"ok"]

    activity = moto_server.RequestActivity(application)
    assert activity({}, None) == [b"ok"]
    assert seen == [0.0]
    time.sleep(0.05)
    assert activity.quiet_for() >= 0.05


def test_a_remembered_filter_still_binds_its_values_and_a_bad_one_still_fails(dynamodb):
    """Expressions are lexed once per text (``_lex_each_expression_once``): the values are not
    part of what is remembered, and an expression that cannot be lexed is refused each time."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    assert ConditionExpressionParser._lex_condition_expression.__module__ == moto_server.__name__
    dynamodb.create_table(
        TableName="lexed", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
    )  # fmt: skip
    for n in range(5):
        dynamodb.put_item(TableName="lexed", Item={"k": {"S": f"k{n}"}, "n": {"N": str(n)}})

    def count_above(limit: int, expression: str = "n > :v") -> int:
        return dynamodb.scan(
            TableName="lexed",
            FilterExpression=expression,
            ExpressionAttributeValues={":v": {"N": str(limit)}},
        )["Count"]

    assert [count_above(limit) for limit in (-1, 1, 3, 1)] == [5, 3, 1, 3]
    for _ in range(2):
        with pytest.raises(ClientError) as refused:
            count_above(1, "n ~ :v")
        assert refused.value.response["Error"]["Code"] == "ValidationException"
