"""Notebook 06's checks: the authorizer scaffold and the decision exercise, each run with the
solution, with wrong answers a learner could plausibly write, and untouched.

The scaffold and the exercise are read from the committed notebook, so these tests follow it.
The decision is judged through the local gateway, as the notebook's check cell does.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import replace
from types import SimpleNamespace

import boto3
import pytest
from notebook_files import ROOT, read, solution_codes

from chatlib.course import nb06

NOTEBOOK = read(ROOT / "notebooks" / "06_jwt_authorizer.ipynb")


def cell(cell_id: str) -> str:
    return next(c.source for c in NOTEBOOK.cells if c.get("id") == cell_id)


def file_body(source: str) -> str:
    """A ``%%writefile`` cell's file, without the magic's line."""
    assert source.startswith("%%writefile ")
    return source.split("\n", 1)[1]


SCAFFOLD = file_body(cell("8155d67c"))
EXERCISE = file_body(cell("cell-34"))
SCAFFOLD_SOLUTION, DECISION_SOLUTION = (file_body(code) for code in solution_codes(NOTEBOOK))
DECISION_WRONG = file_body(
    next(c for c in NOTEBOOK.cells if c.get("id") == "cell-34").metadata["wrong_answer"]
)


def test_the_reference_is_the_notebooks_solution():
    assert nb06.REFERENCE_AUTHORIZER == SCAFFOLD_SOLUTION


def reference_with(old: str, new: str) -> str:
    assert old in nb06.REFERENCE_AUTHORIZER
    return nb06.REFERENCE_AUTHORIZER.replace(old, new)


@pytest.fixture
def secret_arn(stored_secret):
    return stored_secret("k" * 64)


# ---------------------------------------------------------------------- the scaffold
def test_the_scaffold_has_gaps_where_the_reference_has_the_essential_lines():
    assert SCAFFOLD.count("# TODO") == 2
    for essential in (
        'algorithms=["HS256"]',
        'audience="chat"',
        'issuer="chatlib"',
        '"require": ["exp"',
        '"Resource": event["methodArn"]',
        '"principalId": claims["sub"]',
    ):
        assert essential not in SCAFFOLD and essential in nb06.REFERENCE_AUTHORIZER
    # what is given is the same in both: the reference is the scaffold with its gaps filled
    given = [
        line
        for line in SCAFFOLD.splitlines()
        if "TODO" not in line
        and line.strip()
        and not line.lstrip().startswith("#")
        and line.strip() != "pass"
    ]
    assert all(line in nb06.REFERENCE_AUTHORIZER for line in given)


def test_an_untouched_scaffold_gets_the_reference_and_says_so(tmp_path, secret_arn):
    (tmp_path / "my_authorizer.py").write_text(SCAFFOLD)
    said = nb06.check_authorizer(tmp_path, secret_arn)
    assert said.startswith("Not answered yet") and "reference solution" in said
    assert (tmp_path / "my_authorizer.py").read_text() == nb06.REFERENCE_AUTHORIZER
    assert nb06.check_authorizer(tmp_path, secret_arn).startswith("Correct!")


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        pytest.param(
            'audience="chat",', "", "'genuine, its room' got Unauthorized (401)", id="no-audience"
        ),
        pytest.param('issuer="chatlib",', "", "'another issuer' got Allow (101)", id="no-issuer"),
        pytest.param(
            'options={"require": ["exp", "sub", "rooms"]}',
            "",
            "'no exp' got Allow (101)",
            id="exp-not-required",
        ),
        pytest.param(
            '"Allow" if room in claims["rooms"] else "Deny"',
            '"Allow"',
            "'genuine, another room' got Allow (101) instead of Deny (403)",
            id="no-room-check",
        ),
        pytest.param(
            '"Resource": event["methodArn"]', '"Resource": "*"', "methodArn", id="resource-star"
        ),
        pytest.param(
            '"context": {"userId": claims["sub"], "roomId": room}',
            '"context": {}',
            "verified userId",
            id="no-context",
        ),
        pytest.param(
            'raise Exception("Unauthorized") from None',
            'return {"statusCode": 401}',
            "Unauthorized",
            id="no-unauthorized",
        ),
    ],
)
def test_a_wrong_authorizer_is_told_what_is_wrong(tmp_path, secret_arn, old, new, said):
    (tmp_path / "my_authorizer.py").write_text(reference_with(old, new))
    answer = nb06.check_authorizer(tmp_path, secret_arn)
    assert answer.startswith("Not quite") and said in answer, answer
    assert (tmp_path / "my_authorizer.py").read_text() == reference_with(old, new)  # kept


def test_an_authorizer_that_does_not_load_is_reported(tmp_path, secret_arn):
    (tmp_path / "my_authorizer.py").write_text("def handler(event, context:\n")
    assert nb06.check_authorizer(tmp_path, secret_arn).startswith(
        "Not quite: my_authorizer.py does not load (SyntaxError"
    )


# ---------------------------------------------------------------------- the exercise
@pytest.fixture
def gateway(stack):
    return stack


def test_the_decision_is_judged_through_the_gateway(tmp_path, secret_arn, gateway):
    decision = tmp_path / "my_decision.py"
    decision.write_text(EXERCISE)
    assert nb06.check_decision(tmp_path, secret_arn).startswith("Not answered yet")

    decision.write_text(DECISION_SOLUTION)
    assert nb06.check_decision(tmp_path, secret_arn).startswith("Correct!")

    decision.write_text(DECISION_WRONG)  # no issuer, no room check, exp not required
    said = nb06.check_decision(tmp_path, secret_arn)
    assert said.startswith("Not quite: the token 'genuine, another room' got Allow (101)"), said

    decision.write_text(DECISION_SOLUTION.replace(', "expiresAt": claims["exp"]', ""))
    said = nb06.check_decision(tmp_path, secret_arn)
    assert said.startswith("Not quite") and "expiresAt" in said, said

    decision.write_text(DECISION_SOLUTION.replace('issuer="chatlib",', ""))
    said = nb06.check_decision(tmp_path, secret_arn)
    assert said.startswith("Not quite: the token 'another issuer' got Allow (101)"), said

    decision.write_text(DECISION_SOLUTION.replace('claims["rooms"]', 'claims["room"]'))
    said = nb06.check_decision(tmp_path, secret_arn)
    assert said.startswith(
        "Not quite: the token 'genuine, its room' got 500: the authorizer failed"
    ), said
    assert "local.logs('nb06-exercise-authorizer')" in said
    assert "KeyError" in "".join(gateway.logs("nb06-exercise-authorizer"))


def test_a_decision_that_does_not_compile_is_reported(tmp_path, secret_arn):
    (tmp_path / "my_decision.py").write_text("def decide(token, room, secret:\n")
    assert re.match(
        r"Not quite: my_decision\.py does not compile \(line 1",
        nb06.check_decision(tmp_path, secret_arn),
    )


def test_the_reference_authorizer_follows_a_rotation_within_its_ttl(
    tmp_path, secret_arn, monkeypatch
):
    """The minimal authorizer keeps the secret at most SECRET_TTL seconds: after a rotation, a
    warm instance verifies with the new value once its copy is that old (clock injected)."""
    (tmp_path / "my_authorizer.py").write_text(nb06.REFERENCE_AUTHORIZER)
    handler = nb06._load(tmp_path / "my_authorizer.py", "handler")
    now = [1000.0]
    monkeypatch.setitem(handler.__globals__, "time", SimpleNamespace(monotonic=lambda: now[0]))
    monkeypatch.setenv("TOKEN_SECRET_ID", secret_arn)
    genuine = nb06.cases(int(time.time()))[0]

    def answer(secret: str) -> str:
        case = replace(genuine, claims={**genuine.claims, "jti": uuid.uuid4().hex})
        return nb06._call(handler, case, secret)[0]

    old, new = "k" * 64, "n" * 64
    assert answer(old) == "Allow"
    boto3.client("secretsmanager").put_secret_value(SecretId=secret_arn, SecretString=new)
    now[0] += 299  # a warm instance, within its TTL: still the old value
    assert (answer(old), answer(new)) == ("Allow", "Unauthorized")
    now[0] += 1
    assert (answer(old), answer(new)) == ("Unauthorized", "Allow")
