"""Deliver one frame to many connections at once, surviving the ones that fail.

Up to ``max_workers`` posts are in flight at once: the calling thread and pool threads each
take the next id from one shared queue until it is empty. (One task per worker rather than
one per id: with a task per id, handing out 200 tasks and their results cost the posting
process more than the posts themselves, ``docs/performance.md``.) A 410 means the client
left without ``$disconnect`` running (it is best effort), so that row is deleted and the
others still get the frame. Any other failure is logged and counted, never raised past the
rest of the room.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from chatlib.errors import ConnectionGone
from chatlib.limits import FANOUT_MAX_WORKERS

__all__ = ["FanOutReport", "fan_out"]

log = logging.getLogger("chatlib.fanout")

_shared_pool: ThreadPoolExecutor | None = None


def _pool(max_workers: int) -> ThreadPoolExecutor | None:
    """The pool kept across warm invocations, so its threads keep their kept-alive
    ``@connections`` connections (on AWS each new one costs a TLS handshake)."""
    global _shared_pool
    if max_workers != FANOUT_MAX_WORKERS:
        return None
    if _shared_pool is None:
        # the calling thread is the last worker
        _shared_pool = ThreadPoolExecutor(
            max(1, FANOUT_MAX_WORKERS - 1), thread_name_prefix="fanout"
        )
    return _shared_pool


@dataclass
class FanOutReport:
    delivered: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

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
    post: Callable[[str, bytes], None],
    forget: Callable[[str], None],
    max_workers: int = FANOUT_MAX_WORKERS,
) -> FanOutReport:
    """Post ``data`` to every id; ``forget`` is called for each id that answered 410."""
    ids = list(dict.fromkeys(connection_ids))  # once each, in order
    report = FanOutReport()
    if not ids:
        return report

    def deliver(connection_id: str) -> str:
        try:
            post(connection_id, data)
            return "delivered"
        except ConnectionGone:
            try:
                forget(connection_id)
            except Exception:
                log.warning("could not delete stale connection %s", connection_id, exc_info=True)
            return "gone"
        except Exception as error:
            log.warning("post to %s failed: %s", connection_id, error)
            return "failed"

    # The calling thread is one of the workers: a lone recipient costs no thread hand-off.
    workers = max(1, min(max_workers, len(ids)))
    queue = deque(enumerate(ids))
    outcomes: list[str] = [""] * len(ids)

    def work() -> None:
        while True:
            try:
                position, connection_id = queue.popleft()  # atomic: threads share the queue
            except IndexError:
                return
            outcomes[position] = deliver(connection_id)

    pool, helpers = None, []
    if workers > 1:
        pool = _pool(max_workers) or ThreadPoolExecutor(workers - 1)
        helpers = [pool.submit(work) for _ in range(workers - 1)]
    work()
    wait(helpers)
    if pool is not None and pool is not _shared_pool:
        pool.shutdown()
    for connection_id, outcome in zip(ids, outcomes, strict=True):
        getattr(report, outcome).append(connection_id)
    return report
