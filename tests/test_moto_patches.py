"""chatlib's patches to moto apply only to the moto they were checked against.

A class may install a moto release between the dry run and the day. Each patch in
:data:`chatlib.local.moto_server.PATCHES` checks the source of what it replaces; one that
differs is left out with one line saying so, and moto answers as shipped.
"""

from __future__ import annotations

from fresh_interpreter import run_fresh

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
