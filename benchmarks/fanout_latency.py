"""Fan-out latency through the whole local chain, as the gateway issue asks for.

websocket-client -> local gateway -> sendmessage (rooms step, chatlib) in the local Lambda
runtime -> DynamoDB on moto -> @connections -> websocket-client.

For each N: N receivers and one sender in a room, decoys in another room. The sender sends
one message at a time; the latency of a message is the time from send until the *last*
receiver has it. Prints p50 and p99 per N and the decoy deliveries (must be 0).

    python benchmarks/fanout_latency.py [--sizes 10 50 200] [--messages 40] [--decoys 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import selectors
import statistics
import sys
import time

import websocket
from stack_process import start_stack_process, stop_stack_process

#: serverless-offline 13, same table on moto, same machine class (from the gateway issue).
SERVERLESS_OFFLINE_P50_MS = {10: 35, 50: 63, 200: 159}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def connect(url: str, room: str, user: str) -> websocket.WebSocket:
    return websocket.create_connection(f"{url}?roomId={room}&userId={user}", timeout=30)


def measure(url: str, size: int, messages: int, decoys: int, warmup: int = 3):
    room, decoy_room = f"bench-{size}", f"decoy-{size}"
    sender = connect(url, room, "sender")
    receivers = [connect(url, room, f"r{i}") for i in range(size)]
    decoy_sockets = [connect(url, decoy_room, f"d{i}") for i in range(decoys)]
    selector = selectors.DefaultSelector()
    for ws in receivers + decoy_sockets + [sender]:
        ws.sock.setblocking(True)
        selector.register(ws.sock, selectors.EVENT_READ, ws)
    decoy_ids = {id(ws) for ws in decoy_sockets}
    decoy_deliveries = 0
    latencies = []
    for sequence in range(warmup + messages):
        pending = {id(ws) for ws in receivers}
        started = time.perf_counter()
        sender.send(json.dumps({"action": "sendmessage", "message": f"m{sequence}"}))
        deadline = started + 30
        while pending:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{len(pending)} receivers never got message {sequence}")
            for key, _ in selector.select(timeout=1):
                ws = key.data
                frame = json.loads(ws.recv())
                if id(ws) in decoy_ids:
                    decoy_deliveries += 1
                elif frame.get("message") == f"m{sequence}":
                    pending.discard(id(ws))
        if sequence >= warmup:
            latencies.append((time.perf_counter() - started) * 1000)
    time.sleep(0.2)  # late decoy frames would show up here
    for key, _ in selector.select(timeout=0.2):
        if id(key.data) in decoy_ids:
            decoy_deliveries += 1
    for ws in receivers + decoy_sockets + [sender]:
        selector.unregister(ws.sock)
        ws.close()
    return latencies, decoy_deliveries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--decoys", type=int, default=20)
    args = parser.parse_args()

    server, url = start_stack_process()
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    print(f"machine: {machine}, Python {platform.python_version()}")
    print(f"{'N':>5} {'p50 ms':>8} {'p99 ms':>8} {'decoys':>7} {'s-offline p50':>14} {'ratio':>6}")
    failed = False
    for size in args.sizes:
        latencies, decoys = measure(url, size, args.messages, args.decoys)
        p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
        reference = SERVERLESS_OFFLINE_P50_MS.get(size)
        ratio = f"{p50 / reference:.2f}" if reference else "-"
        print(f"{size:>5} {p50:>8.1f} {p99:>8.1f} {decoys:>7} {reference or '-':>14} {ratio:>6}")
        failed |= decoys != 0
    stop_stack_process(server)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
