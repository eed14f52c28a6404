"""The shape of the course as a learner meets it: how many of chatlib's own names they must
learn, how long each notebook takes, and where each name is listed.

A learner should spend their attention on AWS (boto3 calls, the template, IAM), not on a
library of ours: the course uses at most 25 chatlib names, and the README lists each one. Each
notebook states the time ``benchmarks/learner_pace.py`` models for it, core and optional apart.
A name is anything a code cell imports from ``chatlib`` or reaches as ``chatlib.X`` (a module
read with ``inspect``, such as ``chatlib.handlers.room``, is one name). Methods of the objects
those names return (``stack.logs``, ``client.send``) are not counted: they belong to the name.
"""

from __future__ import annotations

import ast
import re

import pytest
from notebook_files import NOTEBOOKS, ROOT, read, script

MAX_CHATLIB_NAMES = 25
OPTIONAL_NOTEBOOK = "Optional in a workshop"
README = (ROOT / "README.md").read_text()


def python_source(cell_source: str) -> str:
    """The cell without IPython's own lines (``%%writefile``, ``%time``, ``!pytest``), which
    are not Python. A ``%%writefile`` cell writes a file; its body is still what the learner
    reads, so it is kept."""
    return "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in cell_source.splitlines()
    )


def chatlib_names(source: str) -> set[str]:
    """The chatlib names one piece of code uses, by the rule in this module's docstring."""
    names: set[str] = set()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "chatlib":
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {
                alias.name.removeprefix("chatlib.")
                for alias in node.names
                if alias.name.startswith("chatlib.")
            }
        elif isinstance(node, ast.Attribute):
            chain = dotted(node)
            if chain and chain[0] == "chatlib" and len(chain) > 1:
                names.add(".".join(chain[1:]))
    # ``chatlib.handlers.room`` also walks ``chatlib.handlers``: keep the longest chains only
    return {name for name in names if not any(o.startswith(name + ".") for o in names)}


def dotted(node: ast.expr) -> list[str] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


def names_per_notebook() -> dict[str, set[str]]:
    found = {}
    for path in NOTEBOOKS:
        names: set[str] = set()
        for cell in read(path).cells:
            if cell.cell_type == "code":
                names |= chatlib_names(python_source(cell.source))
        found[path.name] = names
    return found


def readme_names() -> set[str]:
    """The names listed under the README's heading "The chatlib names the course uses"."""
    section = README.split("## The chatlib names the course uses", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([^`]+)` \|", section, re.M))


def test_the_counting_rule_reads_imports_attributes_and_module_reads():
    source = (
        "import inspect\nimport chatlib.handlers.room\nfrom chatlib import course, ChatClient\n"
        "stack = chatlib.start_local_stack()\nprint(inspect.getsource(chatlib.handlers.room))\n"
        "stack.logs('f')\nclient = ChatClient.connect('ws://x')\n"
    )
    assert chatlib_names(source) == {"handlers.room", "course", "ChatClient", "start_local_stack"}
    assert python_source("%%writefile x.py\nimport chatlib\n!pytest -q") == "\nimport chatlib\n"


def test_the_course_uses_at_most_25_chatlib_names():
    used = set().union(*names_per_notebook().values())
    assert len(used) <= MAX_CHATLIB_NAMES, sorted(used)


def test_the_readme_lists_exactly_the_chatlib_names_the_course_uses():
    used = set().union(*names_per_notebook().values())
    listed = readme_names()
    assert listed == used, (
        f"missing from README: {sorted(used - listed)}; no longer used: {sorted(listed - used)}"
    )


def stated_minutes(path) -> tuple[int, int]:
    """A notebook's stated time: the core minutes, and the optional ones (0 if none).
    The first cell says ``**Time to learn:** 35 minutes`` and may add
    ``(+ 10 minutes optional)``; a notebook optional as a whole says so after it."""
    first = read(path).cells[0].source
    match = re.search(
        r"\*\*Time to learn:\*\* (\d+) minutes(?: \(\+ (\d+) minutes optional\))?", first
    )
    assert match, f"{path.name}: no '**Time to learn:** N minutes' line"
    if OPTIONAL_NOTEBOOK in first:
        return 0, int(match.group(1))
    return int(match.group(1)), int(match.group(2) or 0)


def modelled_minutes(path) -> tuple[int, int]:
    """What ``benchmarks/learner_pace.py`` says, rounded up to 5 minutes as stated."""
    pace = script("benchmarks/learner_pace.py")
    minutes = pace.pace(path, None).minutes
    return pace.round_up(minutes["core"]), pace.round_up(minutes["optional"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_notebook_states_the_time_the_pace_model_gives(path):
    """The stated time is measured, not hoped for: the pace model's figure for the notebook
    as committed (a changed notebook changes its figure; state the new one)."""
    assert stated_minutes(path) == modelled_minutes(path)


def test_the_core_path_fits_a_three_hour_workshop():
    """Three hours with two breaks and an opening leave 150 minutes of notebook time; what the
    notebooks state as core (each rounded up to 5 minutes) must fit in it."""
    core = sum(stated_minutes(path)[0] for path in NOTEBOOKS)
    assert core <= 150, f"the core path states {core} minutes"
