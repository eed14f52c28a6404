"""The connection store against a real moto server over HTTP."""

from __future__ import annotations

import time

import pytest

from chatlib import Connection, ConnectionStore, create_connection_table
from chatlib.limits import CONNECTION_TTL_SECONDS

NOW_MS = int(time.time() * 1000)


def row(connection_id: str, room: str = "lobby", user: str = "alice", at: int = NOW_MS):
    return Connection.opened(connection_id, room, user, at)


def test_the_table_has_the_designed_keys_indexes_ttl_and_billing(dynamodb, table_name):
    table = dynamodb.describe_table(TableName=table_name)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "connectionId", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    indexes = {i["IndexName"]: i["KeySchema"] for i in table["GlobalSecondaryIndexes"]}
    assert indexes == {
        "roomId-index": [{"AttributeName": "roomId", "KeyType": "HASH"}],
        "userId-index": [{"AttributeName": "userId", "KeyType": "HASH"}],
    }
    ttl = dynamodb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}


def test_creating_the_table_again_keeps_it_and_its_rows(dynamodb, store, table_name):
    store.put(row("c1"))
    create_connection_table(table_name, client=dynamodb)
    assert store.get("c1") == row("c1")


def test_ttl_is_24_hours_after_connect():
    connection = row("c1", at=1_700_000_000_123)
    assert connection.ttl == 1_700_000_000 + CONNECTION_TTL_SECONDS


def test_put_get_delete_round_trip(store):
    store.put(row("c1", room="r1", user="bob"))
    assert store.get("c1") == row("c1", room="r1", user="bob")
    store.delete("c1")
    assert store.get("c1") is None


def test_delete_is_idempotent(store):
    store.delete("never-existed")
    store.put(row("c1"))
    store.delete("c1")
    store.delete("c1")
    assert store.get("c1") is None


def test_room_members_reads_only_that_room(store):
    for i in range(3):
        store.put(row(f"a{i}", room="alpha"))
    for i in range(5):
        store.put(row(f"b{i}", room="beta"))
    alpha = store.room_members("alpha")
    assert sorted(alpha.connection_ids) == ["a0", "a1", "a2"]
    assert alpha.items_read == 3
    everyone = store.all_connections()
    assert len(everyone) == 8
    assert everyone.items_read == 8


def test_user_connections_finds_every_tab_of_a_user(store):
    store.put(row("tab1", room="r1", user="carol"))
    store.put(row("tab2", room="r2", user="carol"))
    store.put(row("other", room="r1", user="dave"))
    assert sorted(store.user_connections("carol").connection_ids) == ["tab1", "tab2"]


def test_an_empty_room_is_an_empty_result(store):
    result = store.room_members("nobody-here")
    assert result.connections == [] and result.pages == 1


@pytest.fixture
def big_room(dynamodb, table_name):
    """1,200 rows of ~1.5 KB in one room: about 1.8 MB, more than one 1 MB page."""
    padding = "x" * 1500
    with_items = []
    for i in range(1200):
        item = row(f"big{i:04d}", room="crowded").to_item()
        item["padding"] = {"S": padding}
        with_items.append({"PutRequest": {"Item": item}})
    for start in range(0, len(with_items), 25):
        dynamodb.batch_write_item(RequestItems={table_name: with_items[start : start + 25]})
    return 1200


def test_a_room_larger_than_one_1mb_page_is_read_whole(store, big_room):
    members = store.room_members("crowded")
    assert members.pages >= 2, "the room should not fit in one 1 MB page"
    assert len(members) == big_room
    assert len(set(members.connection_ids)) == big_room


def test_a_table_larger_than_one_1mb_page_is_scanned_whole(store, big_room):
    store.put(row("elsewhere", room="quiet"))
    everyone = store.all_connections()
    assert everyone.pages >= 2
    assert len(everyone) == big_room + 1


def test_a_small_page_size_paginates_too(dynamodb, table_name):
    paged = ConnectionStore(table_name, client=dynamodb, page_size=2)
    for i in range(7):
        paged.put(row(f"p{i}", room="r"))
    members = paged.room_members("r")
    assert len(members) == 7 and members.pages >= 4
    assert len(paged.all_connections()) == 7


def test_expired_rows_are_ignored_on_every_read(dynamodb, table_name):
    now = time.time()
    store = ConnectionStore(table_name, client=dynamodb, clock=lambda: now)
    fresh = row("fresh", room="r", user="u")
    expired = Connection("stale", "r", "u", connected_at=0, ttl=int(now) - 1)
    store.put(fresh)
    store.put(expired)
    assert store.get("stale") is None
    assert store.get("fresh") == fresh
    assert store.room_members("r").connection_ids == ["fresh"]
    assert store.user_connections("u").connection_ids == ["fresh"]
    assert store.all_connections().connection_ids == ["fresh"]
    # moto never deletes it: the row is still there, only hidden
    item = dynamodb.get_item(TableName=table_name, Key={"connectionId": {"S": "stale"}})
    assert "Item" in item


def test_a_row_expires_when_the_clock_passes_its_ttl(dynamodb, table_name):
    clock = [time.time()]
    store = ConnectionStore(table_name, client=dynamodb, clock=lambda: clock[0])
    store.put(Connection.opened("c", "r", "u", int(clock[0] * 1000)))
    assert store.get("c") is not None
    clock[0] += CONNECTION_TTL_SECONDS + 1
    assert store.get("c") is None
    assert len(store.room_members("r")) == 0


def test_an_ids_only_read_returns_ids_and_refuses_to_pose_as_rows(store):
    for i in range(3):
        store.put(row(f"i{i}", room="ids"))
    result = store.room_member_ids("ids")
    assert sorted(result.connection_ids) == ["i0", "i1", "i2"]
    assert len(result) == 3 and result.items_read == 3
    with pytest.raises(TypeError, match="connection_ids"):
        list(result)
    assert sorted(store.all_connection_ids().connection_ids) == ["i0", "i1", "i2"]
