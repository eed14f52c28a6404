"""The template's two fan-outs side by side on the local stack (issue 27).

    python benchmarks/fanout_sharded.py [--fan-out single sharded] [--sizes 200 1000] [--runs 3]

``FanOut=single`` (the sending invocation posts to the whole room) and ``FanOut=sharded`` (it
posts the first page of 100 and queues the rest for workers, which the local runtime's SQS
poller invokes). Both stacks are deployed from ``infra_cfn/chat.yaml`` into one local stack in
a process of its own (so the clients do not share its interpreter); the runs alternate between
them, room size by room size, and the p50 and p99 of each run are printed, then each
function's own durations from its log lines. The rooms are ``fanout_room.BenchRoom``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys

from fanout_room import BenchRoom, percentile, raise_open_file_limit


def serve(fan_outs: list[str]) -> None:
    """The server side (a child process): one local stack, one chat stack per fan-out, each
    deployed from the template; prints ``<fan-out> <url>`` lines, then runs until stdin ends."""
    from chatlib.deploy import CHAT_TEMPLATE, deploy_stack
    from chatlib.local.gateway.stack import start_local_stack

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
    raise_open_file_limit(max(args.sizes) + args.decoys + 256)  # each process; serve inherits it
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
