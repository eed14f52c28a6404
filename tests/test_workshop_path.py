"""The 3-hour workshop's path through the course: every notebook with its *(optional)* sections
left out, as a workshop runs it, still runs top to bottom in a fresh kernel.

A section marked optional may teach something a learner on their own should see, but nothing
after it on the core path may need what it defined: a learner who skips it must not meet a
``NameError`` or a missing table. ``benchmarks/learner_pace.py`` decides what is optional (the
same rule that gives each notebook's stated core time), so the path timed is the path run.
"""

from __future__ import annotations

import pytest
from nbclient import NotebookClient
from notebook_files import NOTEBOOKS, core_path, read

IN_THE_WORKSHOP = [path for path in NOTEBOOKS if core_path(path).cells]


def test_the_workshop_path_leaves_out_whole_notebooks_and_sections_but_keeps_the_spine():
    """05 and 07 are optional as a whole; every other notebook keeps a core, and that core
    holds code a learner runs (not only its headings)."""
    assert [path.name[:2] for path in IN_THE_WORKSHOP] == ["00", "01", "02", "03", "04", "06"]
    for path in IN_THE_WORKSHOP:
        skipped = len(read(path).cells) - len(core_path(path).cells)
        assert skipped > 0, f"{path.name}: nothing is optional, yet the notebook is in the path"
        assert sum(cell.cell_type == "code" for cell in core_path(path).cells) >= 3, path.name


@pytest.mark.parametrize("path", IN_THE_WORKSHOP, ids=lambda p: p.name)
def test_the_notebook_runs_with_its_optional_sections_left_out(path):
    notebook = core_path(path)
    NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    errors = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors, errors
