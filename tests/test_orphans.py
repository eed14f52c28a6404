"""The embedded AWS ``serve`` starts in its own process ends with ``serve``, however ``serve``
ends.

Killed with SIGKILL, or with its terminal closed, ``serve`` had no chance to stop moto, which
then kept about 260 MiB and its port until someone found it in ``ps``. moto now reads a pipe
from ``serve`` on its stdin and exits when that pipe ends (:mod:`chatlib.local.moto_startup`).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from gateway_helpers import wait_for
from test_cli import read_until, serving
from test_serve_supervision import bound, embedded_aws_pid


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def running(pid: int) -> bool:
    """Not ended (a zombie nobody has reaped yet has ended: it holds no memory, no port)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_moto_exits_when_the_pipe_from_its_parent_ends():
    """What happens on every platform when the parent dies: its end of the pipe closes."""
    port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "chatlib.local.moto_server", "-p", str(port), "--exit-with-stdin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: listening(port), timeout=60, interval=0.05)
        moto.stdin.close()  # as the system does for a parent that is gone
        assert moto.wait(timeout=10) == 0
        assert not listening(port)
    finally:
        if moto.poll() is None:
            moto.kill()


def test_without_the_option_moto_ignores_its_stdin():
    """Run by hand (``python -m chatlib.local.moto_server``), stdin is nobody's signal."""
    port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "chatlib.local.moto_server", "-p", str(port)],
        stdin=subprocess.DEVNULL,  # at its end at once
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: listening(port), timeout=60, interval=0.05)
        assert moto.poll() is None
    finally:
        moto.terminate()
        moto.wait(timeout=10)


@pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="finds serve's child processes in /proc"
)
def test_the_embedded_aws_ends_when_serve_is_killed(tmp_path):
    with serving(tmp_path, "--step", "rooms", "--quiet") as (process, _):
        match, _ = read_until(process, r"embedded AWS  : http://127\.0\.0\.1:(\d+)")
        port = int(match.group(1))
        read_until(process, r"Ctrl-C stops it")
        moto = embedded_aws_pid(process.pid)
        assert listening(port)
        process.send_signal(signal.SIGKILL)  # no handler, no shutdown: the process is gone
        process.wait(timeout=10)
    # the group leader shows as a zombie while its other threads are still being ended,
    # so the port is looked at too
    wait_for(lambda: not running(moto) and not listening(port), timeout=10, interval=0.05)
    with socket.socket() as successor:  # a new server can take the port (as servers do,
        successor.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # despite TIME_WAIT)
        assert bound(successor, port)
