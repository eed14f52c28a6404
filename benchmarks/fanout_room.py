"""One room of benchmark clients: a sender, N receivers, decoys in another room.

Shared by ``fanout_latency.py`` (the local stack alone) and ``side_by_side.py`` (the local
stack and serverless-offline, interleaved). A message's latency is the time from the sender's
``send`` until the *last* receiver has it; decoys must never receive anything.
"""

from __future__ import annotations

import json
import selectors
import time

import websocket


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _carries(raw: str, text: str) -> bool:
    """chatlib posts a JSON frame with ``message``; the peer posts the bare text."""
    if raw == text:
        return True
    try:
        frame = json.loads(raw)
    except ValueError:
        return False
    return isinstance(frame, dict) and frame.get("message") == text


class BenchRoom:
    """Clients held open across batches, so two systems can be measured turn by turn."""

    def __init__(self, url: str, size: int, decoys: int, *, tag: str) -> None:
        def connect(room: str, user: str) -> websocket.WebSocket:
            return websocket.create_connection(f"{url}?roomId={room}&userId={user}", timeout=30)

        room, decoy_room = f"bench-{tag}-{size}", f"decoy-{tag}-{size}"
        self.sender = connect(room, "sender")
        self.receivers = [connect(room, f"r{i}") for i in range(size)]
        self.decoys = [connect(decoy_room, f"d{i}") for i in range(decoys)]
        self.selector = selectors.DefaultSelector()
        for ws in self.everyone:
            self.selector.register(ws.sock, selectors.EVENT_READ, ws)
        self._decoy_ids = {id(ws) for ws in self.decoys}
        self.decoy_deliveries = 0
        self._sequence = 0

    @property
    def everyone(self) -> list[websocket.WebSocket]:
        return [self.sender, *self.receivers, *self.decoys]

    def send_and_time(self) -> float:
        """Send one message; return ms until the last receiver has it."""
        self._sequence += 1
        text = f"m{self._sequence}"
        pending = {id(ws) for ws in self.receivers}
        started = time.perf_counter()
        self.sender.send(json.dumps({"action": "sendmessage", "message": text}))
        deadline = started + 30
        while pending:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{len(pending)} receivers never got {text}")
            for key, _ in self.selector.select(timeout=1):
                ws = key.data
                raw = ws.recv()
                if id(ws) in self._decoy_ids:
                    self.decoy_deliveries += 1
                elif _carries(raw, text):
                    pending.discard(id(ws))
        return (time.perf_counter() - started) * 1000

    def close(self) -> None:
        time.sleep(0.2)  # late decoy frames would show up here
        for key, _ in self.selector.select(timeout=0.2):
            if id(key.data) in self._decoy_ids:
                self.decoy_deliveries += 1
        for ws in self.everyone:
            self.selector.unregister(ws.sock)
            ws.close()
