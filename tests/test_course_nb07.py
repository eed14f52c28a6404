"""Notebook 07 (your own AWS account): one code path for both targets, a nothing-left check
that knows every resource type of the template, and an exercise check that can fail."""

from __future__ import annotations

import ast

import boto3
import pytest
from cfnlint.decode.cfn_yaml import loads
from notebook_files import ROOT, read

from chatlib.course.nb07 import check_orphan_log_groups
from chatlib.deploy import CHAT_TEMPLATE

NOTEBOOK = ROOT / "notebooks" / "07_your_aws_account.ipynb"
TARGET_CELLS = {"target-switch", "target-guard"}


def code_cells():
    return [cell for cell in read(NOTEBOOK).cells if cell.cell_type == "code"]


def test_only_the_switch_and_the_guards_look_at_the_target():
    """Every other cell runs unchanged against the embedded AWS and against AWS."""
    for cell in code_cells():
        tags = set(cell.get("metadata", {}).get("tags", []))
        if not tags & TARGET_CELLS:
            assert "TARGET" not in cell.source, cell.source[:200]
    switches = [c for c in code_cells() if "target-switch" in c.metadata.get("tags", [])]
    assert len(switches) == 1 and 'TARGET = "embedded"' in switches[0].source


def dict_keys(name: str) -> set[str]:
    """The string keys of the dict the notebook assigns to ``name``."""
    for cell in code_cells():
        if f"{name} = " not in cell.source:
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets
            ):
                return {key.value for key in node.value.keys}
    raise AssertionError(f"no cell assigns {name}")


def test_the_nothing_left_check_covers_every_resource_type_of_the_template():
    template = loads(CHAT_TEMPLATE.read_text())
    types = {resource["Type"] for resource in template["Resources"].values()}
    listed = dict_keys("LEFTOVER_LISTERS")
    parts = dict_keys("GONE_WITH")
    assert types <= listed | parts, sorted(types - listed - parts)
    assert not parts & listed
    # and what the deploy creates beside the stack
    assert {"the artifacts bucket", "the boundary and deployer", "the budget"} <= listed


def solution(prefix):
    paginator = boto3.client("logs").get_paginator("describe_log_groups")
    return [
        (group["logGroupName"], group.get("storedBytes", 0))
        for page in paginator.paginate(logGroupNamePrefix=prefix)
        for group in page["logGroups"]
    ]


def first_page_only(prefix):
    page = boto3.client("logs").describe_log_groups(logGroupNamePrefix=prefix)
    return [(g["logGroupName"], g.get("storedBytes", 0)) for g in page["logGroups"]]


def prefix_without_its_slash(prefix):
    return solution(prefix.rstrip("/"))


def names_only(prefix):
    return [name for name, _ in solution(prefix)]


def unanswered(prefix):
    # TODO: list every log group whose name starts with prefix
    return []


def raises(prefix):
    raise KeyError("logGroups")


@pytest.mark.parametrize(
    ("answer", "verdict"),
    [
        (solution, "Correct! all 60 groups"),
        (first_page_only, "Not quite: 50 of 60 groups; one call returns one page"),
        (prefix_without_its_slash, "Not quite: a group outside the prefix was listed"),
        (names_only, "Not quite: return (name, stored bytes) pairs"),
        (unanswered, "Not answered yet"),
        (raises, "Not quite: orphan_log_groups raised KeyError"),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_the_check_tells_each_answer_apart(embedded_aws, answer, verdict):
    assert check_orphan_log_groups(answer).startswith(verdict)


def test_the_check_leaves_no_log_group_behind(embedded_aws):
    before = set(solution("/course/"))
    check_orphan_log_groups(solution)
    assert set(solution("/course/")) == before
