"""What the fan-out model (``chatlib/tools/scale_model.py``) is fed, and what it must predict,
measured on this machine and written to one JSON file.

    python benchmarks/fanout_model_calibration.py [--sizes 200 1000] [--messages 30] [--runs 5]
                                                  [--out FILE]

(``FILE``: ``benchmarks/results/fanout_model_calibration.json`` unless given.) Each size is
measured alone, in turn, ``--runs`` times over; each figure is the median of its runs. About
five minutes.

The local stack runs as an instructor runs it (``chatlib-local serve --step rooms --quiet``, its
own process; ``stack_process.py``); this process holds the rooms (``fanout_room.BenchRoom``).
Measured, each stage on its own, so that the model's prediction is not the measurement read back:

* **fixed**: the p50 of a message in a room of one receiver and the sender: the hops in and out,
  the GetItem, a two-id Query, two posts;
* **room Query**: the handler's own read (``ConnectionStore.room_member_ids``) timed from here
  against the stack's embedded AWS, for the room of one and each size (p50 of 15);
* **sender CPU per post**: ``ConnectionsSender.post_to_all`` to 1,000 ids on a stand-in
  ``@connections`` endpoint in a process of its own (the posting thread's CPU,
  ``time.thread_time``);
* **gateway CPU per post** and **client CPU per frame**: the CPU of ``serve``'s own process
  (the gateway: ``/proc``, so Linux only) and of this one over each size's messages; per post
  is the slope between the smallest and largest size (what one more member costs);
* **other work**: the cores the machine's other processes took while each room was timed
  (the processes' CPU in ``/proc/stat`` less the stack's and this process's; interrupt time,
  mostly the loopback network of this test itself, recorded apart and not counted); on a
  machine shared with other work, that is CPU the fan-out's processes could not have;
* and what the model must match: the p50 of a message to the last receiver at each size.

Only the last item is compared with the model; ``tests/test_fanout_model.py`` checks the
committed file's figures agree within 25 %.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import boto3
from fanout_room import BenchRoom, raise_open_file_limit
from stack_process import start_serve_reading, stop_stack_process

from chatlib import ConnectionsSender, ConnectionStore

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "fanout_model_calibration.json"
TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (``/proc/PID/stat`` fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and every process it started (serve: the gateway, moto, the function
    instances), through ``/proc/PID/task/TID/children``."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += process_cpu_seconds(current)
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(child) for child in (task / "children").read_text().split()]
        except OSError:  # it ended meanwhile
            continue
    return total


def machine_busy_seconds() -> tuple[float, float]:
    """CPU time every core of the machine spent in processes (``/proc/stat``: user, nice,
    system), and apart, in interrupts (irq, softirq: the kernel's network work, which for a
    benchmark on loopback is mostly its own sockets', charged to no process)."""
    user, nice, system, _idle, _iowait, irq, softirq, _steal = (
        int(field) for field in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system) / TICKS, (irq + softirq) / TICKS


STANDIN = """
import sys
from chatlib.local.connections_standin import ConnectionsStandIn
standin = ConnectionsStandIn().start()
for n in range(int(sys.argv[1])):
    standin.open(f"c{n:05d}")
print(standin.url, flush=True)
sys.stdin.read()  # until this process closes the pipe
"""


def sender_cpu_per_post_us(posts: int = 1000, rounds: int = 5) -> float:
    """The shipped sender's CPU per post, median of ``rounds`` fan-outs of ``posts``, against
    a stand-in in a process of its own (as the gateway is: in this one, the stand-in's threads
    would take the interpreter's lock from the sender's and the sender's CPU per post would
    read 150 µs, not 90)."""
    ids = [f"c{n:05d}" for n in range(posts)]
    frame = json.dumps({"type": "message", "message": "x" * 40}).encode()
    standin = subprocess.Popen(
        [sys.executable, "-c", STANDIN, str(posts)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        sender = ConnectionsSender(standin.stdout.readline().strip())
        sender.post_to_all(ids[:50], frame)  # its connections opened
        found = []
        for _ in range(rounds):
            started = time.thread_time()
            outcomes = sender.post_to_all(ids, frame)
            found.append((time.thread_time() - started) / posts * 1e6)
            assert all(outcome is None for outcome in outcomes.values())
    finally:
        standin.stdin.close()
        standin.wait(timeout=30)
    return statistics.median(found)


def query_ms(store: ConnectionStore, room: str, repeat: int = 15) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        store.room_member_ids(room)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def start_serve() -> tuple[subprocess.Popen[str], str, str]:
    """``chatlib-local serve --quiet``; its WebSocket URL and the embedded AWS's endpoint,
    both read from what it prints."""
    server, printed = start_serve_reading("rooms", "WebSocket URL", "embedded AWS")
    return server, printed["WebSocket URL"], printed["embedded AWS"]


def settle(store: ConnectionStore, room: str, timeout: float = 120) -> None:
    """Wait until the closed room's ``$disconnect`` invocations have all run (its rows gone),
    then a second more: the next room measured must not share the stack with them."""
    deadline = time.monotonic() + timeout
    while len(store.room_member_ids(room)) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)


def measure_room(
    url: str, size: int, messages: int, server_pid: int, store: ConnectionStore
) -> dict[str, float]:
    """One room of ``size`` receivers and the sender, alone on the stack (moto's Query reads
    its whole index, so other rooms' rows would slow this room's Query)."""
    room = BenchRoom(url, size, 0, tag="model")
    for _ in range(3):  # warm-up: instances started, connections kept alive
        room.send_and_time()
    gateway, client = process_cpu_seconds(server_pid), time.process_time()
    stack, wall = tree_cpu_seconds(server_pid), time.monotonic()
    (machine, interrupts) = machine_busy_seconds()
    latencies = [room.send_and_time() for _ in range(messages)]
    gateway_s = process_cpu_seconds(server_pid) - gateway
    client_s = time.process_time() - client
    # what the machine's other work took meanwhile, in cores: all its CPU less this test's
    machine_after, interrupts_after = machine_busy_seconds()
    elapsed = time.monotonic() - wall
    others = machine_after - machine - (tree_cpu_seconds(server_pid) - stack) - client_s
    other_cores = max(0.0, others / elapsed)
    interrupt_cores = (interrupts_after - interrupts) / elapsed
    query = query_ms(store, f"bench-model-{size}")  # while the room is open
    room.close()
    settle(store, f"bench-model-{size}")
    return {
        "p50_ms": statistics.median(latencies),
        "query_ms": query,
        "gateway_cpu_ms_per_message": gateway_s / messages * 1000,
        "client_cpu_ms_per_message": client_s / messages * 1000,
        "other_work_cores": other_cores,
        "interrupt_cores": interrupt_cores,
    }


def measure_rooms(
    url: str, sizes: list[int], messages: int, runs: int, server_pid: int, store: ConnectionStore
) -> dict[int, dict[str, float]]:
    """Each size in turn, ``runs`` times over; each figure the median of its runs (a load
    episode on a shared machine then moves one run's figures, not the result)."""
    found: dict[int, list[dict[str, float]]] = {size: [] for size in sizes}
    for _ in range(runs):
        for size in sizes:
            found[size].append(measure_room(url, size, messages, server_pid, store))
    return {
        size: {
            key: round(statistics.median(run[key] for run in runs_found), 2)
            for key in runs_found[0]
        }
        | {"p50_ms_per_run": [round(run["p50_ms"], 2) for run in runs_found]}
        for size, runs_found in found.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--messages", type=int, default=30, help="per room and run")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    raise_open_file_limit(max(args.sizes) + 200)
    load_before = os.getloadavg()[0]
    server, url, endpoint = start_serve()
    try:
        os.environ.update(
            AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
        )  # fmt: skip
        sender_us = sender_cpu_per_post_us()
        (table,) = boto3.client("dynamodb").list_tables()["TableNames"]
        store = ConnectionStore(table)
        rooms = measure_rooms(url, [1, *args.sizes], args.messages, args.runs, server.pid, store)
    finally:
        stop_stack_process(server)
    small, large = min(args.sizes), max(args.sizes)
    per_post = {
        name: (rooms[large][key] - rooms[small][key]) / (large - small) * 1000
        for name, key in [
            ("gateway_cpu_us", "gateway_cpu_ms_per_message"),
            ("client_cpu_us", "client_cpu_ms_per_message"),
        ]
    }
    results = {
        "what": "chatlib/tools/scale_model.py is fed inputs, compared with measured_p50_ms",
        "command": "python benchmarks/fanout_model_calibration.py " + " ".join(sys.argv[1:]),
        "when": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "load_average_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "inputs": {
            "cores": os.cpu_count(),
            "fixed_ms": rooms[1]["p50_ms"],
            "query_ms": {str(size): found["query_ms"] for size, found in rooms.items()},
            "sender_cpu_us_per_post": round(sender_us, 1),
            "gateway_cpu_us_per_post": round(per_post["gateway_cpu_us"], 1),
            "client_cpu_us_per_frame": round(per_post["client_cpu_us"], 1),
            "other_work_cores": {
                str(size): found["other_work_cores"] for size, found in rooms.items()
            },
        },
        "measured_p50_ms": {str(size): rooms[size]["p50_ms"] for size in args.sizes},
        "per_room": {str(size): found for size, found in rooms.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
