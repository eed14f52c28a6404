"""One Lambda function instance: the child process the local runtime starts per instance.

Run as ``python -S -P lambda_worker.py <handler> <fd> <runtime packages>`` with
``LAMBDA_TASK_ROOT`` (and the working directory) set to the function's unpacked zip
(:mod:`chatlib.local.gateway.function_code`). It imports nothing of chatlib: the handler's
own modules, chatlib's included, come from the zip, first on ``sys.path`` as ``/var/task``
is on Lambda; besides them it finds only the standard library (``-S``: no site-packages) and
the packages Lambda's Python runtime bundles (boto3 and its dependencies, found where this
machine installed them: ``<runtime packages>`` is ``{import name: directory}`` as JSON).

It imports the handler once (a cold start: Lambda's init phase, which says "ready" when
done), then serves invocations one at a time over the socket ``fd``, keeping module state
between them (warm invocations), as a Lambda execution environment does. A handler that
cannot be imported fails every invocation with Lambda's ``Runtime.ImportModuleError`` (or
``Runtime.HandlerNotFound``). Its environment is exactly the function's configured one plus
Lambda's reserved variables, set by the parent. stdout and stderr are the function's log
stream; like Lambda's Python runtime it writes START, END and REPORT lines around each
invocation and formats log records as ``[LEVEL]\\t<time>\\t<request id>\\t<message>``. The
structured line a chatlib handler logs per invocation (``{"outcome", "status", "counts", …}``)
also goes back to the gateway with the result, so the gateway's own log line can say what the
handler did.

Messages on the socket are a 4-byte big-endian length and a JSON document.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import json
import logging
import os
import socket
import struct
import sys
import time
import traceback
from pathlib import Path
from typing import Any


def _load_context_class() -> Any:
    """``LambdaContext``, loaded from its file: importing it as ``chatlib.local…`` would
    import the workbook's chatlib, and the handler must get the zip's."""
    path = Path(__file__).resolve().parent.parent / "lambda_context.py"
    spec = importlib.util.spec_from_file_location("_chatlib_lambda_context", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses looks its module up while building it
    spec.loader.exec_module(module)
    return module.LambdaContext


class _RuntimePackages:
    """Find the runtime's bundled packages (and nothing else) where this machine has them."""

    def __init__(self, directories: dict[str, str]) -> None:
        self._directories = directories

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        directory = self._directories.get(name)  # top-level names only: the rest follow
        if directory is None:
            return None
        return importlib.machinery.PathFinder.find_spec(name, [directory])


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


def _load(handler_path: str) -> tuple[Any, dict[str, str] | None]:
    """The handler, or ``None`` and the error every invocation will report (Lambda's own
    ``Runtime.*`` types for a module it cannot import or a function it cannot find)."""
    module_name, _, function_name = handler_path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        message = f"Unable to import module '{module_name}': {error}"
        return None, {"errorType": "Runtime.ImportModuleError", "errorMessage": message}
    except Exception as error:  # the module raised while it was imported
        traceback.print_exc(file=sys.stdout)
        return None, {"errorType": type(error).__name__, "errorMessage": str(error)}
    if not callable(getattr(module, function_name, None)):
        message = f"Handler '{function_name}' missing on module '{module_name}'"
        return None, {"errorType": "Runtime.HandlerNotFound", "errorMessage": message}
    return getattr(module, function_name), None


def main() -> None:
    global _request_id, _summary
    handler_path, fd, runtime_packages = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sock = socket.socket(fileno=fd)
    context_class = _load_context_class()
    sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
    sys.meta_path.append(_RuntimePackages(json.loads(runtime_packages)))
    _configure_logging()
    handler, load_error = _load(handler_path)  # an error is reported on every invocation
    if load_error is not None:
        print(f"[ERROR] {load_error['errorType']}: {load_error['errorMessage']}")
    send(sock, {"ready": True})  # the init phase is over: its time is not the invocation's
    while (request := receive(sock)) is not None:
        _request_id, _summary = request["requestId"], None
        started = time.perf_counter()
        print(f"START RequestId: {_request_id} Version: $LATEST", flush=True)
        try:
            if load_error is not None:
                print(f"[ERROR] {load_error['errorType']}: {load_error['errorMessage']}")
                reply: dict[str, Any] = {"ok": False, **load_error}
            else:
                context = context_class.from_environment(_request_id, request["deadline"])
                result = handler(request["event"], context)
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
