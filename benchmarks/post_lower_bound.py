"""The least CPU one ``@connections`` post can cost on this machine: bytes only, no HTTP.

    python benchmarks/post_lower_bound.py [--posts 1000] [--window 16] [--rounds 20] [--sign]

A fan-out makes one HTTP request per member of the room and reads one answer. This script
keeps only what no implementation can avoid: a request's bytes (the size of a signed POST
carrying a chat frame) written on one of ``--window`` kept-alive loopback connections, the
server reading them and writing an answer's bytes (the size of API Gateway's 200), and the
client reading that answer. No parsing, no signing, no WebSocket frame: plain ``socket``
calls driven by ``selectors``, the client and the server in processes of their own, as the
function and the gateway are. ``--sign`` adds the one step the sender cannot skip either:
each request is signed (:class:`chatlib.sigv4.RequestSigner`, SigV4 as API Gateway demands)
before its bytes go out. It prints the CPU time per post of each process (from
``os.times``, over ``--rounds`` fan-outs of ``--posts`` each) and the wall time of a fan-out.

What it bounds: a message to a room of N costs at least N times this on top of what the
floor (``benchmarks/floor_server.py``) pays for the frames themselves, and on top of the
room's read from DynamoDB; on two cores, half the sum is the least wall time possible
(``docs/performance.md``, "Why the floor target is out of reach").
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import selectors
import socket
import statistics
import time
from collections.abc import Callable

from botocore.credentials import Credentials

from chatlib.sigv4 import RequestSigner

REQUEST = b"R" * 560  # a signed POST of a ~70-byte chat frame: head ~490 bytes, body ~70
ANSWER = b"A" * 150  # a 200 with its date, request id and length


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


def serve(listener: socket.socket, cpu_out) -> None:
    """Answer every ``len(REQUEST)`` bytes with ``ANSWER`` on every connection, until the
    client closes them all; report this process's CPU per round through ``cpu_out``."""
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    pending: dict[socket.socket, int] = {}
    started = _cpu()
    while True:
        for key, _ in selector.select():
            sock = key.fileobj
            if sock is listener:
                conn, _ = listener.accept()
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                selector.register(conn, selectors.EVENT_READ)
                pending[conn] = 0
                continue
            data = sock.recv(65536)
            if not data:
                selector.unregister(sock)
                sock.close()
                del pending[sock]
                if not pending:
                    cpu_out.put(_cpu() - started)
                    return
                continue
            got = pending[sock] + len(data)
            answers, pending[sock] = divmod(got, len(REQUEST))
            if answers:
                sock.sendall(ANSWER * answers)


def signing_request(signer: RequestSigner) -> Callable[[], bytes]:
    """The request's bytes, signed afresh each time (their size stays ``len(REQUEST)``)."""

    def request() -> bytes:
        signer.headers("POST", "127.0.0.1:9", "/local/@connections/abcdefghijklm=", REQUEST)
        return REQUEST

    return request


def fan_out(connections: list[socket.socket], selector, posts: int, request) -> None:
    """Send ``posts`` requests over the connections, one in flight on each, as the sender's
    window does; return when every answer has been read."""
    sent = 0
    for conn in connections[:posts]:
        conn.sendall(request())
        sent += 1
    answered = 0
    waiting = {conn: 0 for conn in connections[:posts]}
    while answered < posts:
        for key, _ in selector.select():
            conn = key.fileobj
            data = conn.recv(65536)
            waiting[conn] += len(data)
            while waiting[conn] >= len(ANSWER):
                waiting[conn] -= len(ANSWER)
                answered += 1
                if sent < posts:
                    conn.sendall(request())
                    sent += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--sign", action="store_true", help="sign each request (SigV4)")
    args = parser.parse_args()
    request = (
        signing_request(RequestSigner(Credentials("testing", "testing"), "us-east-1"))
        if args.sign
        else lambda: REQUEST
    )

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    cpu_out = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(listener, cpu_out))
    server.start()
    listener.close()

    connections = [socket.create_connection(("127.0.0.1", port)) for _ in range(args.window)]
    selector = selectors.DefaultSelector()
    for conn in connections:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        selector.register(conn, selectors.EVENT_READ)
    fan_out(connections, selector, args.posts, request)  # warm-up, not counted in the wall times

    walls = []
    cpu_started = _cpu()
    for _ in range(args.rounds):
        started = time.perf_counter()
        fan_out(connections, selector, args.posts, request)
        walls.append(time.perf_counter() - started)
    client_cpu = _cpu() - cpu_started
    for conn in connections:
        conn.close()
    server_cpu = cpu_out.get(timeout=30)
    server.join()

    total_posts = args.posts * args.rounds
    server_total_posts = args.posts * (args.rounds + 1)  # the server counted the warm-up too
    client_us = client_cpu / total_posts * 1e6
    server_us = server_cpu / server_total_posts * 1e6
    signed = ", each signed" if args.sign else ""
    print(f"{args.posts} posts x {args.rounds} rounds, {args.window} in flight{signed}")
    print(f"client (the sender's side) CPU per post: {client_us:.1f} µs")
    print(f"server (the gateway's side) CPU per post: {server_us:.1f} µs")
    print(f"both: {client_us + server_us:.1f} µs")
    print(f"fan-out wall time, median: {statistics.median(walls) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
