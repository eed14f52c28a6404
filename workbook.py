#!/usr/bin/env python3
"""Set up and run the workbook with nothing but Python 3.11 and pip.

    python3 workbook.py lab     # open the notebooks in JupyterLab
    python3 workbook.py lab --lang ja   # 日本語版: open the Japanese edition's first notebook
    python3 workbook.py test    # run the whole test suite (unit tests and every notebook)

Both create ``.venv/`` beside this file on first use and install the project into it
(``pip install -e .[test]``). The install is redone only when ``pyproject.toml`` changes,
so later runs start at once. Extra arguments go to JupyterLab or pytest unchanged.

``test`` also keeps checkov, the template linter the tests run, in an environment of its own
(``.venv/checkov/``): checkov pins an old boto3, which must not become the workbook's.

Standard library only: this file runs before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".workbook-installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
#: What ``lab`` opens, relative to the repository (Lab's root), by ``--lang``.
FIRST_NOTEBOOKS = {
    "en": "notebooks/00_overview_and_setup.ipynb",
    "ja": "notebooks/ja/00_overview_and_setup.ipynb",
}


def _project_fingerprint() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_environment() -> Path:
    """Create the virtual environment and install the project when it is missing or stale."""
    python = BIN / ("python.exe" if os.name == "nt" else "python")
    if not python.exists():
        print(f"workbook: creating a virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    fingerprint = _project_fingerprint()
    if not STAMP.exists() or STAMP.read_text() != fingerprint:
        print("workbook: installing the workbook and its dependencies (first run only)", flush=True)
        pip = [str(python), "-m", "pip", "--disable-pip-version-check"]
        subprocess.run([*pip, "install", "--quiet", "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "install", "--quiet", "-e", f"{ROOT}[test]"], check=True)
        STAMP.write_text(fingerprint)
    return python


#: The template review tool, kept apart: it pins boto3 and packaging to old versions.
CHECKOV = "checkov>=3.2,<4"
CHECKOV_VENV = VENV / "checkov"


def ensure_checkov() -> None:
    """Install checkov into ``.venv/checkov/`` once; the tests call its ``checkov`` command."""
    stamp = CHECKOV_VENV / ".workbook-installed"
    if stamp.exists() and stamp.read_text() == CHECKOV:
        return
    print("workbook: installing checkov in an environment of its own (first run only)", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(CHECKOV_VENV)
    python = CHECKOV_VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    pip = [str(python), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--quiet", CHECKOV], check=True)
    stamp.write_text(CHECKOV)


def pop_language(extra: list[str]) -> tuple[str, list[str]]:
    """Take ``--lang ja`` (or ``--lang=ja``) out of Lab's arguments: it is the workbook's own."""
    parser = argparse.ArgumentParser(prog="workbook.py lab", add_help=False, allow_abbrev=False)
    parser.add_argument("--lang", choices=list(FIRST_NOTEBOOKS), default="en")
    known, rest = parser.parse_known_args(extra)
    return known.lang, rest


def lab_command(python: Path, *, is_root: bool, language: str = "en") -> list[str]:
    """JupyterLab with the repository as its root (so ``infra_cfn/``, ``docs/`` and ``chatlib/``
    open from Lab too), showing the first notebook of the chosen edition. Jupyter refuses to run
    as root unless told; containers, cloud machines and many lab machines run as root, so tell
    it, and say so."""
    args = [str(python), "-m", "jupyter", "lab", f"--ServerApp.root_dir={ROOT}"]
    if is_root:
        print("workbook: running as root, so JupyterLab is started with --allow-root", flush=True)
        args.append("--allow-root")
    return [*args, FIRST_NOTEBOOKS[language]]


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"lab", "test"}:
        print(__doc__)
        return 2
    command, extra = argv[0], argv[1:]
    if command == "lab":
        language, extra = pop_language(extra)
    python = ensure_environment()
    os.chdir(ROOT)
    if command == "lab":
        is_root = hasattr(os, "geteuid") and os.geteuid() == 0
        args = lab_command(python, is_root=is_root, language=language)
    else:
        ensure_checkov()
        args = [str(python), "-m", "pytest"]
    return subprocess.call([*args, *extra])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
