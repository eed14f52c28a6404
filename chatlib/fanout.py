"""Deliver one frame to many connections at once, surviving the ones that fail.

Each post runs on a bounded thread pool. A 410 means the client left without ``$disconnect``
running (it is best effort), so that row is deleted and the others still get the frame. Any
other failure is logged and counted, never raised past the rest of the room.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
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
        _shared_pool = ThreadPoolExecutor(FANOUT_MAX_WORKERS, thread_name_prefix="fanout")
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

    def deliver(connection_id: str) -> tuple[str, str]:
        try:
            post(connection_id, data)
            return connection_id, "delivered"
        except ConnectionGone:
            try:
                forget(connection_id)
            except Exception:
                log.warning("could not delete stale connection %s", connection_id, exc_info=True)
            return connection_id, "gone"
        except Exception as error:
            log.warning("post to %s failed: %s", connection_id, error)
            return connection_id, "failed"

    shared = _pool(max_workers)
    if shared is not None:
        outcomes = list(shared.map(deliver, ids))
    else:
        with ThreadPoolExecutor(max_workers=min(max_workers, len(ids))) as own:
            outcomes = list(own.map(deliver, ids))
    for connection_id, outcome in outcomes:
        getattr(report, outcome).append(connection_id)
    return report
