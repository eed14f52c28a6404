"""``chatlib-local serve`` supervises the embedded AWS it started in its own process.

A crash or the system ending moto under memory pressure used to leave serve running broken
(every handshake 500, tracebacks, no word of why). Now serve says so in one line, starts the
embedded AWS again on the same port, deploys the same step with the same ids, and the chat is
back at the same URLs with the same tokens; or, when it cannot, it stops with exit status 3
and one line.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import websocket
from gateway_helpers import open_socket, receive_json, wait_for
from test_cli import interrupted, read_until, serving

from chatlib.tools.supervision import EXIT_AWS_LOST, SERVICE_RESTART

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="finds serve's child processes in /proc"
)


def embedded_aws_pid(serve_pid: int) -> int:
    """The pid of serve's child that runs ``python -m chatlib.local.moto_server``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # ended meanwhile
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == serve_pid and b"chatlib.local.moto_server" in command:
            return int(entry.name)
    raise AssertionError(f"serve (pid {serve_pid}) has no embedded AWS child")


def bound(sock: socket.socket, port: int) -> bool:
    """Bind ``sock`` to the loopback ``port`` once its old owner has let it go."""
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        return False
    return True


def hang_up_on_everyone(listening: socket.socket) -> None:
    while True:
        try:
            connection, _ = listening.accept()
        except OSError:  # closed: the test is over
            return
        connection.close()


def mint(environment, user: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "chatlib.tools", "token", "--user", user, "--room", "lobby"],
        capture_output=True, text=True, env=environment, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def whoami(ws) -> str:
    ws.send(json.dumps({"action": "whoami"}))
    return receive_json(ws)["connection"]["userId"]


def test_the_embedded_aws_killed_under_serve_comes_back_with_the_same_urls_and_tokens(tmp_path):
    with serving(tmp_path, "--step", "auth") as (process, environment):
        match, seen = read_until(process, r"WebSocket URL : (ws://127\.0\.0\.1:\d+/\w+/dev)")
        url = match.group(1)
        _, lines = read_until(process, r"Ctrl-C stops it")
        seen += lines
        state_file = tmp_path / "chatlib" / "local-stack.json"
        state = json.loads(state_file.read_text())
        token = mint(environment, "teacher")  # before the crash
        before = open_socket(url, query=f"roomId=lobby&token={token}")
        assert whoami(before) == "teacher"

        moto = embedded_aws_pid(process.pid)
        os.kill(moto, signal.SIGKILL)
        stopped = rf"the embedded AWS \(moto, pid {moto}\) has stopped \(killed by SIGKILL\)"
        _, lines = read_until(process, stopped)
        seen += lines
        back = (
            r"the chat is back \((\d+\.\d) s\), at the same addresses, tokens minted before "
            rf"still valid; 1 open connection\(s\) closed with {SERVICE_RESTART} to reconnect"
        )
        match, lines = read_until(process, back)
        seen += lines
        print(f"kill -> chat back: {match.group(1)} s")  # shown with pytest -s

        # the connection open before was closed with "Service Restart", so it reconnects
        opcode, data = before.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE
        assert int.from_bytes(data[:2], "big") == SERVICE_RESTART
        before.close()

        # the same URL and the token minted before the crash: a new client joins and chats
        after = open_socket(url, query=f"roomId=lobby&token={token}")
        assert whoami(after) == "teacher"
        after.send(json.dumps({"action": "sendmessage", "message": "back again"}))
        assert receive_json(after)["message"] == "back again"
        after.close()
        assert json.loads(state_file.read_text()) == state  # what other terminals read
        assert embedded_aws_pid(process.pid) != moto

        assert interrupted(process) == 0
        seen += process.stdout.readlines()
    assert "Traceback" not in "".join(seen)


def test_when_the_embedded_aws_cannot_start_again_serve_stops_with_one_line(tmp_path):
    with serving(tmp_path, "--step", "rooms", "--quiet") as (process, environment):
        match, seen = read_until(process, r"embedded AWS  : http://127\.0\.0\.1:(\d+)")
        port = int(match.group(1))
        _, lines = read_until(process, r"Ctrl-C stops it")
        seen += lines
        moto = embedded_aws_pid(process.pid)
        # serve is paused while moto ends and another program takes its port (one that hangs
        # up on every connection), so serve sees both at its next look
        process.send_signal(signal.SIGSTOP)
        with socket.socket() as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # despite TIME_WAIT
            try:
                os.kill(moto, signal.SIGKILL)
                wait_for(lambda: bound(squatter, port), timeout=20, interval=0.05)
            finally:
                process.send_signal(signal.SIGCONT)
            squatter.listen()
            threading.Thread(target=hang_up_on_everyone, args=(squatter,), daemon=True).start()
            status = process.wait(timeout=120)
        rest = process.stdout.readlines()
    printed = "".join(seen + rest)
    print(printed)  # shown with pytest -s
    assert status == EXIT_AWS_LOST, printed
    assert "Traceback" not in printed
    (line,) = [line for line in rest if line.startswith("chatlib-local serve:")]
    assert "the embedded AWS stopped and could not be started again" in line
    assert line.rstrip().endswith("; stopping")
    assert not (tmp_path / "chatlib" / "local-stack.json").exists()


class DyingStack:
    """A stack whose embedded AWS has always just been killed."""

    aws_endpoint_url = "http://127.0.0.1:4566"

    def __init__(self) -> None:
        self.restarted = 0

    def aws_exit_status(self) -> int:
        return -signal.SIGKILL

    def aws_pid(self) -> int:
        return 4242

    def restart_aws(self, redeploy):
        self.restarted += 1
        raise AssertionError("restarted beyond the limit")


def test_an_embedded_aws_that_keeps_dying_is_not_restarted_for_ever():
    """A machine that keeps ending moto (memory pressure) is told so, not fed restarts."""
    import time

    from chatlib.errors import AWSLost
    from chatlib.tools.supervision import RESTARTS_ALLOWED, Supervisor

    def never(*_):
        raise AssertionError("nothing is redeployed or published beyond the limit")

    stack, said = DyingStack(), []
    supervisor = Supervisor(
        stack, said.append, "rooms", redeploy=never, publish=never, announce=never
    )
    supervisor.restarts = [time.monotonic()] * RESTARTS_ALLOWED
    with pytest.raises(AWSLost) as lost:
        supervisor.check()
    assert str(lost.value).startswith("the embedded AWS stopped 4 times within 10 minutes")
    assert stack.restarted == 0
    (line,) = said
    assert "pid 4242) has stopped (killed by SIGKILL)" in line


ERRORS_SCRIPT = """
import logging, threading
from chatlib.tools.serve import _errors_in_one_line
_errors_in_one_line()
try:
    raise ConnectionRefusedError("[Errno 111] Connection refused")
except ConnectionRefusedError:
    logging.getLogger("websockets.server").error("process_request failed", exc_info=True)
def fail():
    raise RuntimeError("a worker thread failed")
worker = threading.Thread(target=fail, name="worker")
worker.start()
worker.join()
"""


def test_errors_from_other_libraries_and_threads_print_one_line_each():
    """What printed serve's tracebacks while the embedded AWS was gone: websockets' handshake
    errors (logged with the exception) and failures in threads."""
    done = subprocess.run(
        [sys.executable, "-c", ERRORS_SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    first, second = done.stderr.splitlines()
    assert first.endswith(
        "websockets.server: process_request failed "
        "(ConnectionRefusedError: [Errno 111] Connection refused)"
    )
    assert second.endswith("thread worker: RuntimeError: a worker thread failed")
