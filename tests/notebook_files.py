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


def solution_code(notebook: nbformat.NotebookNode) -> str:
    """The Python block inside the notebook's ``<details><summary>Solution`` section."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and "<summary>Solution</summary>" in cell.source:
            match = re.search(r"```python\n(.*?)```", cell.source, re.S)
            if match:
                return match.group(1)
    raise AssertionError("no ```python block in a <details> Solution")
