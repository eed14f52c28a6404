"""The course's exercise checks: one module per notebook, never shipped to Lambda.

A notebook's check cell is one short call, for example::

    from chatlib import course
    print(course.nb02.check_quiet_chat(scratch))

so that the learner sees what is checked by opening the module (``chatlib/course/nb02.py``),
not a 30-line cell. Each check drives the learner's answer through the same parts the notebook
used (the local gateway, the embedded AWS) and returns one sentence: "Correct! …", "Not quite:
… (a hint)", or "Not answered yet: …" while the exercise cell still holds its TODO line.

The folder is not in the Lambda zip (:mod:`chatlib.deploy.package` allow-lists the root and
``handlers/``), and no shipped module imports it (``tests/test_layout.py``).
"""

from importlib import import_module
from types import ModuleType


def __getattr__(name: str) -> ModuleType:
    """``course.nb02`` imports ``chatlib.course.nb02`` on first use."""
    if name.startswith("nb") and name[2:].isdigit():
        return import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
