"""The rooms chat on the local stack, serverless-offline and the floor: one run, interleaved.

The local stack and the peer run the same rooms chat (``../shared/peers/serverless-offline/``:
the peer's DynamoDB is on moto too). The floor (``floor_server.py``) is no chat on API Gateway
at all: an in-memory ``websockets`` broadcast server speaking the same frames, there to show
how close to "nothing but the sockets" the others come. For each N the same client code holds
a room of N receivers, one sender and 20 decoys open on each system, and sends ``--messages``
messages in batches of ``--batch``, rotating through the systems batch by batch, so that
whatever else the machine does hits all alike. Prints p50 and p99 per system, the ratios
local / peer and local / floor, and per system the frames decoys received (misrouted) and
the receivers a message never reached within its time-out (lost): both must be 0.

The peer is installed (npm, Node 20) into a scratch folder outside the project the first time:

    python benchmarks/side_by_side.py [--peer-dir /tmp/chatlib-peer] [--sizes 10 50 200 1000]
                                      [--messages 40] [--batch 5] [--runs 1]

A room of 1,000 holds about 1,020 client sockets per system in this one process (3,060 in
all), and the local stack's gateway as many plus its own: the soft limit on open files is
raised to the hard limit first (the systems started from here inherit it).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from fanout_room import BenchRoom, percentile, raise_open_file_limit
from stack_process import start_stack_process, stop_stack_process

PEER_SOURCE = Path(__file__).resolve().parents[2] / "shared" / "peers" / "serverless-offline"
#: The peer's handler posts to ``localhost:3001`` (its function environment has no WS_PORT).
PEER_WS_PORT = 3001
PEER_PACKAGES = [
    "serverless@3",
    "serverless-offline@13",
    "@aws-sdk/client-apigatewaymanagementapi",
    "@aws-sdk/client-dynamodb",
    "@aws-sdk/lib-dynamodb",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the peer exited with {process.returncode} before listening")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"nothing listened on {port} within {timeout} s")


def install_peer(folder: Path) -> None:
    if (folder / "node_modules" / ".bin" / "serverless").exists():
        return
    if shutil.which("npm") is None:
        raise SystemExit("the peer needs Node 20 and npm (apt-get install nodejs npm)")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"installing serverless-offline into {folder} (once)...", flush=True)
    subprocess.run(["npm", "init", "-y"], cwd=folder, check=True, capture_output=True)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", *PEER_PACKAGES],
        cwd=folder,
        check=True,
        capture_output=True,
    )


def start_peer(folder: Path) -> tuple[list[subprocess.Popen], str]:
    """moto with the peer's table, then ``serverless offline``; return them and the URL."""
    for name in ("serverless.yml", "handler.js"):
        shutil.copy(PEER_SOURCE / name, folder / name)
    moto_port, ws_port = free_port(), PEER_WS_PORT
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", ws_port)) == 0:
            raise SystemExit(f"port {ws_port} is taken: the peer's handler posts to it")
    moto = subprocess.Popen(
        [sys.executable, str(PEER_SOURCE / "moto_table.py"), str(moto_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert moto.stdout is not None
    if moto.stdout.readline().strip() != "ready":
        raise SystemExit("the peer's moto did not start")
    environment = {
        **os.environ,
        "DDB_ENDPOINT": f"http://127.0.0.1:{moto_port}",
        "WS_PORT": str(ws_port),
        "SLS_TELEMETRY_DISABLED": "1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_REGION": "us-east-1",
    }
    offline = subprocess.Popen(
        ["node", "node_modules/.bin/serverless", "offline", "start"],
        cwd=folder,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(ws_port, offline)
    return [offline, moto], f"ws://127.0.0.1:{ws_port}"


def start_floor() -> tuple[subprocess.Popen, str]:
    """``floor_server.py`` in a process of its own, as the other systems run."""
    port = free_port()
    floor = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("floor_server.py")), str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert floor.stdout is not None
    if floor.stdout.readline().strip() != "ready":
        raise SystemExit("the floor did not start")
    return floor, f"ws://127.0.0.1:{port}"


def measure_together(urls: dict[str, str], size: int, messages: int, batch: int) -> dict:
    rooms = {name: BenchRoom(url, size, 20, tag=name) for name, url in urls.items()}
    latencies: dict[str, list[float]] = {name: [] for name in rooms}
    sent = dict.fromkeys(rooms, 0)
    for room in rooms.values():
        for _ in range(3):  # warm-up: first invocations are cold starts
            room.send()
        room.lost = 0
    while any(count < messages for count in sent.values()):
        for name, room in rooms.items():
            for _ in range(min(batch, messages - sent[name])):
                sent[name] += 1
                latency = room.send()
                if latency is not None:
                    latencies[name].append(latency)
    for room in rooms.values():
        room.close()
    return {
        "latencies": latencies,
        "decoys": {name: room.decoy_deliveries for name, room in rooms.items()},
        "lost": {name: room.lost for name, room in rooms.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-dir", type=Path, default=Path("/tmp/chatlib-peer"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 200, 1000])
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--runs", type=int, default=1, help="repeat; the summary is the median")
    args = parser.parse_args()

    raise_open_file_limit(4 * (max(args.sizes) + 22) + 256)
    install_peer(args.peer_dir)
    peer_processes, peer_url = start_peer(args.peer_dir)
    local_process, local_url = start_stack_process("rooms")
    floor_process, floor_url = start_floor()
    urls = {"local": local_url, "peer": peer_url, "floor": floor_url}
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; peer: serverless-offline 13 at {peer_url}; "
        f"floor: an in-memory websockets broadcast server (no database, no HTTP) at {floor_url}"
    )
    columns = [f"{name + ' p50/p99 ms':>19}" for name in urls]
    print(f"{'N':>5} {'run':>3} {' '.join(columns)} {'/peer p50':>9} {'p99':>5} "
          f"{'/floor p50':>10} {'misrouted':>9} {'lost':>5}")  # fmt: skip
    failed = False
    summary: dict[int, list[dict[str, tuple[float, float]]]] = {}
    try:
        for run in range(1, args.runs + 1):
            for size in args.sizes:
                result = measure_together(urls, size, args.messages, args.batch)
                figures = {
                    name: (statistics.median(values), percentile(values, 0.99))
                    for name, values in result["latencies"].items()
                }
                summary.setdefault(size, []).append(figures)
                decoys, lost = sum(result["decoys"].values()), sum(result["lost"].values())
                failed |= decoys != 0 or lost != 0
                (lp50, lp99), (pp50, pp99), (fp50, _) = (figures[n] for n in urls)
                cells = " ".join(f"{p50:>9.1f}/{p99:<9.1f}" for p50, p99 in figures.values())
                print(
                    f"{size:>5} {run:>3} {cells} {lp50 / pp50:>9.2f} {lp99 / pp99:>5.2f} "
                    f"{lp50 / fp50:>10.2f} {decoys:>9} {lost:>5}",
                    flush=True,
                )
                if decoys or lost:
                    print(f"      misrouted per system {result['decoys']}, lost {result['lost']}")
    finally:
        stop_stack_process(local_process)
        for process in [*peer_processes, floor_process]:
            process.terminate()
            process.wait(timeout=30)
    print("median over runs: p50/p99 ms per system; each ratio the median of the runs' ratios")
    print(f"{'N':>5} {'local':>15} {'peer':>15} {'floor':>15} {'l/peer p50':>10} "
          f"{'p99':>5} {'l/floor p50':>11}")  # fmt: skip
    for size, runs in summary.items():
        medians = {
            name: tuple(statistics.median(run[name][i] for run in runs) for i in (0, 1))
            for name in urls
        }
        ratio = {
            key: statistics.median(run["local"][i] / run[other][i] for run in runs)
            for key, other, i in [("p50", "peer", 0), ("p99", "peer", 1), ("floor", "floor", 0)]
        }
        cells = " ".join(f"{p50:>7.1f}/{p99:<7.1f}" for p50, p99 in medians.values())
        print(
            f"{size:>5} {cells} {ratio['p50']:>10.2f} {ratio['p99']:>5.2f} {ratio['floor']:>11.2f}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
