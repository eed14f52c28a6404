"""Notebook 03's scaffold and exercise checks (``chatlib/course/nb03.py``): the reference
solutions pass, an untouched scaffold falls back to the reference, and plausible mistakes
fail with a hint, judged by what the learner's module sent and what the clients received."""

from __future__ import annotations

import re

import pytest
from notebook_files import ROOT, read, solution_codes

from chatlib.course import nb03

NOTEBOOK = ROOT / "notebooks" / "03_rooms_gsi.ipynb"

ONE_PAGE_ROOM = nb03.ROOMS_SOLUTION.replace(
    """    ids, page = [], {}
    while True:
        result = table.query(IndexName="roomId-index",
                             KeyConditionExpression=Key("roomId").eq(room_id),
                             ProjectionExpression="connectionId", **page)
        ids += [item["connectionId"] for item in result["Items"]]
        if "LastEvaluatedKey" not in result:
            return ids
        page = {"ExclusiveStartKey": result["LastEvaluatedKey"]}""",
    """    result = table.query(IndexName="roomId-index",
                         KeyConditionExpression=Key("roomId").eq(room_id))
    return [item["connectionId"] for item in result["Items"]]""",
)
SCANNED_ROOM = re.sub(
    r"(def room_members\(room_id\):\n.*?\n)(    ids, page.*?)(\n\n\ndef callback_url)",
    lambda m: (
        m.group(1)
        + '    items = table.scan(FilterExpression="roomId = :r", '
        + 'ExpressionAttributeValues={":r": room_id})["Items"]\n'
        + '    return [item["connectionId"] for item in items]'
        + m.group(3)
    ),
    nb03.ROOMS_SOLUTION,
    flags=re.S,
)
UNCHECKED_CONNECT = nb03.ROOMS_SOLUTION.replace(
    "    if not (NAME.fullmatch(room_id) and NAME.fullmatch(user_id)):\n", "    if False:\n"
)
STORED_THEN_CHECKED = nb03.ROOMS_SOLUTION.replace(
    """    if not (NAME.fullmatch(room_id) and NAME.fullmatch(user_id)):
        return {"statusCode": 400, "body": "roomId and userId: 1-64 letters, digits, - or _"}
    table.put_item(Item={"connectionId": connection_id, "roomId": room_id, "userId": user_id})""",
    """    table.put_item(Item={"connectionId": connection_id, "roomId": room_id,
                         "userId": user_id})
    if not (NAME.fullmatch(room_id) and NAME.fullmatch(user_id)):
        return {"statusCode": 400}""",
)
ONE_PAGE_WHISPER = nb03.WHISPER_SOLUTION.replace(
    'ProjectionExpression="connectionId", **page)', 'ProjectionExpression="connectionId")'
).replace('page = {"ExclusiveStartKey": result["LastEvaluatedKey"]}', "return ids")
SIGNED_BY_THE_BODY = nb03.WHISPER_SOLUTION.replace(
    '"sender": sender["userId"]', '"sender": body.get("from", "?")'
)


@pytest.fixture
def scratch(tmp_path, stack):
    return tmp_path


def write(scratch, name, source):
    (scratch / name).write_text(source)


def test_the_mistakes_really_differ_from_the_solution():
    for wrong in (ONE_PAGE_ROOM, SCANNED_ROOM, UNCHECKED_CONNECT, STORED_THEN_CHECKED):
        assert wrong != nb03.ROOMS_SOLUTION
    for wrong in (ONE_PAGE_WHISPER, SIGNED_BY_THE_BODY):
        assert wrong != nb03.WHISPER_SOLUTION


def test_the_rooms_solution_passes(scratch):
    write(scratch, "minimal_rooms.py", nb03.ROOMS_SOLUTION)
    verdict = nb03.use_rooms_scaffold(scratch)
    assert verdict.startswith("Correct!"), verdict


def test_an_untouched_scaffold_falls_back_to_the_reference(scratch):
    write(scratch, "minimal_rooms.py", "def connect(event, context):\n    # TODO: store\n")
    verdict = nb03.use_rooms_scaffold(scratch)
    assert verdict.startswith("Not answered yet") and "reference solution" in verdict
    assert (scratch / "minimal_rooms.py").read_text() == nb03.ROOMS_SOLUTION


@pytest.mark.parametrize(
    ("source", "hint"),
    [
        (ONE_PAGE_ROOM, "LastEvaluatedKey"),
        (SCANNED_ROOM, "sent a Scan"),
        (UNCHECKED_CONNECT, "refuse"),
        (STORED_THEN_CHECKED, "before put_item"),
    ],
    ids=["one-page", "scan", "no-validation", "stored-before-checking"],
)
def test_a_wrong_rooms_module_fails_with_its_hint(scratch, source, hint):
    write(scratch, "minimal_rooms.py", source)
    verdict = nb03.use_rooms_scaffold(scratch)
    assert verdict.startswith("Not quite") and hint in verdict, verdict


NEVER_MOVES_ON = nb03.ROOMS_SOLUTION.replace(
    '        page = {"ExclusiveStartKey": result["LastEvaluatedKey"]}', "        pass"
)
NO_TABLE = nb03.ROOMS_SOLUTION.replace("table = boto3", "connections = boto3")


@pytest.mark.parametrize(
    ("source", "hint"),
    [
        ("def connect(event, context)\n", "does not load: SyntaxError"),
        (NEVER_MOVES_ON, "calls without getting further"),
        (NO_TABLE, "keep the names the cell gave"),
    ],
    ids=["syntax-error", "loop-never-moves-on", "table-renamed"],
)
def test_a_broken_rooms_module_gets_a_sentence_not_a_traceback(scratch, source, hint):
    write(scratch, "minimal_rooms.py", source)
    verdict = nb03.use_rooms_scaffold(scratch)
    assert verdict.startswith("Not quite") and hint in verdict, verdict


def test_the_whisper_solution_passes_through_the_gateway(scratch):
    write(scratch, "minimal_rooms.py", nb03.ROOMS_SOLUTION)
    write(scratch, "whisper.py", nb03.WHISPER_SOLUTION)
    verdict = nb03.check_whisper(scratch)
    assert verdict.startswith("Correct!"), verdict


def test_an_untouched_whisper_is_not_answered_yet(scratch):
    write(scratch, "whisper.py", "# TODO: query userId-index\n")
    assert nb03.check_whisper(scratch).startswith("Not answered yet")


@pytest.mark.parametrize(
    ("source", "hint"),
    [(ONE_PAGE_WHISPER, "LastEvaluatedKey"), (SIGNED_BY_THE_BODY, "expected bob@blue")],
    ids=["one-page", "sender-from-the-body"],
)
def test_a_wrong_whisper_fails(scratch, source, hint):
    write(scratch, "minimal_rooms.py", nb03.ROOMS_SOLUTION)
    write(scratch, "whisper.py", source)
    verdict = nb03.check_whisper(scratch)
    assert verdict.startswith("Not quite") and hint in verdict, verdict


def test_the_notebook_shows_the_reference_solutions_the_checks_use():
    solutions = solution_codes(read(NOTEBOOK))
    assert solutions == [
        "%%writefile {scratch}/minimal_rooms.py\n" + nb03.ROOMS_SOLUTION,
        "%%writefile {scratch}/whisper.py\n" + nb03.WHISPER_SOLUTION,
    ]
