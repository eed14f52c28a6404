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
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "chatlib.tools", "serve", "--step", step, "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=environment,
    )
    assert server.stdout is not None
    for line in server.stdout:
        match = re.search(r"WebSocket URL : (\S+)", line)
        if match:
            # keep reading its output, or a full pipe would stall the stack
            threading.Thread(target=server.stdout.read, daemon=True).start()
            return server, match.group(1)
    raise SystemExit("the local stack did not start")


def stop_stack_process(server: subprocess.Popen[str]) -> None:
    """Ask it to stop (SIGTERM, as Ctrl-C would); kill it if it takes longer than a minute."""
    server.terminate()
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
