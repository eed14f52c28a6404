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
