"""``docs/instructor-guide.md``, checked against the notebooks it schedules.

An instructor plans a day from the guide's tables; a notebook renamed, a section retitled or a
stated time changed would make the plan wrong without anyone noticing. Pinned here:

* every notebook the guide links exists, and every section it names as ``**NN › Section**`` is a
  heading of notebook NN (as the heading reads, less an *(optional)* mark);
* each timetable (a heading ending "(N minutes)" over a ``| Start | Block | Minutes |`` table)
  adds up: each block starts when the one before ends, the last row's start is N minutes; each
  notebook block takes what the notebook states in its *Time to learn* line (its core sections,
  its optional ones, or every section);
* the 3-hour timetable runs, in order, exactly the notebooks the workshop test runs, core only;
* each run sheet's heading states the notebook's times, and there is one per notebook, each
  saying what the notebook needs.
"""

from __future__ import annotations

import re

import pytest
from notebook_files import NOTEBOOKS, ROOT, read
from test_course_shape import stated_minutes
from test_workshop_path import IN_THE_WORKSHOP

GUIDE = (ROOT / "docs" / "instructor-guide.md").read_text()
BY_NUMBER = {path.name[:2]: path for path in NOTEBOOKS}
SECTION = re.compile(r"\*\*(\d\d) › (.+?)\*\*")
OPTIONAL_MARK = re.compile(r"\s*\*?\(optional\)\*?$")
TIMETABLE = re.compile(
    r"^#+ [^\n]*\((\d+) minutes\)\n"  # a heading stating the total
    r"(?:(?!#)[^\n]*\n)*?"  # its prose, up to the table (not into the next heading)
    r"\| Start \| Block \| Minutes \|\n\|---\|---\|---\|\n((?:\|[^\n]*\|\n)+)",
    re.M,
)
ROW = re.compile(r"^\| (\d+):(\d\d) \| (.*?) \| ?(\d*) ?\|$")
BLOCK = re.compile(
    r"\[[^\]]+\]\(\.\./notebooks/((\d\d)_\w+\.ipynb)\), "
    r"(core sections|optional sections|every section)"
)
RUN_SHEET = re.compile(r"^### (\d\d) · .*\((.*)\)$", re.M)


def headings(path) -> set[str]:
    found = set()
    for cell in read(path).cells:
        if cell.cell_type == "markdown":
            for title in re.findall(r"^#{1,6} (.*)$", cell.source, re.M):
                found.add(OPTIONAL_MARK.sub("", title.strip()))
    return found


def minutes(number: str, part: str) -> int:
    core, optional = stated_minutes(BY_NUMBER[number])
    return {"core sections": core, "optional sections": optional, "every section": core + optional}[
        part
    ]


def timetables() -> dict[int, list[tuple[int, str, str]]]:
    """Each timetable's stated total: its rows as (start minute, block, minutes)."""
    tables = {}
    for total, body in TIMETABLE.findall(GUIDE):
        rows = []
        for line in body.splitlines():
            match = ROW.match(line)
            assert match, f"not a timetable row: {line}"
            hours, mins, block, length = match.groups()
            rows.append((int(hours) * 60 + int(mins), block, length))
        tables[int(total)] = rows
    return tables


def test_every_notebook_the_guide_links_exists():
    linked = set(re.findall(r"\.\./notebooks/([\w.]+\.ipynb)", GUIDE))
    assert linked, "the guide links no notebook"
    assert linked <= {path.name for path in NOTEBOOKS}, linked - {p.name for p in NOTEBOOKS}


def test_every_section_the_guide_names_is_a_heading_of_that_notebook():
    named = SECTION.findall(GUIDE)
    assert len(named) >= 40, "the run sheets name the sections they walk through"
    missing = [
        f"{number} › {title}"
        for number, title in named
        if number not in BY_NUMBER or title not in headings(BY_NUMBER[number])
    ]
    assert not missing, missing


def test_the_three_timetables_are_there():
    assert sorted(timetables()) == [180, 240, 540]


@pytest.mark.parametrize("total", [180, 240, 540])
def test_each_timetable_adds_up_to_the_notebooks_stated_times(total):
    rows = timetables()[total]
    assert rows[0][0] == 0
    for (start, block, length), (next_start, *_) in zip(rows, rows[1:], strict=False):
        assert length, f"{block}: no minutes"
        assert start + int(length) == next_start, f"{block} ends at {start + int(length)}"
        for _, number, part in BLOCK.findall(block):
            assert minutes(number, part) == int(length), f"{number}, {part}: {block}"
        assert BLOCK.search(block) or "notebooks/" not in block, f"unreadable block: {block}"
    assert rows[-1][0] == total and rows[-1][2] == "", "the last row is the end, at the total"


def test_the_workshop_runs_the_workshop_path_in_order_core_only():
    blocks = [BLOCK.findall(block) for _, block, _ in timetables()[180]]
    run = [found for row in blocks for found in row]
    assert [(name, part) for name, _, part in run] == [
        (path.name, "core sections") for path in IN_THE_WORKSHOP
    ]
    breaks = [block for _, block, _ in timetables()[180] if block.startswith("Break")]
    assert len(breaks) == 2


def test_each_notebook_has_a_run_sheet_with_its_times_and_what_it_needs():
    sheets = dict(RUN_SHEET.findall(GUIDE))
    assert sorted(sheets) == sorted(BY_NUMBER)
    for number, stated in sheets.items():
        core, optional = stated_minutes(BY_NUMBER[number])
        expected = (
            f"{core} minutes; {core + optional} with every section"
            if core
            else f"optional in a workshop; {optional} minutes"
        )
        assert stated == expected, number
    # what ``workbook.py catch-up`` says, and tests/test_catch_up.py keeps true
    needs = re.findall(
        r"^### (\d\d) · .*\n\n\*\*What this notebook needs:\*\* nothing from earlier notebooks",
        GUIDE,
        re.M,
    )
    assert sorted(needs) == sorted(BY_NUMBER)


def test_the_table_of_stated_times_is_what_the_notebooks_state():
    section = GUIDE.split("## Where the times come from", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d\d) [^|]+ \| (\d+) \| (\d+) \| (core|skipped) \|$", section, re.M)
    assert [number for number, *_ in rows] == sorted(BY_NUMBER)
    workshop = {path.name[:2] for path in IN_THE_WORKSHOP}
    for number, core, optional, in_workshop in rows:
        assert stated_minutes(BY_NUMBER[number]) == (int(core), int(optional)), number
        assert (in_workshop == "core") == (number in workshop), number
