"""What ``chatlib-local serve`` leaves for the other commands, and how they find it.

``serve`` writes a state file (URLs, the embedded AWS's endpoint and region, the table, its
pid) that ``chat``, ``rooms``, ``token`` and ``logs`` read; it keeps the local signing secret
beside it, so tokens minted before a restart still verify after it. Both live in
``$XDG_CACHE_HOME/chatlib/`` (``~/.cache/chatlib/``).

Every command that needs a running stack asks :func:`running_stack`, which raises
:class:`~chatlib.errors.CommandError` with the line to print when none runs (never started,
or stopped without cleaning up: a killed ``serve`` leaves its file, so its pid is checked).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from pathlib import Path
from typing import Any

from chatlib.errors import CommandError

__all__ = [
    "chatlib_local_command",
    "local_signing_secret",
    "read_serve_state",
    "running_stack",
    "state_directory",
]

#: Local credentials: the embedded AWS accepts any.
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def state_directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "chatlib"


def state_file() -> Path:
    """Where ``serve`` tells ``chat``, ``rooms``, ``token`` and ``logs`` about its stack."""
    return state_directory() / "local-stack.json"


def read_serve_state() -> dict[str, Any] | None:
    """What the running ``serve`` wrote, or ``None`` when nothing readable was written."""
    try:
        state = json.loads(state_file().read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def running_stack() -> dict[str, Any]:
    """The running ``serve``'s state, or :class:`CommandError` saying what to do."""
    state = read_serve_state()
    if state is None:
        raise CommandError(f"no local stack is running: start `{serve_hint()}` first")
    if not _alive(state.get("pid")):
        raise CommandError(
            f"the local stack has stopped (serve, pid {state.get('pid')}, is gone): "
            f"start `{serve_hint()}` again"
        )
    return state


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def write_serve_state(state: dict[str, Any]) -> Path:
    path = state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state))
    return path


def forget_serve_state(pid: int) -> None:
    """Remove the state file if this ``serve`` (``pid``) wrote it."""
    if (read_serve_state() or {}).get("pid") == pid:
        try:
            state_file().unlink()
        except OSError:
            pass


def local_signing_secret(path: Path | None = None) -> str:
    """The local stack's token-signing secret: read from ``path`` (default: beside the state
    file), created there (owner-only) on first use. It never leaves this machine."""
    path = path or state_directory() / "signing-secret"
    try:
        secret = path.read_text().strip()
    except FileNotFoundError:
        secret = ""
    if secret:
        if len(secret) < 32:
            raise CommandError(f"the signing secret in {path} is shorter than 32 characters")
        return secret
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secret + "\n")
    return secret


def chatlib_local_command() -> str:
    """``chatlib-local`` as a command that runs as printed, venv activated or not: the
    script's absolute path beside this Python, else ``<python> -m chatlib.tools``."""
    scripts = Path(sys.executable).parent
    for name in ("chatlib-local", "chatlib-local.exe"):
        if (scripts / name).exists():
            return str(scripts / name)
    found = shutil.which("chatlib-local")
    return found or f"{sys.executable} -m chatlib.tools"


def serve_hint() -> str:
    return f"{chatlib_local_command()} serve"


def wsdump_command() -> str | None:
    """websocket-client's ``wsdump`` beside this Python, if installed."""
    candidate = Path(sys.executable).parent / "wsdump"
    return str(candidate) if candidate.exists() else shutil.which("wsdump")
