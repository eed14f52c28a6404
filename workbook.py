#!/usr/bin/env python3
"""Set up and run the workbook with nothing but Python 3.11 and pip.

    python3 workbook.py lab     # open the notebooks in JupyterLab
    python3 workbook.py lab --lang ja   # 日本語版: open the Japanese edition's first notebook
    python3 workbook.py test    # run the whole test suite (unit tests and every notebook)
    python3 workbook.py wheelhouse DIR      # download every wheel the course needs into DIR
    python3 workbook.py lab --wheels DIR    # install from DIR only: no network needed
    python3 workbook.py lock    # after a green test run: pin what .venv holds as the lock
    python3 workbook.py catch-up 04         # fell behind? what notebook 04 needs, made ready

Both create ``.venv/`` beside this file on first use and install the project into it: ``lab``
only what the course uses (``pip install -e .``), ``test`` the test tooling too (``.[test]``:
nbval, Playwright, hypothesis…), which no learner needs. The install is redone only
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

``catch-up NN`` is for a learner who fell behind: it sets up the environment as ``lab`` does,
checks that every package notebook NN imports is installed, and says what NN needs from
earlier notebooks. Today that is nothing: each notebook starts its own embedded AWS, and the
files it runs (your modules, the reference solutions of its scaffolds) it writes itself into a
temporary folder of its own (``scratch``), so catch-up writes no file and can overwrite none.
``tests/test_catch_up.py`` keeps that claim true: a notebook that starts to read what another
wrote fails it, and catch-up must then learn to write that file.

``lab`` has Jupyter shut down a kernel left idle for 30 minutes (``KERNEL_CULLING``): each
finished notebook's kernel keeps 230-450 MiB, and a long day opens eight.

``test`` also keeps checkov, the template linter the tests run, in an environment of its own
(``.venv/checkov/``): checkov pins an old boto3, which must not become the workbook's.

Standard library only: this file runs before anything is installed.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
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


#: Lab shuts down a kernel left idle this long, open tab or not. Each notebook's kernel keeps
#: 230-450 MiB after its clean-up cell (docs/instructor-guide.md, "A long day"), so a day of
#: eight notebooks would otherwise hold 2.5 GiB; no notebook is left idle this long while it is
#: being worked through, and any notebook runs again from the top in seconds. Lab's own option
#: on the command line wins (``--MappingKernelManager.cull_idle_timeout=0``: never).
KERNEL_CULLING = {
    "--MappingKernelManager.cull_idle_timeout": "1800",
    "--MappingKernelManager.cull_connected": "True",  # a tab left open still counts as idle
    "--MappingKernelManager.cull_interval": "60",
}


def lab_command(
    python: Path, *, is_root: bool, language: str = "en", extra: list[str] | None = None
) -> list[str]:
    """JupyterLab with the repository as its root (so ``infra_cfn/``, ``docs/`` and ``chatlib/``
    open from Lab too), showing the first notebook of the chosen edition, and shutting down
    idle kernels (``KERNEL_CULLING``, unless ``extra``, Lab's own arguments, sets an option of
    it: Jupyter refuses an option given twice). Jupyter refuses to run as root unless told;
    containers, cloud machines and many lab machines run as root, so tell it, and say so."""
    given = {argument.split("=", 1)[0] for argument in extra or []}
    culling = [f"{name}={value}" for name, value in KERNEL_CULLING.items() if name not in given]
    args = [str(python), "-m", "jupyter", "lab", f"--ServerApp.root_dir={ROOT}", *culling]
    if is_root:
        print("workbook: running as root, so JupyterLab is started with --allow-root", flush=True)
        args.append("--allow-root")
    return [*args, FIRST_NOTEBOOKS[language]]


#: A module a notebook keeps in the folder it makes itself (``scratch``): written there by a
#: ``%%writefile`` cell, or by a check (``minimal_chat.py``), and named by the code either way.
_SCRATCH = re.compile(r"""(?:\{scratch\}/|scratch\) / ")(\w+)\.py""")
#: A cell that checks a scaffold and, while it is unfinished, goes on with the reference.
_FALLBACK = re.compile(r"course\.nb\d\d\.use_\w+\(")
_HEADING = re.compile(r"^#{1,6} (.*)$", re.M)
#: How a heading marks a section a workshop skips.
_OPTIONAL = re.compile(r"\(optional\)\*?$")


def notebook_path(number: str, language: str = "en") -> Path:
    """``notebooks/NN_*.ipynb`` (``notebooks/ja/`` for ``ja``); ``SystemExit`` if none."""
    folder = ROOT / Path(FIRST_NOTEBOOKS[language]).parent
    found = sorted(folder.glob(f"{number}_*.ipynb")) if re.fullmatch(r"\d\d", number) else []
    if not found:
        known = ", ".join(path.name[:2] for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")))
        raise SystemExit(f"workbook: no notebook {number!r}; the notebooks are {known}")
    return found[0]


def notebook_imports(notebook: dict) -> dict[str, str]:
    """The top-level packages a notebook's code imports (in the kernel, and in the modules it
    writes with ``%%writefile``), less the modules it keeps in ``scratch`` and the standard
    library: each with the heading of the section that first imports it."""
    written: set[str] = set()
    modules: dict[str, str] = {}
    heading = ""
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            heading = ([heading, *_HEADING.findall(source)])[-1]
            continue
        if cell["cell_type"] != "code":
            continue
        written |= set(_SCRATCH.findall(source))
        python = "\n".join(
            "" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()
        )
        for node in ast.walk(ast.parse(python)):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                modules.setdefault(name.split(".")[0], heading)
    return {
        name: where
        for name, where in modules.items()
        if name not in written and name not in sys.stdlib_module_names
    }


def missing_modules(python: Path, modules: set[str]) -> list[str]:
    """Those of ``modules`` that ``python`` cannot import (found, not imported: no side
    effects)."""
    probe = (
        "import importlib.util, sys\n"
        "print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))"
    )
    found = subprocess.run(
        [str(python), "-c", probe, *sorted(modules)], capture_output=True, text=True, check=True
    )
    return found.stdout.split()


def catch_up(number: str, python: Path, language: str = "en") -> int:
    """Say what notebook ``number`` needs, after checking that what it imports is installed.

    No notebook needs anything from an earlier one (the module docstring says why), so there
    is no file to write; were there one, this is where it would be written."""
    path = notebook_path(number, language)
    notebook = json.loads(path.read_text(encoding="utf-8"))
    modules = notebook_imports(notebook)
    missing = missing_modules(python, set(modules))
    for name in missing:
        print(f"workbook: {number} imports {name} (in '{modules[name]}'), which {VENV} lacks")
    if any(not _OPTIONAL.search(modules[name]) for name in missing):
        print("workbook: run python3 workbook.py lab (it installs the course's packages) and retry")
        return 1
    if missing:
        print("workbook: only optional sections import it: they fail until it is installed")
    relative = path.relative_to(ROOT).as_posix()
    print(f"{number} needs nothing from earlier notebooks: open {relative} and run it from the top")
    print("  (Run > Run All Cells). It starts its own embedded AWS and writes what it runs into")
    print("  a new temporary folder of its own, so nothing of an earlier notebook is missing.")
    print(f"  Installed: the {len(modules)} packages it imports ({', '.join(sorted(modules))}).")
    headings: list[str] = []
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            headings += _HEADING.findall(source)
        elif _FALLBACK.search(source) and headings:
            print(
                f"  In '{headings[-1]}', a scaffold left unfinished (its TODO lines still there) "
                "is replaced by the reference solution when its check cell runs: run on."
            )
    print(
        "  Shut down the kernels of the notebooks you have left (Lab: Kernel > Shut Down All "
        "Kernels, then open this one): each keeps 230-450 MiB."
    )
    return 0


def main(argv: list[str]) -> int:
    commands = {"lab", "test", "wheelhouse", "lock", "catch-up"}
    if not argv or argv[0] not in commands or argv[1:2] == ["--help"]:
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
    if command == "catch-up":
        language, extra = pop_language(extra)
        if len(extra) != 1:
            print(
                "workbook.py catch-up NN [--lang ja]   (NN: the notebook, 00 to 08)",
                file=sys.stderr,
            )
            return 2
        number = extra[0].zfill(2)  # "4" is 04
        notebook_path(number, language)  # an unknown notebook is refused before installing
        return catch_up(number, ensure_environment(()), language)
    wheels = None
    if command == "lab":
        language, extra = pop_language(extra)
        wheels, extra = pop_wheels(extra)
    python = ensure_environment(() if command == "lab" else ("test",), wheels)
    os.chdir(ROOT)
    if command == "lab":
        is_root = hasattr(os, "geteuid") and os.geteuid() == 0
        args = lab_command(python, is_root=is_root, language=language, extra=extra)
    else:
        ensure_checkov()
        args = [str(python), "-m", "pytest"]
    return subprocess.call([*args, *extra])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
