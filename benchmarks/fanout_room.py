"""One room of benchmark clients: a sender, N receivers, decoys in another room.

Shared by ``fanout_latency.py`` (the local stack alone) and ``side_by_side.py`` (the local
stack, serverless-offline and the floor, interleaved). A message's latency is the time from
the sender's ``send`` until the *last* receiver has it; decoys must never receive anything.

Run on its own, it compares the template's two fan-outs on the local stack (issue 27):
``FanOut=single`` (the sending invocation posts to the whole room) and ``FanOut=sharded``
(it posts the first page of 100 and queues the rest for workers, which the local runtime's
SQS poller invokes). Both stacks are deployed from ``infra_cfn/chat.yaml`` into one local
stack in a process of its own (so the clients do not share its interpreter); the runs
alternate between them, room size by room size, and the p50 and p99 of each run are printed::

    python benchmarks/fanout_room.py [--fan-out single sharded] [--sizes 200 1000] [--runs 3]

The clients connect with websocket-client, then frames are read straight off the sockets
(:class:`_FrameReader`): a server's frames are unmasked, so reading one is a few slices.
websocket-client's own ``recv`` cost the client about 29 µs per frame, 29 ms per message in a
room of 1,000: at that size the client, not the server, set when the last frame was read.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import selectors
import socket
import statistics
import subprocess
import sys
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


# ---------------------------------------------------------------------- single versus sharded
def serve(fan_outs: list[str]) -> None:
    """The server side (a child process): one local stack, one chat stack per fan-out, each
    deployed from the template; prints ``<fan-out> <url>`` lines, then runs until stdin ends."""
    import resource

    from chatlib.deploy import CHAT_TEMPLATE, deploy_stack
    from chatlib.local.gateway.stack import start_local_stack

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    stack = start_local_stack(aws_in_own_process=True)
    for fan_out in fan_outs:
        result = deploy_stack(
            CHAT_TEMPLATE,
            stack_name=f"bench-{fan_out}",
            parameters={"FanOut": fan_out},
            progress=lambda _: None,
        )
        print(fan_out, stack.local_url(result.outputs["WebSocketUrl"]), flush=True)
    print("ready", flush=True)
    sys.stdin.read()
    for fan_out in fan_outs:  # where the time went, from the functions' own log lines
        for function in (f"bench-{fan_out}-sendmessage", f"bench-{fan_out}-fanout"):
            by_room: dict[int, list[float]] = {}
            for line in stack.invocations(function):
                size = line.get("counts", {}).get("recipients")
                if size and line.get("route") in {"sendmessage", "fanout"}:
                    by_room.setdefault(size, []).append(line["durationMs"])
            for size, durations in sorted(by_room.items()):
                print(f"    {function:<26} {size:>5} recipients: {len(durations):>4} "
                      f"invocations, median {statistics.median(durations):7.1f} ms")  # fmt: skip
    stack.stop()


def measure(url: str, size: int, messages: int, decoys: int, tag: str) -> tuple[float, float]:
    """p50 and p99 (ms) of ``messages`` messages to a fresh room of ``size``."""
    room = BenchRoom(url, size, decoys, tag=tag)
    try:
        for _ in range(3):  # warm-up: instances started, workers too
            room.send_and_time()
        latencies = [room.send_and_time() for _ in range(messages)]
    finally:
        room.close()
    if room.decoy_deliveries or room.lost:
        raise SystemExit(f"{tag}: {room.decoy_deliveries} misrouted, {room.lost} lost")
    return statistics.median(latencies), percentile(latencies, 0.99)


def main() -> int:
    parser = argparse.ArgumentParser(description="single versus sharded fan-out, local stack")
    parser.add_argument("--fan-out", nargs="+", choices=["single", "sharded"],
                        default=["single", "sharded"])  # fmt: skip
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--decoys", type=int, default=20)
    parser.add_argument("--serve", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", *args.fan_out],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=environment,
    )  # fmt: skip
    assert server.stdout is not None and server.stdin is not None
    urls = {}
    for line in server.stdout:
        if line.strip() == "ready":
            break
        fan_out, url = line.split()
        urls[fan_out] = url
    else:
        raise SystemExit("the local stack did not start")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; page size 100")  # fmt: skip
    print(f"{'run':>3} {'fan-out':<8} {'N':>5} {'p50 ms':>8} {'p99 ms':>8}")
    results: dict[tuple[str, int], list[tuple[float, float]]] = {}
    try:
        for run in range(1, args.runs + 1):
            for size in args.sizes:
                order = args.fan_out if run % 2 else args.fan_out[::-1]  # alternate who goes first
                for fan_out in order:
                    tag = f"{fan_out}-{run}"
                    p50, p99 = measure(urls[fan_out], size, args.messages, args.decoys, tag)
                    results.setdefault((fan_out, size), []).append((p50, p99))
                    print(f"{run:>3} {fan_out:<8} {size:>5} {p50:>8.1f} {p99:>8.1f}", flush=True)
    finally:
        server.stdin.close()
        print("each function's own durations (its log lines), by recipients per invocation:")
        for line in server.stdout:
            print(line, end="")
        server.wait(timeout=60)
    print("medians of the runs:")
    for (fan_out, size), runs in sorted(results.items(), key=lambda item: item[0][::-1]):
        p50 = statistics.median(r[0] for r in runs)
        p99 = statistics.median(r[1] for r in runs)
        print(f"    {fan_out:<8} {size:>5} {p50:>8.1f} {p99:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
