"""Each notebook's exercise is checkable: with the published solution, the check says Correct."""

from __future__ import annotations

import pytest
from nbclient import NotebookClient
from notebook_files import NOTEBOOKS, ROOT, read, solution_code, tagged


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_solution_passes_the_check(path):
    notebook = read(path)
    (exercise,) = tagged(notebook, "exercise")
    exercise.source = solution_code(notebook)
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": ROOT}}
    ).execute()
    (check,) = tagged(notebook, "exercise-check")
    printed = "".join(o.get("text", "") for o in check.outputs if o.output_type == "stream")
    assert printed.startswith("Correct"), printed


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_an_unanswered_exercise_says_so(path):
    (check,) = tagged(read(path), "exercise-check")
    printed = "".join(o.get("text", "") for o in check.outputs if o.output_type == "stream")
    assert printed.startswith("Not answered yet"), printed
