"""Notebook 05's exercise check: an admin's ``kick`` through ``DELETE @connections``.

The learner writes ``kick(user_id, table_name, callback_url)``: find every connection of the
user in the connection table (``userId-index``: a user may be connected several times, in
several rooms), close each with ``delete_connection`` and return the ids closed.

The check drives it as a moderator would, against the stack the notebook deployed: a troll
connects twice (rooms blue and green) and a bystander once (blue), then ``kick("troll", …)``
runs. What counts is what the clients and the table show afterwards: both troll sockets got
a close frame, no troll row is left (API Gateway ran ``$disconnect``, which deleted them), the
bystander still chats, and ``kick`` returned the ids it closed. The classic mistake, deleting
the rows only, leaves the sockets open: the troll could keep sending.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import websocket

from chatlib.local.gateway.stack import start_local_stack
from chatlib.store import ConnectionStore

__all__ = ["check_kick"]

#: The user the check kicks, and the rooms it connects in.
TROLL, TROLL_ROOMS, BYSTANDER = "troll", ("blue", "green"), "bea"


def check_kick(
    kick: Callable[[str, str, str], Iterable[str] | None], outputs: Mapping[str, str]
) -> str:
    """Run the learner's ``kick`` against the deployed chat whose stack ``outputs`` are given
    (``WebSocketUrl``, ``CallbackUrl``, ``TableName``); one sentence."""
    stack = start_local_stack()  # the notebook's, already running
    url = stack.local_url(outputs["WebSocketUrl"])
    table = outputs["TableName"]
    store = ConnectionStore(table)
    troll = [_connect(url, TROLL, room) for room in TROLL_ROOMS]
    bystander = _connect(url, BYSTANDER, "blue")
    try:
        troll_ids = {c.connection_id for c in store.user_connections(TROLL)}
        try:
            kicked = kick(TROLL, table, stack.local_url(outputs["CallbackUrl"]))
        except NotImplementedError:
            return "Not answered yet: write kick above and run both cells again."
        stack.wait_until_idle()
        closed = sum(_was_closed(ws) for ws in troll)
        rows_left = len(list(store.user_connections(TROLL)))
        still_chatting = _still_chats(bystander)
        return _verdict(troll_ids, kicked, closed, rows_left, still_chatting)
    finally:
        for ws in [*troll, bystander]:
            ws.close()
        stack.wait_until_idle()


def _verdict(
    troll_ids: set[str],
    kicked: Iterable[str] | None,
    closed: int,
    rows_left: int,
    still_chatting: bool,
) -> str:
    wanted = len(troll_ids)
    if closed == 0 and rows_left == 0:
        return (
            "Not quite: the troll's rows are gone but its sockets are still open, so it can "
            "keep sending. Close each connection with delete_connection (DELETE @connections); "
            "API Gateway then runs $disconnect, which deletes the row."
        )
    if closed < wanted:
        return (
            f"Not quite: {closed} of the troll's {wanted} connections closed. Find every one "
            "of them through userId-index (ConnectionStore(table_name).user_connections)."
        )
    if not still_chatting:
        return "Not quite: bea was cut off too. Close only the troll's connections."
    if rows_left:
        return f"Not quite: {rows_left} troll rows are left in the table."
    if kicked is None or set(kicked) != troll_ids:
        return "Not quite: the troll is out, but return the ids of the connections you closed."
    return (
        f"Correct! Both troll connections closed ({', '.join(TROLL_ROOMS)}), $disconnect "
        "deleted their rows, and bea chats on."
    )


def _connect(url: str, user: str, room: str) -> websocket.WebSocket:
    return websocket.create_connection(f"{url}?roomId={room}&userId={user}", timeout=5)


def _was_closed(ws: websocket.WebSocket) -> bool:
    """Whether the server closed this connection: a close frame, or the socket ended."""
    ws.settimeout(2)
    try:
        while True:
            opcode, _ = ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return True
    except websocket.WebSocketTimeoutException:
        return False
    except (websocket.WebSocketException, OSError):
        return True


def _still_chats(ws: websocket.WebSocket) -> bool:
    ws.send(json.dumps({"action": "sendmessage", "message": "is it quiet now?"}))
    ws.settimeout(2)
    try:
        while True:
            frame: Any = json.loads(ws.recv())
            if frame.get("message") == "is it quiet now?":
                return True
    except (websocket.WebSocketException, OSError, ValueError):
        return False
