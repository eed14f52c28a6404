"""``python3 workbook.py lab``, the README's first command, run as the person reading it is."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_lab_starts_for_this_user_with_the_repository_as_its_root(tmp_path):
    port, token = free_port(), secrets.token_hex(16)
    environment = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "workbook.py"), "lab", "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment,
        start_new_session=True,  # Lab is workbook.py's child: stop the whole group
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not any(f"http://127.0.0.1:{port}/lab" in line for line in lines):
            assert process.poll() is None, "workbook.py lab exited:\n" + "".join(lines)
            assert time.monotonic() < deadline, "no Lab URL within 120 s:\n" + "".join(lines)
            time.sleep(0.2)
        output = "".join(lines)
        as_root = hasattr(os, "geteuid") and os.geteuid() == 0
        assert ("started with --allow-root" in output) == as_root
        assert not re.search(r"Running as root is not recommended", output)
        # Lab's root is the repository: the template and the docs open from it
        for path in ("infra_cfn/chat.yaml", "docs/local-gateway.md", "notebooks"):
            url = f"http://127.0.0.1:{port}/api/contents/{path}?content=0&token={token}"
            with urllib.request.urlopen(url, timeout=10) as response:
                assert json.loads(response.read())["path"] == path
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
