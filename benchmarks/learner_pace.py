"""How long each notebook takes a learner, by a stated pace model, core and optional apart.

    python benchmarks/learner_pace.py            # read the committed notebooks
    python benchmarks/learner_pace.py --execute  # also execute each one and use its real times

Nobody was timed with a stopwatch here: a learner's time is modelled from what the notebook asks
of them, with paces taken from reading and programming-course studies, rounded to be generous:

* prose: 130 words a minute (technical English read by a second-language reader; native
  readers of technical text manage 200-250);
* code they read: 8 lines a minute (each line of a given cell, comments included);
* code they write: 1.5 minutes a line (typing, a look at the docs, one mistake), counted from
  each exercise or scaffold's solution: the solution's lines that its cell does not already hold;
* running: the cells' own execution time (committed outputs carry none, so ``--execute`` runs
  the notebook; without it, 2 s a cell) plus 10 seconds a cell to read its output;
* each exercise or scaffold: 3 minutes to read the task and think before typing; a scaffold whose
  solution is not printed counts 2 written lines per TODO line.

A section whose heading ends in "(optional)" counts as optional, up to the next heading of the
same or a higher level; a notebook whose first cell says "Optional in a workshop" is optional
as a whole. The figures printed are what the notebooks' "Time to learn" lines state,
rounded up to 5 minutes; ``tests/test_course_shape.py`` keeps the core path within 150 minutes.
"""

from __future__ import annotations

import argparse
import difflib
import math
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
WORDS_PER_MINUTE = 130
CODE_LINES_READ_PER_MINUTE = 8
MINUTES_PER_LINE_WRITTEN = 1.5
SECONDS_TO_READ_AN_OUTPUT = 10
DEFAULT_CELL_SECONDS = 2
MINUTES_TO_THINK_PER_EXERCISE = 3
LINES_PER_TODO = 2
_HEADING = re.compile(r"^(#{1,6}) (.*)$", re.M)
_SOLUTION = re.compile(r"<summary>Solution</summary>.*?```python\n(.*?)```", re.S)


@dataclass
class Pace:
    minutes: dict[str, float] = field(default_factory=lambda: {"core": 0.0, "optional": 0.0})

    def add(self, part: str, minutes: float) -> None:
        self.minutes[part] += minutes


def sections(notebook: nbformat.NotebookNode) -> list[str]:
    """For each cell, "core" or "optional", by the headings above it."""
    if "Optional in a workshop" in notebook.cells[0].source:
        return ["optional"] * len(notebook.cells)
    parts, optional_level = [], None
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for hashes, title in _HEADING.findall(cell.source):
                level = len(hashes)
                if optional_level is not None and level <= optional_level:
                    optional_level = None
                if title.strip(" *_").lower().endswith("(optional)"):
                    optional_level = level
        parts.append("optional" if optional_level is not None else "core")
    return parts


def todo_lines(source: str) -> int:
    """Gaps left for the learner: lines with TODO, not code that tests for the word
    (``if "TODO" in source``)."""
    return sum(1 for line in source.splitlines() if "TODO" in line and '"TODO"' not in line)


def written_lines(notebook: nbformat.NotebookNode) -> list[tuple[int, int]]:
    """(cell index, lines the learner writes) per exercise or scaffold. A ``<details>``
    Solution belongs to the nearest cell above it that the learner starts from (tagged
    ``exercise``, or holding a TODO line); what it adds to that cell is written. A scaffold
    with no Solution printed (its reference lives in ``chatlib/course``) counts
    ``LINES_PER_TODO`` lines for each of its TODO lines."""

    def starts_here(cell) -> bool:
        tags = cell.get("metadata", {}).get("tags", [])
        return cell.cell_type == "code" and ("exercise" in tags or todo_lines(cell.source) > 0)

    found: dict[int, int] = {}
    for index, cell in enumerate(notebook.cells):
        match = _SOLUTION.search(cell.source) if cell.cell_type == "markdown" else None
        if match is None:
            continue
        above = [i for i in range(index) if starts_here(notebook.cells[i])]
        start = notebook.cells[above[-1]].source if above else ""
        diff = difflib.ndiff(start.splitlines(), match.group(1).splitlines())
        found[above[-1] if above else index] = sum(
            1 for line in diff if line.startswith("+ ") and line[2:].strip()
        )
    for index, cell in enumerate(notebook.cells):
        if starts_here(cell) and index not in found:
            found[index] = LINES_PER_TODO * todo_lines(cell.source)
    return sorted(found.items())


def pace(path: Path, cell_seconds: list[float] | None) -> Pace:
    notebook = nbformat.read(path, as_version=4)
    result = Pace()
    for index, (cell, part) in enumerate(zip(notebook.cells, sections(notebook), strict=True)):
        if cell.cell_type == "markdown":
            prose = re.sub(r"```.*?```", "", cell.source, flags=re.S)
            result.add(part, len(prose.split()) / WORDS_PER_MINUTE)
            continue
        lines = [line for line in cell.source.splitlines() if line.strip()]
        seconds = cell_seconds[index] if cell_seconds else DEFAULT_CELL_SECONDS
        result.add(
            part,
            len(lines) / CODE_LINES_READ_PER_MINUTE + (seconds + SECONDS_TO_READ_AN_OUTPUT) / 60,
        )
    parts = sections(notebook)
    for index, lines in written_lines(notebook):
        result.add(parts[index], MINUTES_TO_THINK_PER_EXERCISE + lines * MINUTES_PER_LINE_WRITTEN)
    return result


def executed_cell_seconds(path: Path) -> list[float]:
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    seconds = [0.0] * len(notebook.cells)

    class Timed(NotebookClient):
        async def async_execute_cell(self, cell, cell_index, *args, **kwargs):
            started = time.perf_counter()
            try:
                return await super().async_execute_cell(cell, cell_index, *args, **kwargs)
            finally:
                seconds[cell_index] = time.perf_counter() - started

    Timed(
        notebook,
        timeout=300,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": path.parent}},
    ).execute()
    return seconds


def round_up(minutes: float) -> int:
    return 5 * math.ceil(minutes / 5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--execute", action="store_true", help="run each notebook for its times")
    args = parser.parse_args()
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    total_core = total_optional = 0
    print(f"{'notebook':<34} {'core min':>8} {'stated':>7} {'optional':>9} {'stated':>7}")
    for path in notebooks:
        cell_seconds = executed_cell_seconds(path) if args.execute else None
        minutes = pace(path, cell_seconds).minutes
        core, optional = round_up(minutes["core"]), round_up(minutes["optional"])
        total_core += core
        total_optional += optional
        print(
            f"{path.name:<34} {minutes['core']:>8.1f} {core:>7} "
            f"{minutes['optional']:>9.1f} {optional:>7}"
        )
    print(f"{'the course':<34} {'':>8} {total_core:>7} {'':>9} {total_optional:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
