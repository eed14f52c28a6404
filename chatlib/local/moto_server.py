"""moto's server, with DynamoDB's read responses written straight to JSON and its
long-lived objects kept out of the garbage collector's way.

    python -m chatlib.local.moto_server -H 127.0.0.1 -p 5000   # what ``serve`` runs

Why: moto 5.2 writes every response through a generic, model-driven serializer that walks
each attribute of each item. For a ``Query`` returning a 200-member room that takes about
20 ms, four times what moto spends finding the items, and the chat pays it on every message
(``docs/performance.md``). DynamoDB's JSON protocol needs no such walk: moto already holds a
read's result as plain AWS-shaped JSON (``{"Items": [{"roomId": {"S": "lobby"}}], ...}``),
so :func:`install` writes ``Query``, ``Scan`` and ``GetItem`` results with ``json.dumps``.
Errors, and every other operation and service, keep moto's serializer. The bodies are the
same JSON (``tests/test_embedded.py`` compares the two on every attribute type); the
functions, which are the code that ships to Lambda, are not touched.

Why the freezing: moto keeps everything it is told (tables, stacks, every log line the
functions print) as Python objects, and CPython's full collection walks all of them. With a
chat running, that walk took 120-145 ms every few seconds, and whatever request was in
flight waited: the worst messages of the fan-out benchmark. :func:`keep_frozen` collects,
then freezes the survivors (``gc.freeze``) every few seconds, so a full collection walks
only what is new since; acyclic objects are still freed as usual when they die.
"""

from __future__ import annotations

import base64
import gc
import json
import sys
import threading
from typing import Any

__all__ = ["FAST_OPERATIONS", "FREEZE_EVERY_SECONDS", "install", "keep_frozen", "main"]

#: How often the survivors of a collection are frozen.
FREEZE_EVERY_SECONDS = 5.0

#: The read operations answered by ``json.dumps`` instead of moto's serializer.
FAST_OPERATIONS = frozenset({"Query", "Scan", "GetItem"})

_installed = False


def _binary_as_base64(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def install() -> None:
    """Patch moto's ``DynamoResult`` (idempotent); call before the server handles requests."""
    global _installed
    if _installed:
        return
    from moto.dynamodb.responses import DynamoResult

    generic = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        if context.operation_model.name not in FAST_OPERATIONS or not isinstance(
            self.result, dict
        ):
            return generic(self, context)
        service = context.service_model
        content_type = f"application/x-amz-json-{service.metadata.get('jsonVersion', '1.0')}"
        body = json.dumps(self.result, default=_binary_as_base64, separators=(",", ":"))
        return 200, {"Content-Type": content_type}, body

    DynamoResult.execute_result = execute_result
    _installed = True


def keep_frozen(
    interval: float = FREEZE_EVERY_SECONDS, stop: threading.Event | None = None
) -> threading.Thread:
    """Collect and freeze every ``interval`` seconds, in a daemon thread, until ``stop`` is
    set (this process is moto's alone: nothing else here relies on the collector's timing)."""
    stop = stop or threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            gc.collect()
            gc.freeze()

    thread = threading.Thread(target=loop, name="gc-freeze", daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> None:
    install()
    keep_frozen()
    from moto.server import main as moto_main

    moto_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
