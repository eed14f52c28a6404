"""Start the local stack in a process of its own, as an instructor runs it, for benchmarks.

The clients a benchmark measures then do not share an interpreter (and its GIL) with the
gateway and moto.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading


def start_stack_process(step: str = "rooms") -> tuple[subprocess.Popen[str], str]:
    """Run ``chatlib-local serve --quiet``; return the process and its WebSocket URL."""
    server, printed = start_serve_reading(step, "WebSocket URL")
    return server, printed["WebSocket URL"]


def start_serve_reading(step: str, *labels: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Run ``chatlib-local serve --quiet``; return the process and, for each of ``labels``
    (``"WebSocket URL"``, ``"embedded AWS"``, …), the value serve prints beside it."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "chatlib.tools", "serve", "--step", step, "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=environment,
    )
    assert server.stdout is not None
    printed: dict[str, str] = {}
    for line in server.stdout:
        for label in labels:
            match = re.search(rf"{re.escape(label)}\s*: (\S+)", line)
            if match:
                printed.setdefault(label, match.group(1))
        if len(printed) == len(labels):
            # keep reading its output, or a full pipe would stall the stack
            threading.Thread(target=server.stdout.read, daemon=True).start()
            return server, printed
    raise SystemExit("the local stack did not start")


def stop_stack_process(server: subprocess.Popen[str]) -> None:
    """Ask it to stop (SIGTERM, as Ctrl-C would); kill it if it takes longer than a minute."""
    server.terminate()
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
