"""Where the course's notebooks are, and how to read the parts the guard tests look at."""

from __future__ import annotations

import re
from pathlib import Path

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
