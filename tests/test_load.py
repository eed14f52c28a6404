"""Load: 500 concurrent connections in 10 rooms and a burst of messages. Nothing is lost,
nothing leaks into another room, and the gateway and moto answer a health probe meanwhile."""

from __future__ import annotations

import resource
import selectors
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from chat_deployments import deploy_test_chat

from chatlib import ChatClient

CONNECTIONS = 500
ROOMS = 10
MESSAGES = 40


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


def test_500_connections_and_a_burst_lose_and_leak_nothing(stack):
    _raise_fd_limit(4 * CONNECTIONS)
    url, table, prefix = deploy_test_chat(stack)
    with ThreadPoolExecutor(8) as pool:
        clients = list(
            pool.map(
                lambda i: ChatClient.connect(url, room_id=f"room{i % ROOMS}", user_id=f"u{i}"),
                range(CONNECTIONS),
            )
        )
    senders = [clients[i * 7 % CONNECTIONS] for i in range(MESSAGES)]
    expected: dict[int, set[str]] = {id(c): set() for c in clients}
    for n, sender in enumerate(senders):
        for client in clients:
            if client.room_id == sender.room_id:
                expected[id(client)].add(f"burst-{n}")

    probes: list[float] = []
    stop_probing = threading.Event()

    def probe() -> None:
        dynamodb = boto3.client("dynamodb")
        while not stop_probing.is_set():
            started = time.monotonic()
            dynamodb.describe_table(TableName=table)
            health = ChatClient.connect(url, room_id="health", user_id="probe", timeout=10)
            health.close()
            probes.append(time.monotonic() - started)
            time.sleep(0.2)

    prober = threading.Thread(target=probe)
    prober.start()
    for n, sender in enumerate(senders):  # the burst: no waiting between messages
        sender.send(f"burst-{n}")

    received: dict[int, list[str]] = {id(c): [] for c in clients}
    selector = selectors.DefaultSelector()
    by_socket = {}
    for client in clients:
        client.ws.settimeout(10)
        selector.register(client.ws.sock, selectors.EVENT_READ)
        by_socket[client.ws.sock.fileno()] = client
    total = sum(len(v) for v in expected.values())
    got = 0
    deadline = time.monotonic() + 120
    while got < total and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=1):
            client = by_socket[key.fd]
            frame = client.read_arriving()
            if frame is None:  # a ping
                continue
            received[id(client)].append(frame["message"])
            got += 1
    stop_probing.set()
    prober.join(timeout=30)

    lost = {i: expected[i] - set(received[i]) for i in expected if expected[i] - set(received[i])}
    leaked = {i: set(received[i]) - expected[i] for i in expected if set(received[i]) - expected[i]}
    duplicated = [i for i in received if len(received[i]) != len(set(received[i]))]
    assert not lost, f"{len(lost)} clients missed messages"
    assert not leaked, f"{len(leaked)} clients got another room's messages"
    assert not duplicated
    assert probes and max(probes) < 10, probes
    stack.wait_until_idle(timeout=60)
    assert len(stack.invocations(f"{prefix}-sendmessage")) >= MESSAGES
    for client in clients:
        client.close()
