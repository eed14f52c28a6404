"""The rooms chat on the local stack and on serverless-offline, measured in one run, interleaved.

Both systems run the same rooms chat (``../shared/peers/serverless-offline/``: the peer's
DynamoDB is on moto too). For each N the same client code holds a room of N receivers, one
sender and 20 decoys open on each system, and sends ``--messages`` messages in batches of
``--batch``, alternating systems batch by batch, so that whatever else the machine does hits
both alike. Prints p50 and p99 per system and the ratios local / peer.

The peer is installed (npm, Node 20) into a scratch folder outside the project the first time:

    python benchmarks/side_by_side.py [--peer-dir /tmp/chatlib-peer] [--sizes 10 50 200]
                                      [--messages 40] [--batch 5] [--runs 1]
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

from fanout_room import BenchRoom, percentile
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


def measure_pair(urls: dict[str, str], size: int, messages: int, batch: int) -> dict:
    rooms = {name: BenchRoom(url, size, 20, tag=name) for name, url in urls.items()}
    latencies: dict[str, list[float]] = {name: [] for name in rooms}
    for room in rooms.values():
        for _ in range(3):  # warm-up: first invocations are cold starts
            room.send_and_time()
    while any(len(values) < messages for values in latencies.values()):
        for name, room in rooms.items():
            for _ in range(min(batch, messages - len(latencies[name]))):
                latencies[name].append(room.send_and_time())
    for room in rooms.values():
        room.close()
    decoys = {name: room.decoy_deliveries for name, room in rooms.items()}
    return {"latencies": latencies, "decoys": decoys}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-dir", type=Path, default=Path("/tmp/chatlib-peer"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--runs", type=int, default=1, help="repeat; the summary is the median")
    args = parser.parse_args()

    install_peer(args.peer_dir)
    peer_processes, peer_url = start_peer(args.peer_dir)
    local_process, local_url = start_stack_process("rooms")
    urls = {"local": local_url, "peer": peer_url}
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; peer: serverless-offline 13 at {peer_url}"
    )
    header = f"{'N':>4} {'run':>3} {'local p50/p99 ms':>17} {'peer p50/p99 ms':>16}"
    print(f"{header} {'p50 ratio':>9} {'p99 ratio':>9} {'decoys':>7}")
    failed = False
    summary: dict[int, list[tuple[float, float]]] = {}
    try:
        for run in range(1, args.runs + 1):
            for size in args.sizes:
                result = measure_pair(urls, size, args.messages, args.batch)
                figures = {
                    name: (statistics.median(values), percentile(values, 0.99))
                    for name, values in result["latencies"].items()
                }
                (lp50, lp99), (pp50, pp99) = figures["local"], figures["peer"]
                summary.setdefault(size, []).append((lp50 / pp50, lp99 / pp99))
                decoys = sum(result["decoys"].values())
                failed |= decoys != 0
                print(
                    f"{size:>4} {run:>3} {lp50:>8.1f}/{lp99:<8.1f} {pp50:>7.1f}/{pp99:<8.1f} "
                    f"{lp50 / pp50:>9.2f} {lp99 / pp99:>9.2f} {decoys:>7}",
                    flush=True,
                )
    finally:
        stop_stack_process(local_process)
        for process in peer_processes:
            process.terminate()
            process.wait(timeout=30)
    print("median over runs (local / peer):")
    for size, ratios in summary.items():
        p50s, p99s = [r[0] for r in ratios], [r[1] for r in ratios]
        print(f"{size:>4}  p50 {statistics.median(p50s):.2f}  p99 {statistics.median(p99s):.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
