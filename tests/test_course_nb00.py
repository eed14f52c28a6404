"""Notebook 00's exercise check (``chatlib/course/nb00.py``): the learner's first table.

Run against the session's embedded AWS, with the notebook's own published solution, with the
wrong answer kept in the exercise cell's metadata, with the untouched scaffold, and with other
plausible mistakes; each must get its own verdict.
"""

from __future__ import annotations

import boto3
import pytest
from notebook_files import ROOT, read, solution_codes, tagged

from chatlib.course.nb00 import CHECK_TABLE, check_guestbook

NOTEBOOK = ROOT / "notebooks" / "00_overview_and_setup.ipynb"


def defined(code: str):
    """``make_guestbook`` as the given code defines it."""
    namespace = {"boto3": boto3}
    exec(code, namespace)  # noqa: S102 - the notebook's own code
    return namespace["make_guestbook"]


def exercise_cell():
    (cell,) = tagged(read(NOTEBOOK), "exercise")
    return cell


def make_table(*, key="name", billing="PAY_PER_REQUEST"):
    def make_guestbook(table_name):
        extra = {"ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}
        boto3.client("dynamodb").create_table(
            TableName=table_name,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode=billing,
            **(extra if billing == "PROVISIONED" else {}),
        )

    return make_guestbook


@pytest.fixture(autouse=True)
def aws(embedded_aws):
    yield
    assert CHECK_TABLE not in boto3.client("dynamodb").list_tables()["TableNames"]


def test_the_published_solution_is_correct():
    verdict = check_guestbook(defined(solution_codes(read(NOTEBOOK))[0]))
    assert verdict.startswith("Correct!"), verdict
    assert "read back: 'hi'" in verdict


def test_the_untouched_scaffold_is_not_answered_yet():
    verdict = check_guestbook(defined(exercise_cell().source))
    assert verdict.startswith("Not answered yet"), verdict


def test_the_wrong_answer_in_the_cells_metadata_names_the_key():
    verdict = check_guestbook(defined(exercise_cell().metadata["wrong_answer"]))
    assert verdict.startswith("Not quite: the key is [('id', 'HASH')]"), verdict


def test_provisioned_billing_is_named():
    verdict = check_guestbook(make_table(billing="PROVISIONED"))
    assert verdict.startswith("Not quite: the table is billed PROVISIONED"), verdict


def test_a_function_that_raises_gets_the_error_not_a_traceback():
    def make_guestbook(table_name):  # waits for a table it never asked for
        boto3.client("dynamodb").describe_table(TableName=f"{table_name}-typo")

    verdict = check_guestbook(make_guestbook)
    assert verdict.startswith("Not quite: make_guestbook raised ResourceNotFoundException")


def test_a_function_that_answers_without_making_the_table_is_told_so():
    verdict = check_guestbook(lambda table_name: "done")
    assert verdict == "Not quite: no table of that name exists after make_guestbook ran."


def test_the_check_can_run_twice():
    solution = defined(solution_codes(read(NOTEBOOK))[0])
    assert check_guestbook(solution).startswith("Correct!")
    assert check_guestbook(solution).startswith("Correct!")
