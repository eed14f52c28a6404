"""Notebook 07's exercise check: finding the log groups a teardown left behind.

The learner writes ``orphan_log_groups(prefix)``, returning ``(name, stored bytes)`` for every
log group whose name starts with ``prefix``. The check makes 60 groups under a prefix of its own
(more than the 50 that one ``DescribeLogGroups`` call returns, so a single call misses some)
and one beside it whose name only looks alike, runs the learner's function against whichever
AWS boto3 reaches, and deletes what it made. The mistakes it names: reading one page only,
filtering by something other than the prefix, and returning something other than pairs.
"""

from __future__ import annotations

import inspect
import secrets
from collections.abc import Callable, Iterable
from typing import Any

import boto3

__all__ = ["check_orphan_log_groups"]

GROUPS = 60


def check_orphan_log_groups(orphan_log_groups: Callable[[str], Iterable[Any]]) -> str:
    """One sentence on the learner's ``orphan_log_groups``."""
    if "TODO" in inspect.getsource(orphan_log_groups):
        return "Not answered yet: write orphan_log_groups above (and remove its TODO line)."
    logs = boto3.client("logs")
    tag = secrets.token_hex(4)
    prefix = f"/course/nb07-{tag}/"
    expected = {f"{prefix}function-{n:02d}" for n in range(GROUPS)}
    lookalike = f"/course/nb07-{tag}-other/function-00"  # shares all but the final '/'
    made = [*sorted(expected), lookalike]
    for name in made:
        logs.create_log_group(logGroupName=name)
    try:
        try:
            found = list(orphan_log_groups(prefix))
        except Exception as error:  # the learner's code: say what it raised, not a traceback
            return f"Not quite: orphan_log_groups raised {type(error).__name__}: {error}"
        return _verdict(found, expected, lookalike)
    finally:
        for name in made:
            logs.delete_log_group(logGroupName=name)


def _verdict(found: list[Any], expected: set[str], lookalike: str) -> str:
    if not all(isinstance(item, tuple) and len(item) == 2 for item in found):
        return "Not quite: return (name, stored bytes) pairs, one per log group."
    names = [name for name, _ in found]
    if lookalike in names:
        return "Not quite: a group outside the prefix was listed; pass logGroupNamePrefix."
    if set(names) < expected and len(names) <= 50:
        return (
            f"Not quite: {len(names)} of {len(expected)} groups; one call returns one page. "
            "Use get_paginator('describe_log_groups')."
        )
    if set(names) != expected or len(names) != len(expected):
        return f"Not quite: expected the {len(expected)} groups under the prefix, once each."
    if not all(isinstance(size, int) for _, size in found):
        return "Not quite: the second item of each pair is storedBytes, a number."
    return f"Correct! all {len(expected)} groups, across pages, and nothing else."
