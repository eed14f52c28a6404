"""Notebook 02's checks: each says "Correct" to a right answer and "Not quite" to a wrong one.

The scaffold (``my_chat.py``) is checked with the reference, with its TODO lines left in,
with a clean-up that forgets the stale row, and with a Scan that does not page; the chat
without echo is checked through the gateway with the solution and with the echoing original.
"""

from __future__ import annotations

import pytest

from chatlib.course import nb02

TODO_SCAFFOLD = nb02.REFERENCE_MINIMAL_CHAT.replace(
    "        result = table.scan(", "        # TODO: one Scan call\n        result = table.scan("
)
KEEPS_STALE_ROWS = nb02.REFERENCE_MINIMAL_CHAT.replace(
    'table.delete_item(Key={"connectionId": item["connectionId"]})\n        if',
    "pass\n        if",
)
ONE_PAGE = nb02.REFERENCE_MINIMAL_CHAT.replace(
    '        if "LastEvaluatedKey" not in result:\n            return {"statusCode": 200}\n'
    '        page = {"ExclusiveStartKey": result["LastEvaluatedKey"]}\n',
    '        return {"statusCode": 200}\n',
)
QUIET = nb02.REFERENCE_MINIMAL_CHAT.replace(
    '        for item in result["Items"]:\n',
    '        for item in result["Items"]:\n'
    '            if item["connectionId"] == request_context["connectionId"]:\n'
    "                continue\n",
)


def _write(folder, name, text):
    (folder / name).write_text(text)
    return str(folder)


@pytest.fixture
def scratch(tmp_path, embedded_aws):
    return tmp_path


def test_the_variants_differ_from_the_reference():
    variants = [TODO_SCAFFOLD, KEEPS_STALE_ROWS, ONE_PAGE, QUIET]
    assert all(variant != nb02.REFERENCE_MINIMAL_CHAT for variant in variants)


def test_an_unfinished_scaffold_goes_on_with_the_reference(scratch):
    verdict = nb02.use_minimal_chat(_write(scratch, "my_chat.py", TODO_SCAFFOLD))
    assert verdict.startswith("Not answered yet") and "reference solution" in verdict
    assert (scratch / "minimal_chat.py").read_text() == nb02.REFERENCE_MINIMAL_CHAT


def test_the_reference_passes_and_is_deployed_as_written(scratch):
    mine = nb02.REFERENCE_MINIMAL_CHAT + "# mine\n"
    verdict = nb02.use_minimal_chat(_write(scratch, "my_chat.py", mine))
    assert verdict.startswith("Correct"), verdict
    assert (scratch / "minimal_chat.py").read_text() == mine


@pytest.mark.parametrize(
    ("answer", "hint"),
    [(KEEPS_STALE_ROWS, "stale row is still there"), (ONE_PAGE, "LastEvaluatedKey")],
)
def test_a_wrong_scaffold_is_named_and_replaced_by_the_reference(scratch, answer, hint):
    verdict = nb02.use_minimal_chat(_write(scratch, "my_chat.py", answer))
    assert verdict.startswith("Not quite") and hint in verdict, verdict
    assert (scratch / "minimal_chat.py").read_text() == nb02.REFERENCE_MINIMAL_CHAT


def test_a_crashing_scaffold_says_what_it_raised(scratch):
    crashing = nb02.REFERENCE_MINIMAL_CHAT.replace('body["message"]', 'body["text"]')
    verdict = nb02.use_minimal_chat(_write(scratch, "my_chat.py", crashing))
    assert verdict.startswith("Not quite: send_message raised KeyError"), verdict


def test_the_quiet_chat_check(stack, scratch):
    _write(scratch, "minimal_chat.py", nb02.REFERENCE_MINIMAL_CHAT)
    quiet = QUIET.replace('"""A minimal', '"""A quiet')
    assert nb02.check_quiet_chat(_write(scratch, "quiet_chat.py", "# TODO\n" + quiet)).startswith(
        "Not answered yet"
    )
    assert nb02.check_quiet_chat(_write(scratch, "quiet_chat.py", quiet)).startswith("Correct")
    echoing = nb02.check_quiet_chat(_write(scratch, "quiet_chat.py", nb02.REFERENCE_MINIMAL_CHAT))
    assert echoing.startswith("Not quite") and "uma" in echoing, echoing
