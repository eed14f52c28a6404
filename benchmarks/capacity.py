"""How much the local stack holds: connections, and messages per second until p99 > 250 ms.

The stack runs in its own process (``chatlib-local serve --quiet``); this process holds the
clients, in rooms of 10. At each connection level it sends messages at rising rates (open
loop: on a schedule, not waiting for deliveries) and measures, per message, the time until
the last member of the room has it. The highest rate whose p99 stays within 250 ms, with
nothing lost, is the level's capacity.

    python benchmarks/capacity.py [--levels 100 500 1000] [--rates 10 20 40 80 160] [--seconds 3]
"""

from __future__ import annotations

import argparse
import selectors
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from stack_process import start_stack_process, stop_stack_process

from chatlib import ChatClient

ROOM_SIZE = 10
P99_LIMIT_MS = 250.0


class Receiver(threading.Thread):
    """Reads every client's frames and records when each message reached each member."""

    def __init__(self, clients: list[ChatClient]) -> None:
        super().__init__(daemon=True)
        self.selector = selectors.DefaultSelector()
        self.by_fd = {}
        for client in clients:
            self.selector.register(client.ws.sock, selectors.EVENT_READ)
            self.by_fd[client.ws.sock.fileno()] = client
        self.arrivals: dict[str, list[float]] = {}
        self.lock = threading.Lock()
        self.running = True

    def run(self) -> None:
        while self.running:
            for key, _ in self.selector.select(timeout=0.2):
                try:
                    frame = self.by_fd[key.fd].read_arriving()
                except Exception:
                    continue
                if not isinstance(frame, dict):
                    continue
                with self.lock:
                    self.arrivals.setdefault(frame.get("message", ""), []).append(
                        time.perf_counter()
                    )


def run_rate(clients: list[ChatClient], receiver: Receiver, rate: float, seconds: float, tag: str):
    count = int(rate * seconds)
    sent: dict[str, float] = {}
    start = time.perf_counter()
    for n in range(count):
        due = start + n / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        sender = clients[(n * 37) % len(clients)]
        message = f"{tag}-{n}"
        sent[message] = time.perf_counter()
        sender.send(message)
    time.sleep(1.0)  # let the last deliveries arrive
    latencies, lost = [], 0
    with receiver.lock:
        for message, at in sent.items():
            arrivals = receiver.arrivals.get(message, [])
            if len(arrivals) < ROOM_SIZE:
                lost += 1
            else:
                latencies.append((max(arrivals) - at) * 1000)
    latencies.sort()
    p50 = latencies[len(latencies) // 2] if latencies else float("inf")
    p99 = (
        latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        if latencies
        else float("inf")
    )
    return p50, p99, lost


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--rates", type=float, nargs="+", default=[10, 20, 30, 40, 50, 60])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()

    server, url = start_stack_process()
    clients: list[ChatClient] = []
    limit = f"{P99_LIMIT_MS:.0f} ms"
    print(f"rooms of {ROOM_SIZE}; a rate passes while p99 <= {limit} and nothing is lost")
    print(f"{'connections':>11} {'msg/s':>6} {'p50 ms':>8} {'p99 ms':>8} {'lost':>5}")
    summary = []
    try:
        for level in args.levels:
            with ThreadPoolExecutor(8) as pool:
                clients += pool.map(
                    lambda i: ChatClient.connect(
                        url, room_id=f"room{i // ROOM_SIZE}", user_id=f"u{i}", timeout=30
                    ),
                    range(len(clients), level),
                )
            receiver = Receiver(clients)
            receiver.start()
            run_rate(clients, receiver, 10, 1.0, f"warm-up-{level}")  # start instances first
            best = 0.0
            for rate in args.rates:
                p50, p99, lost = run_rate(clients, receiver, rate, args.seconds, f"L{level}R{rate}")
                print(f"{level:>11} {rate:>6.0f} {p50:>8.1f} {p99:>8.1f} {lost:>5}")
                if p99 > P99_LIMIT_MS or lost:
                    time.sleep(10)  # let the backlog drain before anything else is measured
                    break
                best = rate
            receiver.running = False
            receiver.join()
            summary.append((level, best))
    finally:
        for client in clients:
            client.close()
        stop_stack_process(server)
    for level, best in summary:
        print(
            f"{level} connections held: up to {best:.0f} messages/s "
            f"({best * ROOM_SIZE:.0f} deliveries/s) within p99 {P99_LIMIT_MS:.0f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
