"""Notebook 00's exercise check: the learner's first DynamoDB table, made with plain boto3.

The exercise asks for ``make_guestbook(table_name)``: create a table keyed by the string
attribute ``name``, billed per request, and wait until it is active. The check calls it with a
name of its own, then reads the table's description (key schema, billing mode) and writes and
reads back one row through a fresh client, so a table that only looks right on paper, or one
that is not active yet, is noticed. The table is deleted before and after, so the check can be
run again.

It talks to whatever boto3 is pointed at: in the notebook, the embedded AWS that the notebook
started (``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3

__all__ = ["CHECK_TABLE", "check_guestbook"]

#: The table name the check passes to ``make_guestbook``.
CHECK_TABLE = "guestbook-check"


def check_guestbook(make_guestbook: Callable[[str], Any]) -> str:
    """Run the learner's ``make_guestbook`` and judge the table it made; one sentence."""
    dynamodb = boto3.client("dynamodb")
    _delete_if_present(dynamodb)
    try:
        returned = make_guestbook(CHECK_TABLE)
        if returned is None and not _exists(dynamodb):
            return "Not answered yet: write make_guestbook above and run both cells again."
        return _verdict(dynamodb)
    except Exception as error:  # the learner's code: any failure is a finding
        return f"Not quite: make_guestbook raised {type(error).__name__}: {error}"
    finally:
        _delete_if_present(dynamodb)


def _verdict(dynamodb: Any) -> str:
    if not _exists(dynamodb):
        return "Not quite: no table of that name exists after make_guestbook ran."
    table = dynamodb.describe_table(TableName=CHECK_TABLE)["Table"]
    key = [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]]
    billing = table.get("BillingModeSummary", {}).get("BillingMode")
    if key != [("name", "HASH")]:
        return f"Not quite: the key is {key}; it should be [('name', 'HASH')]. See the hint."
    if billing != "PAY_PER_REQUEST":
        return f"Not quite: the table is billed {billing}; ask for PAY_PER_REQUEST (on demand)."
    if table["TableStatus"] != "ACTIVE":
        return f"Not quite: the table is {table['TableStatus']}; wait with 'table_exists'."
    fresh = boto3.client("dynamodb")
    fresh.put_item(TableName=CHECK_TABLE, Item={"name": {"S": "ada"}, "note": {"S": "hi"}})
    row = fresh.get_item(TableName=CHECK_TABLE, Key={"name": {"S": "ada"}})["Item"]
    return f"Correct! ACTIVE, keyed by name, billed per request; read back: {row['note']['S']!r}"


def _exists(dynamodb: Any) -> bool:
    return CHECK_TABLE in dynamodb.list_tables()["TableNames"]


def _delete_if_present(dynamodb: Any) -> None:
    if _exists(dynamodb):
        dynamodb.delete_table(TableName=CHECK_TABLE)
        dynamodb.get_waiter("table_not_exists").wait(
            TableName=CHECK_TABLE, WaiterConfig={"Delay": 1, "MaxAttempts": 20}
        )
