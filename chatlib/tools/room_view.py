"""Who is in which room, read from the connection table: what an instructor projects while a
class connects. The pure part renders a snapshot; ``watch_rooms`` redraws it every second."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO

from chatlib.store import ConnectionStore

__all__ = [
    "render_rooms",
    "rooms_markdown",
    "rooms_snapshot",
    "watch_rooms",
    "watch_rooms_in_notebook",
]

_CLEAR = "\x1b[2J\x1b[H"


def rooms_snapshot(store: ConnectionStore) -> dict[str, list[str]]:
    """Room -> sorted user ids of its live connections (expired rows are not connections)."""
    rooms: dict[str, list[str]] = {}
    for connection in store.all_connections():
        rooms.setdefault(connection.room_id, []).append(connection.user_id)
    return {room: sorted(users) for room, users in sorted(rooms.items())}


def render_rooms(snapshot: dict[str, list[str]]) -> str:
    if not snapshot:
        return "no one is connected"
    width = max(len(room) for room in snapshot)
    lines = [
        f"{room:<{width}}  ({len(users)})  {', '.join(users)}" for room, users in snapshot.items()
    ]
    total = sum(len(users) for users in snapshot.values())
    lines.append(f"{total} connection{'s' if total != 1 else ''} in {len(snapshot)} rooms")
    return "\n".join(lines)


def watch_rooms(
    store: ConnectionStore,
    *,
    stdout: IO[str],
    interval: float = 1.0,
    clock: Callable[[], str] = lambda: time.strftime("%H:%M:%S"),
) -> None:
    """Redraw the rooms every ``interval`` seconds until interrupted (Ctrl-C)."""
    try:
        while True:
            stdout.write(f"{_CLEAR}rooms in {store.table_name} at {clock()}\n\n")
            stdout.write(render_rooms(rooms_snapshot(store)) + "\n")
            stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        stdout.write("\n")


def rooms_markdown(snapshot: dict[str, list[str]]) -> str:
    """The snapshot as a Markdown table, for a notebook."""
    if not snapshot:
        return "*no one is connected*"
    rows = [f"| {room} | {len(users)} | {', '.join(users)} |" for room, users in snapshot.items()]
    total = sum(len(users) for users in snapshot.values())
    return "\n".join(
        ["| room | people | who |", "|---|---:|---|", *rows, f"| **all** | **{total}** | |"]
    )


def watch_rooms_in_notebook(
    store: ConnectionStore, *, seconds: float = 60.0, interval: float = 1.0
) -> None:
    """Show the rooms in a notebook and keep the table current for ``seconds``."""
    from IPython.display import Markdown, display

    handle = display(Markdown(rooms_markdown(rooms_snapshot(store))), display_id=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
        handle.update(Markdown(rooms_markdown(rooms_snapshot(store))))
