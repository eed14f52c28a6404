"""The embedded AWS: a moto server on a loopback port, and the environment that points boto3 at it.

``start_embedded_aws()`` is what a notebook's first cell calls. It is idempotent (re-running
the cell returns the running server), and it sets, for this process and the processes it
starts:

    AWS_ENDPOINT_URL        http://127.0.0.1:<port>   every boto3 client talks to moto
    AWS_ACCESS_KEY_ID       testing                   so no real credentials are ever sent
    AWS_SECRET_ACCESS_KEY   testing
    AWS_DEFAULT_REGION      us-east-1 (unless already set)

Real AWS is reached by the same code in a process where none of this was done. ``stop()``
shuts the server down and restores the variables it changed.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EmbeddedAWS", "running_embedded_aws", "start_embedded_aws"]

_lock = threading.Lock()
_running: EmbeddedAWS | None = None


@dataclass
class EmbeddedAWS:
    endpoint_url: str
    region: str
    _server: object = field(repr=False)
    _saved_environment: dict[str, str | None] = field(repr=False, default_factory=dict)

    def process(self) -> subprocess.Popen[bytes] | None:
        """moto's own process (``own_process=True``), or ``None`` when it runs as a thread
        of this one: what ``serve`` watches to notice the embedded AWS has died."""
        return self._server.process if isinstance(self._server, _MotoProcess) else None

    def stop(self) -> None:
        """Stop the server and put the environment back as it was."""
        global _running
        with _lock:
            self._server.stop()
            for name, value in self._saved_environment.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            if _running is self:
                _running = None


def running_embedded_aws() -> EmbeddedAWS | None:
    return _running


def _quiet_about_bridged_types(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("No Moto CloudFormation support for")


class _MotoProcess:
    """moto's own server (``moto.server``) in a child process: its work then never holds this
    process's GIL, which the gateway's event loop needs for every frame and post.

    Its stdin is a pipe this process never writes to: when this process ends, however it
    ends (SIGKILL, a closed terminal), the child sees the pipe end and exits
    (:func:`chatlib.local.moto_startup.exit_with_parent`), rather than keeping its memory
    and its port. moto itself is imported there only, not here."""

    def __init__(self, port: int) -> None:
        if port == 0:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
        self._port = port
        self._process = subprocess.Popen(
            [
                *(sys.executable, "-m", "chatlib.local.moto_server"),
                *("-H", "127.0.0.1", "-p", str(port), "--exit-with-stdin"),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto's server exited with {self._process.returncode}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self._port)) == 0:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("moto's server did not listen within 60 s")

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self._process

    def get_host_and_port(self) -> tuple[str, int]:
        return "127.0.0.1", self._port

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdin is not None:
            self._process.stdin.close()


def start_embedded_aws(
    *, port: int = 0, region: str | None = None, own_process: bool = False
) -> EmbeddedAWS:
    """Start moto on ``127.0.0.1:port`` (``0``: any free port) unless it already runs.

    ``own_process``: run it as a child process (what ``chatlib-local serve`` does, so that a
    busy chat and moto do not share an interpreter); by default it runs in a thread here.
    """
    global _running
    with _lock:
        if _running is not None:
            return _running
        # werkzeug logs every request to stderr unless told otherwise; that is noise here.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # moto's CloudFormation warns for each resource type it has no model for; the deploy
        # helper's bridge builds those (chatlib.local.moto_bridge), so the warning is noise.
        logging.getLogger("moto").addFilter(_quiet_about_bridged_types)
        warnings.filterwarnings("ignore", message="Tried to parse .* not supported by moto")
        warnings.filterwarnings("ignore", message="Unable to delete .* as it was never created")
        server: Any
        if own_process:
            server = _MotoProcess(port)  # patched in its own process (moto_server.main)
        else:
            from moto.server import ThreadedMotoServer  # imported late: only local runs need it

            from chatlib.local.moto_server import install as install_fast_reads

            install_fast_reads()  # moto's DynamoDB reads, with json.dumps (why: its module)
            # Its CloudFormation then finishes any change set with the bridge (why: its module).
            from chatlib.local.change_set_finisher import install as finish_change_sets

            finish_change_sets()
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        host, bound_port = server.get_host_and_port()
        endpoint_url = f"http://{host}:{bound_port}"
        region = region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        settings = {
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": region,
        }
        saved = {
            name: os.environ.get(name) for name in [*settings, "AWS_SESSION_TOKEN", "AWS_PROFILE"]
        }
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.pop("AWS_PROFILE", None)
        os.environ.update(settings)
        _running = EmbeddedAWS(endpoint_url, region, server, saved)
        return _running
