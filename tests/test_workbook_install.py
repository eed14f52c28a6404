"""What ``workbook.py`` installs: a learner gets the course and no test tooling, and a class on
venue Wi-Fi installs from a folder of wheels with the package index turned off."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_TOOLING = {"nbval", "playwright", "hypothesis", "ruff"}  # pytest is the course's (02)


def load_workbook():
    spec = importlib.util.spec_from_file_location("workbook_under_test", ROOT / "workbook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_stamp_says_which_extras_are_installed_for_which_pyproject(tmp_path, monkeypatch):
    workbook = load_workbook()
    monkeypatch.setattr(workbook, "STAMP", tmp_path / "stamp")
    assert workbook.installed_extras() is None  # nothing installed yet
    fingerprint = workbook._project_fingerprint()
    workbook.STAMP.write_text(f"{fingerprint}\n")
    assert workbook.installed_extras() == set()  # lab's install
    workbook.STAMP.write_text(f"{fingerprint}\ntest\n")
    assert workbook.installed_extras() == {"test"}
    workbook.STAMP.write_text("an older pyproject.toml\ntest\n")
    assert workbook.installed_extras() is None  # stale: install again


def copy_of_the_project(destination: Path) -> Path:
    """What a clone holds that an install reads: the project file, its readme, the code."""
    destination.mkdir()
    for name in ("pyproject.toml", "README.md", "workbook.py"):
        shutil.copy(ROOT / name, destination / name)
    shutil.copytree(ROOT / "chatlib", destination / "chatlib",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    return destination


def test_a_learner_installs_from_a_wheelhouse_offline_and_gets_no_test_tooling(tmp_path):
    """The instructor's ``wheelhouse`` (with the index), then a learner's ``lab --wheels``
    with every index unreachable: Lab's version prints, and the environment holds the course's
    packages and none of the test tooling."""
    project = copy_of_the_project(tmp_path / "workbook")
    wheels = tmp_path / "wheels"
    built = subprocess.run([sys.executable, "workbook.py", "wheelhouse", str(wheels)],
                           cwd=project, capture_output=True, text=True, timeout=900)  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    offline = {**os.environ, "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_NO_INDEX": "1"}
    offline.pop("PIP_FIND_LINKS", None)
    command = [sys.executable, "workbook.py", "lab", "--wheels", str(wheels), "--version"]
    lab = subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=900,
                         env=offline)  # fmt: skip
    assert lab.returncode == 0, lab.stdout[-2000:] + lab.stderr[-3000:]
    assert lab.stdout.strip().splitlines()[-1][0].isdigit()  # Lab's version
    python = project / ".venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=json"],
                            capture_output=True, text=True, check=True)  # fmt: skip
    installed = {package["name"].lower() for package in json.loads(listed.stdout)}
    course = {"chatlib", "jupyterlab", "moto", "boto3", "websocket-client", "pyjwt", "pytest"}
    assert course <= installed
    assert not installed & TEST_TOOLING, sorted(installed & TEST_TOOLING)


@pytest.mark.parametrize("argv", [["wheelhouse"], ["nothing"], ["lab", "--help"]])
def test_a_command_it_does_not_know_prints_the_usage(argv):
    done = subprocess.run([sys.executable, str(ROOT / "workbook.py"), *argv],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert "workbook.py" in done.stdout + done.stderr


def test_the_tests_run_on_exactly_the_locked_versions():
    """The lock is what CI installs and tests: every package of this environment, at the
    version ``[tool.workbook] lock`` names, and nothing the lock does not name."""
    from importlib import metadata

    from packaging.utils import canonicalize_name

    locked = {
        canonicalize_name(name): version
        for name, version in (pin.split("==") for pin in load_workbook().locked_versions())
    }
    installed = {
        canonicalize_name(dist.metadata["Name"]): dist.version
        for dist in metadata.distributions()
        if canonicalize_name(dist.metadata["Name"]) not in {"chatlib", "pip", "setuptools", "wheel"}
    }
    assert installed == locked
