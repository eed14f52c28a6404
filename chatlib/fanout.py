"""Deliver one frame to many connections at once, surviving the ones that fail.

The posts themselves go out together (:meth:`chatlib.sender.ConnectionsSender.post_to_all`,
up to :data:`~chatlib.limits.FANOUT_MAX_IN_FLIGHT` at once); this module decides what each
outcome means. A 410 means the client left without ``$disconnect`` running (it is best
effort), so that row is deleted and the others still get the frame. Any other failure is
logged and counted, never raised past the rest of the room.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from chatlib.errors import ConnectionGone

__all__ = ["FanOutReport", "PostToAll", "fan_out"]

log = logging.getLogger("chatlib.fanout")

#: Post one frame to each id; return each id's outcome: ``None`` (delivered) or the error.
PostToAll = Callable[[list[str], bytes], Mapping[str, Exception | None]]


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
    for connection_id in report.gone:
        try:
            forget(connection_id)
        except Exception:
            log.warning("could not delete stale connection %s", connection_id, exc_info=True)
    return report
