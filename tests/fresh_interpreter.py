"""Run a script in a clean interpreter: for what chatlib does to moto at start-up, which one
test process can do only once."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run_fresh(tmp_path, script: str) -> subprocess.CompletedProcess:
    """``script`` (dedented) from a file, so that the functions it defines have a source for a
    fingerprint, in a new interpreter where nothing of chatlib's has been installed yet."""
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(script))
    return subprocess.run(
        [sys.executable, str(path)],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
