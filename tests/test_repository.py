"""Guards on the repository itself: install paths agree, the README tells the truth, the
notebooks follow the course conventions (shared/reference/notebooks.md)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import pytest
import yaml
from notebook_files import NOTEBOOKS, ROOT, read, solution_codes, tagged
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

README = (ROOT / "README.md").read_text()


def pyproject_requirements() -> dict[str, tuple[SpecifierSet, frozenset[str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = list(project["dependencies"])
    for group in project.get("optional-dependencies", {}).values():
        listed += group
    found = {}
    for line in listed:
        requirement = Requirement(line)
        found[canonicalize_name(requirement.name)] = (
            requirement.specifier,
            frozenset(requirement.extras),
        )
    return found


def environment_requirements() -> dict[str, tuple[SpecifierSet, frozenset[str]]]:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    found = {}
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):  # the pip: section, PEP 508 lines
            for line in entry["pip"]:
                if line.startswith("-"):
                    continue  # pip options such as --editable .
                requirement = Requirement(line)
                found[canonicalize_name(requirement.name)] = (
                    requirement.specifier,
                    frozenset(requirement.extras),
                )
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", entry)
        name, spec = match.groups()
        if canonicalize_name(name) in {"python", "pip"}:
            continue
        found[canonicalize_name(name)] = (SpecifierSet(spec.replace(" ", "")), frozenset())
    return found


def test_environment_yml_and_pyproject_list_the_same_packages_and_ranges():
    assert environment_requirements() == pyproject_requirements()


def test_every_dependency_has_a_bounded_range():
    for name, (specifier, _) in pyproject_requirements().items():
        operators = {spec.operator for spec in specifier}
        assert ">=" in operators and "<" in operators, f"{name} needs a range like >=x,<y"


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_the_readme_quick_start_has_exactly_two_commands():
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)```", quick_start, re.S)
    assert [c.strip() for c in commands] == ["python3 workbook.py lab", "python3 workbook.py test"]


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert "python3 workbook.py test" in readme_commands()
    assert "python3 workbook.py test" in ci


def test_every_notebook_is_listed_in_the_readme_in_order():
    linked = re.findall(r"\]\(notebooks/([^)]+\.ipynb)\)", README)
    assert linked == [path.name for path in NOTEBOOKS]
    assert [path.name[:2] for path in NOTEBOOKS] == [f"{i:02d}" for i in range(len(NOTEBOOKS))]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_course_skeleton(path):
    notebook = read(path)
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    text = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    for heading in [
        "## Overview",
        "## Prerequisites",
        "**Time to learn:**",
        "## Summary",
        "## Exercise",
        "<summary>Solution</summary>",
        "## What's next",
    ]:
        assert heading in text, f"{path.name} lacks {heading!r}"
    assert "```mermaid" in text, f"{path.name} has no mermaid diagram"
    exercises = len(tagged(notebook, "exercise"))
    assert exercises >= 1
    assert len(tagged(notebook, "exercise-check")) == exercises == len(solution_codes(notebook))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_outputs_are_committed_without_stray_errors(path):
    notebook = read(path)
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code_cells), "execute and commit outputs"
    counts = [c.execution_count for c in code_cells]
    assert counts == list(range(1, len(counts) + 1)), "run top to bottom in a fresh kernel"
    for cell in code_cells:
        expects_error = "raises-exception" in cell.metadata.get("tags", [])
        errors = [o for o in cell.outputs if o.output_type == "error"]
        stderr = [o for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
        assert bool(errors) == expects_error, f"{path.name}: cell {cell.id} error output"
        assert not stderr, f"{path.name}: cell {cell.id} wrote to stderr"


def test_ruff_finds_nothing():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", str(ROOT)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_public_name_of_chatlib_resolves():
    import chatlib

    missing = [name for name in chatlib.__all__ if getattr(chatlib, name, None) is None]
    assert missing == []
