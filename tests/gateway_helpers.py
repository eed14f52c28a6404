"""Helpers for driving the local gateway with websocket-client, as a learner's client would."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import websocket

LAMBDAS = str(Path(__file__).parent / "lambdas")
PROBE = "probe_handlers"


def open_socket(url: str, *, query: str = "", **options: Any) -> websocket.WebSocket:
    return websocket.create_connection(url + (f"?{query}" if query else ""), timeout=10, **options)


def receive_json(ws: websocket.WebSocket, timeout: float = 10) -> Any:
    ws.settimeout(timeout)
    return json.loads(ws.recv())


def nothing_arrives(ws: websocket.WebSocket, within: float = 0.5) -> bool:
    ws.settimeout(within)
    try:
        ws.recv()
    except websocket.WebSocketTimeoutException:
        return True
    return False


def close_code(ws: websocket.WebSocket, timeout: float = 10) -> int:
    """Read frames until the server's close frame, end the connection, return the code."""
    ws.settimeout(timeout)
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            ws.shutdown()
            return int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005


def vanish(ws: websocket.WebSocket) -> None:
    """Drop the TCP connection without a close frame, like a laptop lid closing."""
    ws.sock.shutdown(socket.SHUT_RDWR)
    ws.sock.close()


def wait_for(predicate: Any, timeout: float = 10, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met within the timeout")


def log_records(stack: Any, function_name: str, marker: str) -> list[Any]:
    """The JSON documents a probe handler printed after ``marker`` in its log."""
    records = []
    for line in stack.logs(function_name):
        if line.startswith(marker + " "):
            payload = line[len(marker) + 1 :]
            records.append(json.loads(payload) if payload[:1] in "{[" else payload)
    return records


def refused_status(url: str, query: str = "", **options: Any) -> int:
    """The HTTP status of a handshake that must be refused (fails if it is accepted)."""
    try:
        ws = open_socket(url, query=query, **options)
    except websocket.WebSocketBadStatusException as refused:
        return refused.status_code
    ws.close()
    raise AssertionError(f"the handshake to {url}?{query} was accepted")
