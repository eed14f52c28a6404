"""Notebook 08's exercise check: how many ``SendMessageBatch`` calls the sharded fan-out makes.

The learner writes ``batch_calls(members, page_size=100)``: the calls the sender makes for one
message to a room of ``members`` (the sender included). The sender posts the first page itself
and queues every further page, ten pages to a call (SQS's most per ``SendMessageBatch``). The
check compares the answer with :func:`chatlib.tools.scale_model.queued_pages` over rooms on and
around page and batch boundaries, with the design's page size and with the tests' page size of
2; the mistakes it names: queueing the sender's own page, rounding down, ignoring
``page_size``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

from chatlib.limits import SQS_BATCH_ENTRIES
from chatlib.tools.scale_model import queued_pages

__all__ = ["SQS_BATCH", "check_batch_calls", "expected_calls"]

#: Entries per ``SendMessageBatch`` call, SQS's maximum.
SQS_BATCH = SQS_BATCH_ENTRIES
ROOMS = [1, 2, 100, 101, 200, 1_000, 1_001, 1_100, 1_101, 1_102, 10_000, 100_001]


def expected_calls(members: int, page_size: int = 100) -> int:
    return math.ceil(queued_pages(members, page_size) / SQS_BATCH)


def check_batch_calls(batch_calls: Callable[..., int]) -> str:
    """One sentence on the learner's ``batch_calls``."""
    if "TODO" in inspect.getsource(batch_calls):
        return "Not answered yet: write batch_calls above (and remove its TODO line)."
    cases = [(n, 100) for n in ROOMS] + [(n, 2) for n in (1, 2, 3, 21, 22, 23, 1_000)]
    for members, page_size in cases:
        try:
            answer = batch_calls(members, page_size=page_size)
        except Exception as error:  # the learner's code: say what it raised, not a traceback
            return f"Not quite: batch_calls({members}) raised {type(error).__name__}: {error}"
        expected = expected_calls(members, page_size)
        if answer == expected:
            continue
        pages = math.ceil(members / page_size)
        if page_size != 100 and answer == expected_calls(members):
            hint = "use page_size, not 100 (the tests make it 2)"
        elif answer == math.ceil(pages / SQS_BATCH):
            hint = "the sender posts the first page itself; only the others are queued"
        elif answer == queued_pages(members, page_size) // SQS_BATCH:
            hint = "a last, partly filled batch is a call too: round up"
        else:
            hint = "pages = members / page_size rounded up; batches of 10 pages"
        return (
            f"Not quite: a room of {members} with pages of {page_size} takes {expected} "
            f"call(s), not {answer}; {hint}."
        )
    return (
        "Correct! A room of 100,001 takes 100 SendMessageBatch calls: at 15 ms each, 1.5 s of "
        "the sender's time before its own page goes out."
    )
