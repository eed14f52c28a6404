"""Deliver one frame to many connections at once, surviving the ones that fail.

The posts themselves go out together (:meth:`chatlib.sender.ConnectionsSender.post_to_all`,
up to :data:`~chatlib.limits.FANOUT_MAX_IN_FLIGHT` at once); this module decides what each
outcome means. A 410 means the client left without ``$disconnect`` running (it is best
effort), so that row is deleted and the others still get the frame. Any other failure is
logged and counted, never raised past the rest of the room.

With the sharded fan-out (``FanOut=sharded``), :func:`plan_pages` decides who is posted to by
the sending invocation and who goes into queue pages for the workers: pure logic, with no
I/O, so that every id landing in exactly one page is a property a test can check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from chatlib.errors import ConnectionGone

__all__ = ["FanOutReport", "PagePlan", "PostToAll", "fan_out", "plan_pages"]

log = logging.getLogger("chatlib.fanout")

#: Post one frame to each id; return each id's outcome: ``None`` (delivered) or the error.
PostToAll = Callable[[list[str], bytes], Mapping[str, Exception | None]]


@dataclass
class FanOutReport:
    delivered: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    #: What stopped each failed post (a :class:`~chatlib.errors.ConnectionsApiError`, say).
    errors: dict[str, Exception] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {
            "delivered": len(self.delivered),
            "gone": len(self.gone),
            "failed": len(self.failed),
        }


def fan_out(
    connection_ids: Iterable[str],
    data: bytes,
    *,
    post_to_all: PostToAll,
    forget: Callable[[str], None],
) -> FanOutReport:
    """Post ``data`` to every id once; ``forget`` is called for each id that answered 410,
    after every post has its outcome (deleting rows never delays a delivery)."""
    ids = list(dict.fromkeys(connection_ids))  # once each, in order
    report = FanOutReport()
    if not ids:
        return report
    outcomes = post_to_all(ids, data)
    for connection_id in ids:
        outcome = outcomes[connection_id]
        if outcome is None:
            report.delivered.append(connection_id)
        elif isinstance(outcome, ConnectionGone):
            report.gone.append(connection_id)
        else:
            log.warning("post to %s failed: %s", connection_id, outcome)
            report.failed.append(connection_id)
            report.errors[connection_id] = outcome
    for connection_id in report.gone:
        try:
            forget(connection_id)
        except Exception:
            log.warning("could not delete stale connection %s", connection_id, exc_info=True)
    return report


@dataclass(frozen=True)
class PagePlan:
    """Who the sending invocation posts to itself (``inline``), and the pages it queues."""

    inline: list[str]
    queued: list[list[str]]


def plan_pages(
    connection_ids: Iterable[str], page_size: int, *, first: str | None = None
) -> PagePlan:
    """Split a room into pages of at most ``page_size`` ids, each id in exactly one page.

    The first page is the sending invocation's own, so a room of up to one page is served
    exactly as without sharding, with no queue hop. ``first`` (the sender's own connection)
    leads that page when it is a member, so the sender's copy never waits for a worker.
    """
    if page_size < 1:
        raise ValueError(f"page_size must be at least 1, not {page_size}")
    ids = list(dict.fromkeys(connection_ids))  # once each, in order
    if first is not None and first in ids:
        ids.remove(first)
        ids.insert(0, first)
    pages = [ids[start : start + page_size] for start in range(0, len(ids), page_size)]
    return PagePlan(pages[0] if pages else [], pages[1:])
