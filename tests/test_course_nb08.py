"""Notebook 08's exercise check (``chatlib/course/nb08.py``): the sender's SendMessageBatch
calls. The notebook's published solution passes; the wrong answer kept in the exercise cell's
metadata, the untouched scaffold and the other plausible mistakes each get their own verdict."""

from __future__ import annotations

from notebook_files import ROOT, read, solution_codes, tagged

from chatlib.course.nb08 import check_batch_calls

NOTEBOOK = ROOT / "notebooks" / "08_appendix_fanout_at_scale.ipynb"


def defined(code: str, folder, name: str):
    """``batch_calls`` as ``code`` defines it, from a file (``inspect`` reads its source, as
    the check does in a notebook)."""
    path = folder / f"{name}.py"
    path.write_text(code)
    namespace: dict = {}
    exec(compile(code, str(path), "exec"), namespace)  # noqa: S102
    return namespace["batch_calls"]


def test_the_published_solution_is_correct(tmp_path):
    (solution,) = solution_codes(read(NOTEBOOK))
    assert check_batch_calls(defined(solution, tmp_path, "solution")).startswith("Correct!")


def test_the_scaffold_is_not_answered_and_the_kept_wrong_answer_is_named(tmp_path):
    (exercise,) = tagged(read(NOTEBOOK), "exercise")
    scaffold = defined(exercise.source, tmp_path, "scaffold")
    assert check_batch_calls(scaffold).startswith("Not answered yet")
    verdict = check_batch_calls(defined(exercise.metadata["wrong_answer"], tmp_path, "wrong"))
    assert verdict.startswith("Not quite") and "posts the first page itself" in verdict


def test_each_plausible_mistake_gets_its_hint(tmp_path):
    def write(name, body):
        code = f"import math\ndef batch_calls(members, page_size=100):\n    {body}\n"
        return check_batch_calls(defined(code, tmp_path, name))

    floor = "return max(0, math.ceil(members / page_size) - 1) // 10"
    fixed = "return math.ceil(max(0, math.ceil(members / 100) - 1) / 10)"
    assert "round up" in write("floor", floor)
    assert "use page_size" in write("fixed", fixed)
    assert "raised ZeroDivisionError" in write("raises", "return 1 // 0")
