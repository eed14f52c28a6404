"""Each notebook's exercises are checkable, and their checks can fail.

With the published solutions in place, every check says "Correct"; then, in the same kernel,
each exercise that carries a ``wrong_answer`` in its cell metadata (a plausible mistake, kept
out of the learner's view) is run with it, and its check must not say "Correct". An untouched
notebook's checks say "Not answered yet".
"""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient
from notebook_files import NOTEBOOKS, ROOT, read, solution_codes, tagged


def printed(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_solutions_pass_their_checks_and_wrong_answers_fail_them(path):
    notebook = read(path)
    exercises, checks = tagged(notebook, "exercise"), tagged(notebook, "exercise-check")
    wrong_runs = []
    for exercise, check, solution in zip(exercises, checks, solution_codes(notebook), strict=True):
        wrong = exercise.metadata.get("wrong_answer")
        exercise.source = solution
        if wrong:
            rerun = nbformat.v4.new_code_cell(check.source)
            position = notebook.cells.index(check) + 1
            notebook.cells[position:position] = [nbformat.v4.new_code_cell(wrong), rerun]
            wrong_runs.append(rerun)
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": ROOT}}
    ).execute()
    for check in checks:
        assert printed(check).startswith("Correct"), printed(check)
    for rerun in wrong_runs:
        assert printed(rerun).startswith("Not quite"), printed(rerun)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_an_unanswered_exercise_says_so(path):
    for check in tagged(read(path), "exercise-check"):
        assert printed(check).startswith("Not answered yet"), printed(check)


def test_the_build_it_exercises_are_checked_with_a_wrong_answer_too():
    carrying = {
        path.name
        for path in NOTEBOOKS
        for exercise in tagged(read(path), "exercise")
        if exercise.metadata.get("wrong_answer")
    }
    assert {
        "00_overview_and_setup.ipynb",
        "01_table_design.ipynb",
        "02_handlers_broadcast.ipynb",
        "03_rooms_gsi.ipynb",
    } <= carrying
