#!/usr/bin/env python3
"""Set up and run the workbook with nothing but Python 3.11 and pip.

    python3 workbook.py lab     # open the notebooks in JupyterLab
    python3 workbook.py lab --lang ja   # 日本語版: open the Japanese edition's first notebook
    python3 workbook.py test    # run the whole test suite (unit tests and every notebook)
    python3 workbook.py wheelhouse DIR      # download every wheel the course needs into DIR
    python3 workbook.py lab --wheels DIR    # install from DIR only: no network needed
    python3 workbook.py lock    # after a green test run: pin what .venv holds as the lock

Both create ``.venv/`` beside this file on first use and install the project into it: ``lab``
only what the course uses (``pip install -e .``), ``test`` the test tooling too (``.[test]``:
pytest, nbval, Playwright, hypothesis…), which no learner needs. The install is redone only
when ``pyproject.toml`` changes or a command needs more than is installed, so later runs start
at once. Extra arguments go to JupyterLab or pytest unchanged.

Every install is constrained by the lock, ``[tool.workbook] lock`` in ``pyproject.toml``: the
exact versions the test suite last passed with (``lock`` writes it from ``.venv``), so a class
installs what CI tested, not whatever was released the night before (``chatlib.local`` patches
moto's internals, which a new moto may change).

``wheelhouse`` is for a class on venue Wi-Fi: the instructor downloads once, on a machine like
the learners' (wheels are for the platform and Python that download them; further arguments go
to ``pip download``), and hands the folder round on a USB stick; ``lab --wheels DIR`` then
installs with the package index turned off.

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
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
#: Where the environment lives; WORKBOOK_VENV names another (CI keeps one per Python).
VENV = Path(os.environ.get("WORKBOOK_VENV") or ROOT / ".venv")
STAMP = VENV / ".workbook-installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
#: What ``lab`` opens, relative to the repository (Lab's root), by ``--lang``.
FIRST_NOTEBOOKS = {
    "en": "notebooks/00_overview_and_setup.ipynb",
    "ja": "notebooks/ja/00_overview_and_setup.ipynb",
}


def _project_fingerprint() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def locked_versions() -> list[str]:
    """The lock: one ``name==version`` a package."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return project.get("tool", {}).get("workbook", {}).get("lock", [])


def constraints_file() -> Path:
    """The lock as a pip constraints file (pip reads no TOML)."""
    path = VENV / "constraints.txt"
    path.write_text("".join(f"{line}\n" for line in locked_versions()))
    return path


def write_lock(python: Path) -> int:
    """Replace the lock with what ``.venv`` holds (run after a green ``workbook.py test``)."""
    frozen = subprocess.run(
        [str(python), "-m", "pip", "freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    pins = sorted(
        (line for line in frozen if "==" in line and not line.startswith(("-", "#"))), key=str.lower
    )
    pyproject = ROOT / "pyproject.toml"
    text = pyproject.read_text()
    block = "lock = [\n" + "".join(f'    "{pin}",\n' for pin in pins) + "]"
    start = text.index("lock = [", text.index("[tool.workbook]"))
    end = text.index("]", start) + 1
    extras = installed_extras() or set()
    pyproject.write_text(text[:start] + block + text[end:])
    # .venv holds exactly the new lock: keep it installed rather than install it again
    STAMP.write_text("\n".join([_project_fingerprint(), *sorted(extras)]) + "\n")
    print(f"workbook: locked {len(pins)} packages in pyproject.toml [tool.workbook]")
    return 0


def installed_extras() -> set[str] | None:
    """The extras installed for the current ``pyproject.toml``, or ``None`` when the install
    is missing or stale. The stamp holds the fingerprint, then one extra a line."""
    try:
        fingerprint, *extras = STAMP.read_text().splitlines()
    except OSError:
        return None
    return set(extras) if fingerprint == _project_fingerprint() else None


def ensure_environment(extras: tuple[str, ...] = (), wheels: Path | None = None) -> Path:
    """Create the virtual environment and install the project (with ``extras``) when it is
    missing, stale, or lacks an extra; from the folder ``wheels`` alone when one is given."""
    python = BIN / ("python.exe" if os.name == "nt" else "python")
    if not python.exists():
        print(f"workbook: creating a virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    have = installed_extras()
    if have is None or not set(extras) <= have:
        wanted = sorted(set(extras) | (have or set()))
        print("workbook: installing the workbook and its dependencies (first run only)", flush=True)
        pip = [str(python), "-m", "pip", "--disable-pip-version-check"]
        source = ["--no-index", "--find-links", str(wheels)] if wheels else []
        subprocess.run([*pip, "install", "--quiet", *source, "--upgrade", "pip"], check=True)
        target = f"{ROOT}[{','.join(wanted)}]" if wanted else str(ROOT)
        locked = ["--constraint", str(constraints_file())]
        subprocess.run([*pip, "install", "--quiet", *source, *locked, "-e", target], check=True)
        STAMP.write_text("\n".join([_project_fingerprint(), *wanted]) + "\n")
    return python


def build_wheelhouse(folder: Path, pip_options: list[str]) -> int:
    """Download into ``folder`` every wheel ``lab`` installs, plus pip and the build backend
    (an editable install builds the project itself, offline too)."""
    folder.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "download", "--quiet"]
    backend = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    VENV.mkdir(exist_ok=True)
    locked = ["--constraint", str(constraints_file())]
    for requirements in (["pip", *backend], [str(ROOT)]):
        subprocess.run(
            [*pip, "--dest", str(folder), *locked, *pip_options, *requirements], check=True
        )
    wheels = sorted(folder.iterdir())
    size = sum(path.stat().st_size for path in wheels) / 2**20
    print(
        f"workbook: {len(wheels)} files, {size:.0f} MiB in {folder}; "
        f"learners run: python3 workbook.py lab --wheels {folder}"
    )
    return 0


def pop_wheels(extra: list[str]) -> tuple[Path | None, list[str]]:
    """Take ``--wheels DIR`` out of Lab's arguments: it is the workbook's own."""
    parser = argparse.ArgumentParser(prog="workbook.py lab", add_help=False, allow_abbrev=False)
    parser.add_argument("--wheels", type=Path, default=None)
    known, rest = parser.parse_known_args(extra)
    return known.wheels, rest


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
    if not argv or argv[0] not in {"lab", "test", "wheelhouse", "lock"} or argv[1:2] == ["--help"]:
        print(__doc__)
        return 2
    command, extra = argv[0], argv[1:]
    if command == "wheelhouse":
        if not extra:
            print("workbook.py wheelhouse DIR [pip download options]", file=sys.stderr)
            return 2
        return build_wheelhouse(Path(extra[0]).resolve(), extra[1:])
    if command == "lock":
        return write_lock(ensure_environment(("test",)))
    wheels = None
    if command == "lab":
        language, extra = pop_language(extra)
        wheels, extra = pop_wheels(extra)
    python = ensure_environment(() if command == "lab" else ("test",), wheels)
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
