"""Where the course's notebooks are, how to read the parts the guard tests look at, and the
repository's scripts those tests load (the pace model, ``workbook.py``, the edition builder)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def tagged(notebook: nbformat.NotebookNode, tag: str) -> list[nbformat.NotebookNode]:
    return [cell for cell in notebook.cells if tag in cell.get("metadata", {}).get("tags", [])]


def solution_codes(notebook: nbformat.NotebookNode) -> list[str]:
    """The Python block of each ``<details><summary>Solution`` section, in order: one per
    exercise cell (tag ``exercise``), which its ``exercise-check`` cell checks."""
    solutions = []
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and "<summary>Solution</summary>" in cell.source:
            match = re.search(r"```python\n(.*?)```", cell.source, re.S)
            assert match, "a <details> Solution without a ```python block"
            solutions.append(match.group(1))
    return solutions


def script(relative: str) -> ModuleType:
    """A script of the repository that is not a package (``benchmarks/learner_pace.py``,
    ``workbook.py``, ``notebooks/ja/edition.py``), imported by its path once, under its file
    name, and shared by every test that reads it."""
    name = Path(relative).stem
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, ROOT / relative)
        module = sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def core_path(path: Path) -> nbformat.NotebookNode:
    """The notebook as a 3-hour workshop runs it: its *(optional)* sections left out, by the
    pace model's own rule (the path timed is the path run)."""
    notebook = read(path)
    parts = script("benchmarks/learner_pace.py").sections(notebook)
    notebook.cells = [
        cell for cell, part in zip(notebook.cells, parts, strict=True) if part == "core"
    ]
    return notebook
