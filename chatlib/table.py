"""The connection table's design, in one place: the key, the two indexes, TTL, billing.

Access patterns and the key or index that serves each:

    | pattern                                 | served by                         |
    |-----------------------------------------|-----------------------------------|
    | store / forget one connection           | partition key ``connectionId``    |
    | who is the sender (room, user)?         | GetItem on ``connectionId``       |
    | everyone in a room (fan-out)            | Query on GSI ``roomId-index``     |
    | every connection of a user              | Query on GSI ``userId-index``     |
    | everyone at all (broadcast step only)   | Scan                              |

``ttl`` holds epoch seconds 24 h after connect; with TTL enabled DynamoDB deletes the rows
that ``$disconnect`` never removed (it is best effort). Billing is on demand: a chat's load
is spiky and mostly idle.
"""

from __future__ import annotations

from typing import Any

import boto3

__all__ = [
    "ROOM_INDEX",
    "TTL_ATTRIBUTE",
    "USER_INDEX",
    "create_connection_table",
    "delete_connection_table",
    "enable_ttl",
    "table_definition",
]

ROOM_INDEX = "roomId-index"
USER_INDEX = "userId-index"
TTL_ATTRIBUTE = "ttl"


def table_definition(table_name: str) -> dict[str, Any]:
    """The ``CreateTable`` request for the connection table (the template mirrors it)."""

    def index(name: str, key: str) -> dict[str, Any]:
        return {
            "IndexName": name,
            "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }

    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "connectionId", "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": "connectionId", "AttributeType": "S"},
            {"AttributeName": "roomId", "AttributeType": "S"},
            {"AttributeName": "userId", "AttributeType": "S"},
        ],
        "GlobalSecondaryIndexes": [index(ROOM_INDEX, "roomId"), index(USER_INDEX, "userId")],
    }


def create_connection_table(table_name: str, *, client: Any = None) -> dict[str, Any]:
    """Create the table (or keep the existing one), wait until it is active, enable TTL.

    Safe to call again: an existing table is left as it is and only TTL is (re)enabled, so a
    notebook cell that calls it can be re-run. Returns ``DescribeTable``'s ``Table``.
    """
    client = client or boto3.client("dynamodb")
    try:
        client.create_table(**table_definition(table_name))
    except client.exceptions.ResourceInUseException:
        pass
    client.get_waiter("table_exists").wait(
        TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    enable_ttl(table_name, client=client)
    return client.describe_table(TableName=table_name)["Table"]


def enable_ttl(table_name: str, attribute: str = TTL_ATTRIBUTE, *, client: Any = None) -> bool:
    """Turn TTL on for ``attribute`` unless it is on already; True when this call did it.

    The one place chatlib turns TTL on: for a table made here, and (on moto, whose
    CloudFormation ignores ``TimeToLiveSpecification``) for the template's table.
    """
    client = client or boto3.client("dynamodb")
    status = client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    if status.get("TimeToLiveStatus") in {"ENABLED", "ENABLING"}:
        return False
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute},
    )
    return True


def delete_connection_table(table_name: str, *, client: Any = None) -> None:
    """Delete the table if it exists and wait until it is gone."""
    client = client or boto3.client("dynamodb")
    try:
        client.delete_table(TableName=table_name)
    except client.exceptions.ResourceNotFoundException:
        return
    client.get_waiter("table_not_exists").wait(
        TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
