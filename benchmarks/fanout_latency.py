"""Fan-out latency through the whole local chain.

websocket-client -> local gateway -> sendmessage (rooms step, chatlib) in the local Lambda
runtime -> DynamoDB on moto -> @connections -> websocket-client.

For each N: N receivers and one sender in a room, decoys in another room. The sender sends
one message at a time; the latency of a message is the time from send until the *last*
receiver has it. Prints p50 and p99 per N and the decoy deliveries (must be 0). For a
comparison with serverless-offline, use ``side_by_side.py``: figures from separate runs on a
shared machine are not comparable.

    python benchmarks/fanout_latency.py [--sizes 10 50 200] [--messages 40] [--decoys 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys

from fanout_room import BenchRoom, percentile
from stack_process import start_stack_process, stop_stack_process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--decoys", type=int, default=20)
    args = parser.parse_args()

    server, url = start_stack_process()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"{'N':>5} {'p50 ms':>8} {'p99 ms':>8} {'decoys':>7}")
    failed = False
    for size in args.sizes:
        room = BenchRoom(url, size, args.decoys, tag="local")
        for _ in range(3):  # warm-up
            room.send_and_time()
        latencies = [room.send_and_time() for _ in range(args.messages)]
        room.close()
        p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
        print(f"{size:>5} {p50:>8.1f} {p99:>8.1f} {room.decoy_deliveries:>7}")
        failed |= room.decoy_deliveries != 0
    stop_stack_process(server)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
