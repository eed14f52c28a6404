"""The appendix of the source articles' defects (``docs/defects.md`` and ``docs/defects.ja.md``)
and notebook 00, which shows five of them and links the rest.

Notebook 00 is the first thing a learner reads, so it stays short (at most 2,000 words of prose)
and the full table lives in the appendix. What is pinned here:

* the appendix holds every defect, numbered per article without gaps, in both languages;
* each problem that the summary of the source articles names (the course's brief for what the
  articles get wrong) has its row, with the defect it names;
* every ``NN › Section`` pointer names a section that notebook NN has (the Japanese appendix:
  the Japanese notebook), so a renamed section is noticed; the Japanese rows point into the
  same notebooks as the English ones;
* notebook 00's five rows are rows of the appendix, and both editions link their appendix.
"""

from __future__ import annotations

import re

import pytest
from notebook_files import ROOT, read

APPENDIX = {"en": ROOT / "docs" / "defects.md", "ja": ROOT / "docs" / "defects.ja.md"}
OVERVIEW = {
    "en": ROOT / "notebooks" / "00_overview_and_setup.ipynb",
    "ja": ROOT / "notebooks" / "ja" / "00_overview_and_setup.ipynb",
}
#: Defects per source article (000 to 004): 77 in all.
DEFECTS_PER_ARTICLE = {"000": 13, "001": 19, "002": 13, "003": 14, "004": 18}
#: What the summary of the source articles says each gets wrong, and the row that holds it
#: (its "Defect" cell contains the words on the right).
SUMMARISED = {
    "A000-1": "room from message body",  # sendmessage takes roomId from the message body
    "A000-5": "unpaginated Query",  # no pagination of the query
    "A001-1": "identity from query",  # identity not bound to the token
    "A001-2": "JWT in handler, not authorizer",
    "A001-5": "`isConnectionGone` true for all errors",
    "A002-1": "Scan per message",  # one unpaginated Scan per message
    "A002-2": "unpaginated Scan",
    "A003-1": "env var `table` vs `CONNECTIONS_TABLE_NAME`",
    "A003-3": "post errors only logged",
    "A003-4": "Scan per message",  # unpaginated Scan
    "A004-1": "hard-coded token",
    "A004-4": "response before the posts finish",
    "A004-6": "`$default` → connect function",
    "A004-7": "`AmazonDynamoDBFullAccess`",
}
MAX_OVERVIEW_WORDS = 2000
ROW = re.compile(r"^\| (A\d{3}-\d+) \| (.*) \|$", re.M)
#: ``NN › Section``: the text after the arrow, up to "(", ")", ";", "。" or the next pointer; it
#: starts with the section's title, or is the start of one (a long title may be cut short).
POINTER = re.compile(r"(\d\d) › ((?:(?!、\d\d › )[^();。])+)")
#: How a title marks an optional section, in either language.
OPTIONAL_MARK = re.compile(r"\s*\*?\((?:optional|任意)\)\*?$")


def rows(text: str) -> dict[str, list[str]]:
    """Each defect's cells after its id: kind, defect, fix, where."""
    found: dict[str, list[str]] = {}
    for defect, rest in ROW.findall(text):
        assert defect not in found, f"{defect} appears twice"
        found[defect] = rest.split(" | ")
    return found


def appendix(language: str) -> dict[str, list[str]]:
    return rows(APPENDIX[language].read_text(encoding="utf-8"))


def headings(notebook_number: str, language: str) -> list[str]:
    """The section titles of a notebook, without the leading #'s or an optional mark."""
    folder = ROOT / "notebooks" if language == "en" else ROOT / "notebooks" / "ja"
    (path,) = folder.glob(f"{notebook_number}_*.ipynb")
    titles = []
    for cell in read(path).cells:
        if cell.cell_type == "markdown":
            prose = re.sub(r"```.*?```", "", cell.source, flags=re.S)
            titles += [line.lstrip("#").strip() for line in prose.splitlines() if line[:1] == "#"]
    return [OPTIONAL_MARK.sub("", title) for title in titles]


def names_a_section(pointer: str, titles: list[str]) -> bool:
    pointer = pointer.strip().rstrip("…").strip()
    return any(
        pointer == title or pointer.startswith(title + "、") or title.startswith(pointer)
        for title in titles
    )


def expected_ids() -> list[str]:
    return [
        f"A{article}-{n}" for article, count in DEFECTS_PER_ARTICLE.items()
        for n in range(1, count + 1)
    ]  # fmt: skip


@pytest.mark.parametrize("language", APPENDIX)
def test_the_appendix_holds_every_defect_once_in_order(language):
    found = appendix(language)
    assert list(found) == expected_ids()
    assert all(len(cells) == 4 and all(c.strip() for c in cells) for cells in found.values())


@pytest.mark.parametrize("defect, words", SUMMARISED.items())
def test_each_problem_the_article_summary_names_has_its_row(defect, words):
    assert words in appendix("en")[defect][1]


@pytest.mark.parametrize("language", APPENDIX)
def test_every_section_the_appendix_points_to_exists(language):
    missing = [
        f"{defect}: {number} › {pointer.strip()}"
        for defect, cells in appendix(language).items()
        for number, pointer in POINTER.findall(cells[3])
        if not names_a_section(pointer, headings(number, language))
    ]
    assert not missing, "sections that do not exist:\n" + "\n".join(missing)


def test_the_japanese_rows_point_into_the_same_notebooks():
    japanese = appendix("ja")
    for defect, cells in appendix("en").items():
        english_notebooks = [number for number, _ in POINTER.findall(cells[3])]
        japanese_notebooks = [number for number, _ in POINTER.findall(japanese[defect][3])]
        assert japanese_notebooks == english_notebooks, defect


def prose_words(path) -> int:
    return sum(
        len(cell.source.split()) for cell in read(path).cells if cell.cell_type == "markdown"
    )


def test_notebook_00_is_at_most_2000_words_of_prose():
    assert prose_words(OVERVIEW["en"]) <= MAX_OVERVIEW_WORDS


@pytest.mark.parametrize("language", OVERVIEW)
def test_notebook_00_shows_five_rows_of_the_appendix_and_links_it(language):
    source = "\n".join(
        c.source for c in read(OVERVIEW[language]).cells if c.cell_type == "markdown"
    )
    teaser = rows(source)
    assert len(teaser) == 5
    full = appendix(language)
    for defect, cells in teaser.items():
        assert cells[:3] == full[defect][:3], f"{defect} differs from the appendix's row"
        pointers = POINTER.findall(cells[3])
        assert pointers and all(
            names_a_section(pointer, headings(number, language)) for number, pointer in pointers
        ), cells[3]
    link = {"en": "](../docs/defects.md)", "ja": "](../../docs/defects.ja.md)"}[language]
    assert link in source
    assert (OVERVIEW[language].parent / link[2:-1]).resolve() == APPENDIX[language]


@pytest.mark.parametrize("language", APPENDIX)
def test_the_appendix_links_lead_to_files(language):
    text = APPENDIX[language].read_text(encoding="utf-8")
    targets = [t for t in re.findall(r"\]\(([^)#]+)\)", text) if "://" not in t]
    assert targets
    missing = [t for t in targets if not (APPENDIX[language].parent / t).exists()]
    assert not missing
