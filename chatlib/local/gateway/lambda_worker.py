"""One Lambda function instance: the child process the local runtime starts per instance.

Run as ``python -m chatlib.local.gateway.lambda_worker <handler> <fd>``. It imports the handler
once (a cold start: Lambda's init phase, which says "ready" when done), then serves invocations
one at a time over the socket ``fd``, keeping module state between them (warm invocations), as
a Lambda execution environment does. Its environment is exactly the function's configured one
plus Lambda's reserved variables, set by the parent. stdout and stderr are the function's log
stream; like Lambda's Python runtime it writes START, END and REPORT lines around each
invocation and formats log records as ``[LEVEL]\\t<time>\\t<request id>\\t<message>``. The
structured line a chatlib handler logs per invocation (``{"outcome", "status", "counts", …}``)
also goes back to the gateway with the result, so the gateway's own log line can say what the
handler did.

Messages on the socket are a 4-byte big-endian length and a JSON document.
"""

from __future__ import annotations

import importlib
import json
import logging
import socket
import struct
import sys
import time
import traceback
from typing import Any

from chatlib.local.lambda_context import LambdaContext

_request_id = ""
_summary: dict[str, Any] | None = None


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    data = json.dumps(message).encode("utf-8")
    sock.sendall(struct.pack(">I", len(data)) + data)


def receive(sock: socket.socket) -> dict[str, Any] | None:
    header = _read_exactly(sock, 4)
    if header is None:
        return None
    body = _read_exactly(sock, struct.unpack(">I", header)[0])
    return None if body is None else json.loads(body)


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _request_id
        return True


class _SummaryCatcher(logging.Handler):
    """Keep the invocation's structured line (:mod:`chatlib.invocation_log`), if any."""

    def emit(self, record: logging.LogRecord) -> None:
        global _summary
        message = record.getMessage()
        if message.startswith("{") and '"outcome"' in message:
            try:
                parsed = json.loads(message)
            except ValueError:
                return
            if isinstance(parsed, dict):
                _summary = parsed


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    logging.Formatter.converter = time.gmtime
    root = logging.getLogger()
    root.handlers[:] = [handler, _SummaryCatcher(logging.INFO)]
    root.setLevel(logging.WARNING)  # as on Lambda: a library must raise its own level


def _load(handler_path: str) -> Any:
    module_name, _, function_name = handler_path.rpartition(".")
    return getattr(importlib.import_module(module_name), function_name)


def main() -> None:
    global _request_id, _summary
    handler_path, fd = sys.argv[1], int(sys.argv[2])
    sock = socket.socket(fileno=fd)
    _configure_logging()
    try:
        handler, load_error = _load(handler_path), None
    except Exception as error:  # reported on every invocation, as Lambda does
        handler, load_error = None, error
        traceback.print_exc()
    send(sock, {"ready": True})  # the init phase is over: its time is not the invocation's
    while (request := receive(sock)) is not None:
        _request_id, _summary = request["requestId"], None
        started = time.perf_counter()
        print(f"START RequestId: {_request_id} Version: $LATEST", flush=True)
        try:
            if load_error is not None:
                raise load_error
            result = handler(
                request["event"], LambdaContext.from_environment(_request_id, request["deadline"])
            )
            reply = {"ok": True, "result": json.loads(json.dumps(result))}
        except Exception as error:
            message = str(error)
            print(f"[ERROR] {type(error).__name__}: {message}", flush=True)
            traceback.print_exc(file=sys.stdout)
            reply = {"ok": False, "errorType": type(error).__name__, "errorMessage": message}
        elapsed = (time.perf_counter() - started) * 1000
        print(f"END RequestId: {_request_id}", flush=True)
        print(f"REPORT RequestId: {_request_id}\tDuration: {elapsed:.2f} ms", flush=True)
        if _summary is not None:
            reply["summary"] = _summary
        send(sock, reply)
        _request_id = ""


if __name__ == "__main__":
    main()
