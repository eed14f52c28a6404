"""The instructor's terminal command, run as a person would run it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest
from gateway_helpers import open_socket, receive_json, refused_status


def read_until(process, pattern, timeout=60):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match, seen
    raise AssertionError(f"{pattern!r} never printed; got:\n{''.join(seen)}")


@contextlib.contextmanager
def serving(tmp_path, *options):
    """Run ``chatlib-local serve`` as a person would, with its state file under ``tmp_path``;
    yield the process and the environment a second terminal would share with it. The process
    is killed on the way out if the test did not stop it."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment["XDG_CACHE_HOME"] = str(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "chatlib.tools", "serve", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
    )
    try:
        yield process, environment
    finally:
        if process.poll() is None:
            process.kill()


def interrupted(process) -> int:
    """Ctrl-C ``serve`` and return its exit status; if it does not stop, fail with its output
    (``serve`` prints every thread's traceback when a shutdown takes over 30 s)."""
    process.send_signal(signal.SIGINT)
    try:
        status = process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        status = None
    if status != 0:
        raise AssertionError(f"serve ended with {status}; its output:\n{process.stdout.read()}")
    return status


def test_serve_prints_urls_logs_each_connection_and_message_and_stops_cleanly(tmp_path):
    with serving(tmp_path, "--step", "rooms") as (process, environment):
        match, _ = read_until(process, r"WebSocket URL : (ws://127\.0\.0\.1:\d+/\w+/dev)")
        url = match.group(1)
        read_until(process, r"@connections  : http://127\.0\.0\.1:\d+/\w+/dev")
        ws = open_socket(url, query="roomId=lobby&userId=teacher")
        read_until(process, r"open +\S+ from 127\.0\.0\.1 \?roomId=lobby&userId=teacher")
        ws.send(json.dumps({"action": "sendmessage", "message": "good morning"}))
        assert receive_json(ws)["message"] == "good morning"
        read_until(
            process, r"message +\S+ sendmessage -> 200 delivered: recipients 1, delivered 1, gone 0"
        )
        ws.send("{not json")
        assert receive_json(ws)["message"].startswith("the frame is not valid JSON")
        read_until(process, r"message +\S+ \$default -> 400 refused")
        ws.close()
        read_until(process, r"close +\S+ 1000")
        # the terminal chat finds the running stack by itself
        student = pexpect.spawn(
            sys.executable,
            ["-m", "chatlib.tools", "chat", "--room", "lobby", "--user", "student"],
            env=environment,
            encoding="utf-8",
            timeout=20,
        )
        student.expect("connected to room 'lobby' as 'student'")
        student.sendline("hello from the terminal")
        student.expect(r"\[lobby\] student: hello from the terminal")
        student.sendeof()
        student.expect(pexpect.EOF)
        assert interrupted(process) == 0
        assert not (tmp_path / "chatlib" / "local-stack.json").exists()


def test_the_rooms_view_follows_people_joining_and_leaving(tmp_path):
    with serving(tmp_path, "--quiet") as (process, environment):
        match, _ = read_until(process, r"WebSocket URL : (ws://\S+)")
        url = match.group(1)
        view = pexpect.spawn(
            sys.executable,
            ["-m", "chatlib.tools", "rooms", "--interval", "0.2"],
            env=environment,
            encoding="utf-8",
            timeout=20,
        )
        view.expect("no one is connected")
        alice = open_socket(url, query="roomId=blue&userId=alice")
        bob = open_socket(url, query="roomId=blue&userId=bob")
        carol = open_socket(url, query="roomId=green&userId=carol")
        view.expect(r"blue +\(2\) +alice, bob\s+green +\(1\) +carol\s+3 connections in 2 rooms")
        carol.close()
        view.expect(r"blue +\(2\) +alice, bob\s+2 connections in 1 rooms")
        view.sendintr()
        view.expect(pexpect.EOF)
        alice.close()
        bob.close()
        assert interrupted(process) == 0


def test_serve_auth_step_and_a_token_minted_in_another_terminal(tmp_path):
    with serving(tmp_path, "--step", "auth", "--quiet") as (process, environment):
        match, _ = read_until(process, r"WebSocket URL : (ws://\S+)")
        url = match.group(1)
        read_until(process, r"tokens +: /\S+/chatlib-local token --user you --room lobby")
        assert refused_status(url, query="roomId=lobby&userId=teacher") == 401
        minted = subprocess.run(
            [sys.executable, "-m", "chatlib.tools", "token", "--stack", "chat", "--user", "teacher",
             "--room", "lobby"],
            capture_output=True, text=True, env=environment, timeout=60,
        )  # fmt: skip
        assert minted.returncode == 0, minted.stderr
        ws = open_socket(url, query=f"roomId=lobby&token={minted.stdout.strip()}")
        ws.send(json.dumps({"action": "whoami"}))
        assert receive_json(ws)["connection"]["userId"] == "teacher"
        ws.close()
        assert interrupted(process) == 0


def test_a_stop_signal_handled_in_the_middle_of_the_wait_ends_it(monkeypatch):
    """Python runs a signal handler in the main thread at any point of its wait, so the handler
    must not need anything the wait holds. (A ``threading.Event`` did: its ``set`` waits for the
    lock its ``wait`` holds, and one ``serve`` in CI never stopped.) Here the handler runs inside
    the wait's own sleep, as a signal would, on the same thread."""
    from chatlib.tools import supervision

    stop = supervision.StopRequest(poll_seconds=0.01)
    naps = []

    def sleep_and_be_signalled(seconds):
        naps.append(seconds)
        if len(naps) == 3:
            stop.handle(signal.SIGTERM, None)

    monkeypatch.setattr(supervision.time, "sleep", sleep_and_be_signalled)
    assert stop.wait() == signal.SIGTERM
    assert naps == [0.01, 0.01, 0.01]


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="reads /proc (Linux)")
def test_serve_raises_its_open_file_limit_so_a_room_of_a_thousand_can_connect(tmp_path):
    """Started from a terminal whose soft limit is 256 open files (macOS's default), serve
    raises its own towards the hard limit: each WebSocket is a descriptor, and past the limit
    handshakes time out with nothing said."""
    import resource

    def low_limit():
        resource.setrlimit(
            resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
        )

    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment["XDG_CACHE_HOME"] = str(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "chatlib.tools", "serve", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment,
        preexec_fn=low_limit,
    )  # fmt: skip
    try:
        read_until(process, r"WebSocket URL : ws://")
        limits = Path(f"/proc/{process.pid}/limits").read_text()
        soft = int(re.search(r"Max open files\s+(\d+)", limits).group(1))
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        assert soft == min(hard, 65536) and soft > 256
        assert interrupted(process) == 0
    finally:
        if process.poll() is None:
            process.kill()
