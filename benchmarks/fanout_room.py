"""One room of benchmark clients: a sender, N receivers, decoys in another room.

Shared by ``fanout_latency.py`` (the local stack alone) and ``side_by_side.py`` (the local
stack, serverless-offline and the floor, interleaved). A message's latency is the time from
the sender's ``send`` until the *last* receiver has it; decoys must never receive anything.

Also used by ``fanout_sharded.py``, ``fanout_stages.py`` and ``fanout_model_calibration.py``.

The clients connect with websocket-client, then frames are read straight off the sockets
(:class:`_FrameReader`): a server's frames are unmasked, so reading one is a few slices.
websocket-client's own ``recv`` cost the client about 29 µs per frame, 29 ms per message in a
room of 1,000: at that size the client, not the server, set when the last frame was read.
"""

from __future__ import annotations

import json
import resource
import selectors
import socket
import time

import websocket

#: Waiting for a message's last receiver: this, plus ``PER_RECEIVER_SECONDS`` per receiver.
BASE_TIMEOUT_SECONDS = 10.0
PER_RECEIVER_SECONDS = 0.02


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _carries(raw: bytes, text: str) -> bool:
    """chatlib posts a JSON frame with ``message``; the peer posts the bare text."""
    if raw == text.encode():
        return True
    try:
        frame = json.loads(raw)
    except ValueError:
        return False
    return isinstance(frame, dict) and frame.get("message") == text


class _FrameReader:
    """The data frames a server sent on one socket, parsed from whatever bytes have arrived.

    RFC 6455 §5.2: a server's frames are not masked; a length of 126 or 127 is followed by a
    16- or 64-bit length. A ping is answered with a pong (masked, as a client must).
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = bytearray()
        self._fragments = bytearray()

    def read(self) -> list[bytes]:
        """The complete messages the bytes now waiting complete (call when readable)."""
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        self._buffer += data
        messages = []
        while len(self._buffer) >= 2:
            first, second = self._buffer[0], self._buffer[1]
            length, start = second & 0x7F, 2
            if length == 126:
                length, start = int.from_bytes(self._buffer[2:4], "big"), 4
            elif length == 127:
                length, start = int.from_bytes(self._buffer[2:10], "big"), 10
            if len(self._buffer) < start + length:
                break
            payload = bytes(self._buffer[start : start + length])
            del self._buffer[: start + length]
            opcode = first & 0x0F
            if opcode == 0x9:
                self.sock.sendall(websocket.ABNF.create_frame(payload, 0xA).format())
            elif opcode in (0x0, 0x1, 0x2):
                self._fragments += payload
                if first & 0x80:  # FIN: the message is complete
                    messages.append(bytes(self._fragments))
                    self._fragments.clear()
        return messages


class BenchRoom:
    """Clients held open across batches, so systems can be measured turn by turn."""

    def __init__(self, url: str, size: int, decoys: int, *, tag: str) -> None:
        def connect(room: str, user: str) -> websocket.WebSocket:
            return websocket.create_connection(f"{url}?roomId={room}&userId={user}", timeout=30)

        room, decoy_room = f"bench-{tag}-{size}", f"decoy-{tag}-{size}"
        self.sender = connect(room, "sender")
        self.receivers = [connect(room, f"r{i}") for i in range(size)]
        self.decoys = [connect(decoy_room, f"d{i}") for i in range(decoys)]
        self.selector = selectors.DefaultSelector()
        for ws in self.everyone:
            self.selector.register(ws.sock, selectors.EVENT_READ, (ws, _FrameReader(ws.sock)))
        self._decoy_ids = {id(ws) for ws in self.decoys}
        self.timeout = BASE_TIMEOUT_SECONDS + PER_RECEIVER_SECONDS * size
        #: Frames a decoy received (misrouted), and receivers a message never reached in time.
        self.decoy_deliveries = 0
        self.lost = 0
        self._sequence = 0

    @property
    def everyone(self) -> list[websocket.WebSocket]:
        return [self.sender, *self.receivers, *self.decoys]

    def send(self) -> float | None:
        """Send one message; return ms until the last receiver has it, or ``None`` if some
        receivers still lack it after :attr:`timeout` (counted in :attr:`lost`)."""
        self._sequence += 1
        text = f"m{self._sequence}"
        pending = {id(ws) for ws in self.receivers}
        started = time.perf_counter()
        self.sender.send(json.dumps({"action": "sendmessage", "message": text}))
        deadline = started + self.timeout
        while pending:
            if time.perf_counter() > deadline:
                self.lost += len(pending)
                return None
            for key, _ in self.selector.select(timeout=1):
                ws, reader = key.data
                for raw in reader.read():
                    if id(ws) in self._decoy_ids:
                        self.decoy_deliveries += 1
                    elif _carries(raw, text):
                        pending.discard(id(ws))
        return (time.perf_counter() - started) * 1000

    def send_and_time(self) -> float:
        """:meth:`send`, raising if the message did not reach every receiver in time."""
        latency = self.send()
        if latency is None:
            raise TimeoutError(f"some receivers never got m{self._sequence}")
        return latency

    def close(self) -> None:
        time.sleep(0.2)  # late decoy frames would show up here
        for key, _ in self.selector.select(timeout=0.2):
            ws, reader = key.data
            if id(ws) in self._decoy_ids:
                self.decoy_deliveries += len(reader.read())
        for ws in self.everyone:
            self.selector.unregister(ws.sock)
            ws.close(timeout=1)


def raise_open_file_limit(needed: int) -> None:
    """Raise this process's open-file soft limit to its hard limit (the processes it starts
    inherit it): a room of 1,000 holds about 1,000 sockets here and as many in the server."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and soft < needed:
        raise SystemExit(f"{needed} open files needed, the limit is {soft} (ulimit -n)")
