"""The floor: an in-memory broadcast server speaking the chat's frames, for side-by-side runs.

    python benchmarks/floor_server.py PORT        # prints "ready" once it listens

No database, no HTTP, no function: one ``websockets`` server in one process keeps the rooms in
a dict (``?roomId=<room>&userId=<user>`` as the chat reads them at ``$connect``) and, on a
``sendmessage`` frame, writes the same chat frame the rooms step sends to every member of the
sender's room (``websockets.broadcast``: the frame is encoded once and written to each socket
without waiting). Nothing a chat on API Gateway does can deliver sooner than this on the same
machine and client, so ``side_by_side.py`` reports it as the floor the other systems sit on.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import defaultdict
from urllib.parse import parse_qs, urlsplit

import websockets
from websockets.asyncio.server import ServerConnection, serve

from chatlib.messages import chat_frame, encode_frame

ROOMS: defaultdict[str, set[ServerConnection]] = defaultdict(set)


async def member(websocket: ServerConnection) -> None:
    """One client, from its query string to its close: join, relay its messages, leave."""
    assert websocket.request is not None
    query = parse_qs(urlsplit(websocket.request.path).query)
    room, user = query.get("roomId", [""])[0], query.get("userId", ["anonymous"])[0]
    ROOMS[room].add(websocket)
    try:
        async for raw in websocket:
            try:
                request = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(request, dict) or request.get("action") != "sendmessage":
                continue
            data = encode_frame(
                chat_frame(
                    sender=user,
                    room_id=room,
                    message=str(request.get("message", "")),
                    sent_at_ms=int(time.time() * 1000),
                )
            ).decode("utf-8")
            websockets.broadcast(ROOMS[room], data)
    finally:
        ROOMS[room].discard(websocket)


async def main(port: int) -> None:
    async with serve(member, "127.0.0.1", port, ping_interval=None):
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
