"""The Japanese edition (notebooks/ja/) stays in step with the English course.

The Japanese notebooks are built from the English ones and a translation file each
(``notebooks/ja/edition.py``); nbval executes them like the English ones. These tests pin the
rest: every prose cell is translated and current, code is the English code, the committed
notebooks are what the build writes, and the links of both editions lead somewhere.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from notebook_files import NOTEBOOKS, ROOT, script

edition = script("notebooks/ja/edition.py")

JA = ROOT / "notebooks" / "ja"


@pytest.mark.parametrize("english", NOTEBOOKS, ids=lambda p: p.name)
def test_every_prose_cell_is_translated_and_current(english):
    assert edition.problems(english) == []


@pytest.mark.parametrize("english", NOTEBOOKS, ids=lambda p: p.name)
def test_the_committed_japanese_notebook_is_what_the_build_writes(english):
    """Its code and outputs are the English ones (only comments may differ); rebuild with
    ``python3 notebooks/ja/edition.py build`` after changing either edition."""
    japanese = edition.japanese_path(english)
    assert japanese.exists(), f"{japanese.name} missing: run edition.py build"
    assert japanese.read_text(encoding="utf-8") == edition.render(edition.build(english)), (
        f"{japanese.name} is not what edition.py build writes: rebuild it"
    )
    en_cells = json.loads(english.read_text())["cells"]
    ja_cells = json.loads(japanese.read_text(encoding="utf-8"))["cells"]
    assert [c["cell_type"] for c in ja_cells] == [c["cell_type"] for c in en_cells]
    for en, ja in zip(en_cells, ja_cells, strict=True):
        if en["cell_type"] == "code":
            assert edition.without_comments("".join(ja["source"])) == edition.without_comments(
                "".join(en["source"])
            )
            assert ja["outputs"] == en["outputs"]
            assert ja["metadata"] == en["metadata"]  # exercise tags and wrong answers too


def _stale_copy(tmp_path, english: Path, cell_index: int, edit) -> tuple[Path, str]:
    notebook = json.loads(english.read_text())
    cell = notebook["cells"][cell_index]
    cell["source"] = edit("".join(cell["source"]))
    copy = tmp_path / english.name  # same name: it reads the same translation file
    copy.write_text(json.dumps(notebook))
    return copy, cell["id"]


def test_changing_an_english_prose_cell_makes_its_translation_stale_and_names_it(tmp_path):
    english = NOTEBOOKS[2]
    index = next(i for i, c in enumerate(edition.read_notebook(english)["cells"])
                 if c["cell_type"] == "markdown" and i > 0)
    copy, cell_id = _stale_copy(tmp_path, english, index, lambda s: s + "\nOne more sentence.")
    found = edition.problems(copy)
    assert len(found) == 1 and f"cell {cell_id}" in found[0] and "changed since" in found[0]


def test_changing_code_whose_comments_are_translated_makes_the_translation_stale(
    tmp_path, monkeypatch
):
    english = NOTEBOOKS[1]
    cells = edition.read_notebook(english)["cells"]
    index, cell = next((i, c) for i, c in enumerate(cells) if c["cell_type"] == "code")
    source = "".join(cell["source"])
    translations = tmp_path / "translations"
    translations.mkdir()
    shutil.copy(edition.translation_path(english), translations)
    with (translations / f"{english.stem}.md").open("a", encoding="utf-8") as file:
        file.write(f"\n<!-- code {cell['id']} en:{edition.source_hash(source)} -->\n"
                   f"{source.rstrip()}  # 日本語のコメント\n")
    monkeypatch.setattr(edition, "TRANSLATIONS", translations)
    assert edition.problems(english) == []
    copy, cell_id = _stale_copy(tmp_path, english, index, lambda s: s + "\nprint('new')\n")
    found = edition.problems(copy)
    assert any(f"cell {cell_id}" in line and "changes code" in line for line in found)
    assert any(f"cell {cell_id}" in line and "changed since" in line for line in found)


def test_a_new_english_cell_without_translation_is_named(tmp_path):
    english = NOTEBOOKS[1]
    notebook = json.loads(english.read_text())
    notebook["cells"].insert(1, {"cell_type": "markdown", "id": "brand-new", "metadata": {},
                                 "source": "A new paragraph in English."})
    copy = tmp_path / english.name
    copy.write_text(json.dumps(notebook))
    assert edition.problems(copy) == [
        f"{english.stem}: cell brand-new ('A new paragraph in English.') is not translated"
    ]


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("The handler posts to every connection in the room.", True),
        ("ハンドラーはルーム内のすべての接続に投稿します。", False),
        ("`post_to_connection` は 410 Gone を返します。", False),
        ("| `connect` | `$connect` | `put_item` |", False),  # identifiers only
        ("API Gateway WebSocket API + Lambda + DynamoDB", False),  # names only
        ("```mermaid\nsequenceDiagram\n    A->>GW: sends a frame to it\n```", True),
        ("```mermaid\nsequenceDiagram\n    A->>GW: フレームを送る\n```", False),
        ('```mermaid\nsequenceDiagram\n    A->>GW: {"action": "sendmessage", "message": "hi"}\n```',
         False),
        ('```mermaid\nerDiagram\n  C {\n    number ttl "epoch seconds, the TTL"\n  }\n```', True),
        ('```mermaid\nerDiagram\n  C {\n    number ttl "エポック秒。TTL 属性"\n  }\n```', False),
    ],
)
def test_english_only_prose_is_recognised(text, flagged):
    assert bool(edition.english_only_lines(text)) == flagged


def test_only_comments_may_differ_in_code():
    code = "%%writefile x.py\nimport os  # the operating system\nvalue = 1\n"
    assert edition.without_comments(code) == edition.without_comments(
        "%%writefile x.py\nimport os  # オペレーティングシステム\nvalue = 1\n"
    )
    assert edition.without_comments(code) != edition.without_comments(code.replace("1", "2"))
    assert edition.without_comments(code) != edition.without_comments(
        code.replace("x.py", "y.py")
    )


def _relative_links(markdown: str) -> list[str]:
    targets = re.findall(r"\]\(([^)\s]+)\)", markdown)
    return [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:|#", t) and t.split("#")[0]]


@pytest.mark.parametrize(
    "document",
    [*NOTEBOOKS, *sorted(JA.glob("[0-9][0-9]_*.ipynb")), ROOT / "README.md",
     ROOT / "README.ja.md"],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_relative_links_lead_to_files(document):
    if document.suffix == ".ipynb":
        cells = json.loads(document.read_text(encoding="utf-8"))["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    else:
        text = document.read_text(encoding="utf-8")
    missing = [t for t in _relative_links(text) if not (document.parent / t).exists()]
    assert missing == []


def test_the_readmes_link_each_other_and_the_japanese_one_lists_the_japanese_course():
    english = (ROOT / "README.md").read_text()
    japanese = (ROOT / "README.ja.md").read_text(encoding="utf-8")
    assert "](README.ja.md)" in english and "](README.md)" in japanese
    linked = re.findall(r"\]\(notebooks/ja/([^)]+\.ipynb)\)", japanese)
    assert linked == [path.name for path in NOTEBOOKS]
    assert "python3 workbook.py lab --lang ja" in japanese
    assert "](notebooks/ja/glossary.md)" in japanese


def test_lab_opens_the_chosen_edition():
    workbook = script("workbook.py")
    assert workbook.pop_language(["--lang", "ja", "--no-browser"]) == ("ja", ["--no-browser"])
    assert workbook.pop_language(["--lang=ja"]) == ("ja", [])
    assert workbook.pop_language(["--port=9"]) == ("en", ["--port=9"])
    with pytest.raises(SystemExit):
        workbook.pop_language(["--lang", "fr"])
    for language in ("en", "ja"):
        command = workbook.lab_command(Path("python"), is_root=False, language=language)
        assert (ROOT / command[-1]).exists()
    assert command[-1] == "notebooks/ja/00_overview_and_setup.ipynb"


def test_every_japanese_file_in_the_folder_is_accounted_for():
    """Nothing in notebooks/ja/ but the built notebooks, their translations, the glossary, the
    style sheet and the build script: a stray hand-made notebook would not be kept in step."""
    kept = {"edition.py", "glossary.md", "style.md", "translations"}
    expected = {p.name for p in NOTEBOOKS} | kept
    present = {p.name for p in JA.iterdir() if p.name not in {"__pycache__",
                                                             ".ipynb_checkpoints"}}
    assert present == expected
    stems = {p.stem for p in NOTEBOOKS}
    for path in (JA / "translations").iterdir():
        assert path.name.split(".")[0] in stems, f"{path.name} translates no notebook"


def test_a_paragraph_wrapped_between_japanese_characters_renders_without_a_space():
    text = (
        "本文の一行目で\n二行目です。\n次の文。`code` は\nそのまま。\n\n1. 項目の\n   続き\n"
        "| 表 | で |\n| す | ね |\n```python\nx = 'あ'\ny = 'い'\n```\nEnglish ends\n日本語で始まる"
    )
    assert edition.join_japanese_lines(text) == (
        "本文の一行目で二行目です。次の文。`code` はそのまま。\n\n1. 項目の続き\n"
        "| 表 | で |\n| す | ね |\n```python\nx = 'あ'\ny = 'い'\n```\nEnglish ends\n日本語で始まる"
    )
