#!/usr/bin/env python3
"""The Japanese edition (日本語版): built from the English notebooks and one translation file each.

    python3 notebooks/ja/edition.py check [NN ...]     # what is missing, stale or not Japanese
    python3 notebooks/ja/edition.py todo NN            # the English still to translate, or changed
    python3 notebooks/ja/edition.py code NN            # code cells with their entry markers
    python3 notebooks/ja/edition.py skeleton NN        # add an entry for every untranslated cell
    python3 notebooks/ja/edition.py build [NN ...]     # write notebooks/ja/NN_*.ipynb

Why generated: the English notebook stays the one source of truth for code and outputs. A
Japanese notebook is the English one with its prose replaced; its code cells are the English
code (a translation may change comments, nothing else), and its outputs are the English outputs,
which nbval then checks by executing the Japanese notebook too.

A translation file (``translations/NN_name.md``) holds one entry per markdown cell, and
optionally one per code cell whose comments are translated (a long cell may go in a file of
its own, ``translations/NN_name.part.md``)::

    <!-- cell 98d3cd5c en:1a2b3c4d5e6f -->
    日本語の本文 ...

    <!-- code d0c5135b en:0f9e8d7c6b5a -->
    stack = chatlib.start_local_stack()   # 組み込みの AWS (moto) とローカルゲートウェイ

``en:`` is the hash of the English cell the entry translates. When the English cell changes, the
hash no longer matches and ``check`` (and the test suite) names the cell: the translation is
stale until someone updates it and its hash.

Standard library only, like ``workbook.py``: it runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENGLISH = HERE.parent
TRANSLATIONS = HERE / "translations"

_ENTRY = re.compile(r"^<!-- (cell|code) (\S+) en:([0-9a-f]{12}) -->$", re.M)
JAPANESE = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uff01-\uff60]")
_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```", re.M | re.S)
#: Mermaid's own words, which stay English in any language.
_MERMAID_WORDS = {
    "participant", "as", "over", "par", "and", "end", "loop", "alt", "else", "opt", "note",
    "graph", "flowchart", "subgraph", "direction", "classdef", "class", "style", "left", "right",
    "of", "sequencediagram", "erdiagram", "td", "lr", "tb", "rect", "rgb", "autonumber",
    "actor", "activate", "deactivate", "critical", "break", "box",
}


def english_notebooks() -> list[Path]:
    return sorted(ENGLISH.glob("[0-9][0-9]_*.ipynb"))


def translation_path(english: Path) -> Path:
    return TRANSLATIONS / f"{english.stem}.md"


def japanese_path(english: Path) -> Path:
    return HERE / english.name


def source_hash(source: str) -> str:
    """Twelve hex digits of the English cell's SHA-256: enough to notice any change."""
    return hashlib.sha256(source.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Entry:
    kind: str  # "cell" (markdown) or "code"
    cell_id: str
    en_hash: str
    text: str


def parse(text: str) -> dict[str, Entry]:
    """The entries of one translation file, by cell id (a repeated id is an error)."""
    entries: dict[str, Entry] = {}
    marks = list(_ENTRY.finditer(text))
    for mark, after in zip(marks, [*marks[1:], None], strict=True):
        body = text[mark.end() : after.start() if after else len(text)].strip("\n")
        kind, cell_id, en_hash = mark.groups()
        if cell_id in entries:
            raise ValueError(f"cell {cell_id} is translated twice")
        entries[cell_id] = Entry(kind, cell_id, en_hash, body)
    return entries


def read_entries(english: Path) -> dict[str, Entry]:
    """All entries for one notebook: its translation file, plus any ``NN_name.*.md`` beside it
    (a long cell may live in a file of its own)."""
    paths = sorted(TRANSLATIONS.glob(f"{english.stem}.md")) + sorted(
        TRANSLATIONS.glob(f"{english.stem}.*.md")
    )
    return parse("\n".join(path.read_text(encoding="utf-8") for path in paths))


def read_notebook(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def cell_source(cell: dict) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def without_comments(code: str) -> str:
    """Python code with its comments removed, to compare code whose comments were translated.
    IPython's magic lines (``%%writefile``, ``!cmd``) are kept verbatim; code that does not
    tokenize is returned whole, so it must match exactly."""
    lines = [
        f"__magic__ = {line!r}" if line.lstrip().startswith(("%", "!")) else line
        for line in code.splitlines()
    ]
    try:
        tokens = [
            t for t in tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline)
            if t.type not in (tokenize.COMMENT, tokenize.NL)
        ]
        return tokenize.untokenize((t.type, t.string) for t in tokens)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return code


def fenced_blocks(markdown: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block, in order."""
    return [(lang.strip(), body) for lang, body in _FENCE.findall(markdown)]


def _prose(markdown: str) -> str:
    """The words a reader reads: fences, inline code, link targets, URLs and tags removed."""
    text = _FENCE.sub("", markdown)
    text = re.sub(r"`[^`\n]*`", " ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"https?://\S+", " ", text)
    return re.sub(r"<[^>\n]+>", " ", text)


def _lowercase_words(line: str, ignore: set[str] = frozenset()) -> list[str]:
    words = re.findall(r"(?<![\w.$@/-])[a-z][a-z'-]+(?![\w/-])", line)
    return [w for w in words if w.lower() not in ignore]


def english_only_lines(markdown: str) -> list[str]:
    """Lines of prose (or of a mermaid diagram's labels) with three or more ordinary English
    words and no Japanese: untranslated text. Names (capitalised), identifiers in backticks,
    code, URLs and mermaid's own keywords do not count."""
    found = []
    for line in _prose(markdown).splitlines():
        if len(_lowercase_words(line)) >= 3 and not JAPANESE.search(line):
            found.append(line.strip())
    for lang, body in fenced_blocks(markdown):
        if lang != "mermaid":
            continue
        er_diagram = body.lstrip().startswith("erDiagram")
        for line in body.splitlines():
            if er_diagram:  # `type name "comment"`: the type and name are the schema's own
                label = " ".join(re.findall(r'"([^"]*)"', line))
            else:  # quoted text here is a frame's JSON, as the code sends it
                label = re.sub(r'"[^"]*"|\{[^}]*\}', " ", line)
            if len(_lowercase_words(label, _MERMAID_WORDS)) >= 2 and not JAPANESE.search(label):
                found.append(line.strip())
    return found


_BLOCK_START = re.compile(r"^\s*(#|\||[-*+] |\d+\. |>|```|<|$)")


def join_japanese_lines(markdown: str) -> str:
    """Join a paragraph's lines where one ends and the next begins with Japanese.

    Translations are wrapped at about 100 columns to keep them readable in a diff, but Markdown
    renders a line break inside a paragraph as a space, and a space between two Japanese
    characters is a typo in Japanese. Fences, tables, headings, list items and HTML are left
    as they are; only a continuation line is joined to the line before it."""
    lines = markdown.split("\n")
    joined: list[str] = []
    in_fence = False
    for line in lines:
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        previous = joined[-1] if joined else ""
        if (
            not in_fence
            and joined
            and not _BLOCK_START.match(line)
            and not previous.lstrip().startswith(("|", "```", "<", "#"))
            and previous.strip()
            and JAPANESE.match(previous[-1])
            and JAPANESE.match(line.lstrip()[0])
        ):
            joined[-1] = previous + line.lstrip()
        else:
            joined.append(line)
    return "\n".join(joined)


def problems(english: Path) -> list[str]:
    """Everything that keeps the Japanese notebook from being built, each naming its cell."""
    notebook = read_notebook(english)
    entries = read_entries(english)
    name = english.stem
    found = []
    cells = {cell["id"]: cell for cell in notebook["cells"]}
    for cell in notebook["cells"]:
        source, entry = cell_source(cell), entries.get(cell["id"])
        first = source.strip().splitlines()[0][:60] if source.strip() else ""
        where = f"{name}: cell {cell['id']} ({first!r})"
        if cell["cell_type"] == "markdown":
            if entry is None:
                found.append(f"{where} is not translated")
                continue
            if entry.kind != "cell":
                found.append(f"{where} is markdown; its entry must be <!-- cell ... -->")
                continue
        elif entry is None:
            continue
        elif entry.kind != "code":
            found.append(f"{where} is code; its entry must be <!-- code ... -->")
            continue
        if entry.en_hash != source_hash(source):
            found.append(
                f"{where} changed since it was translated (en:{entry.en_hash}, now "
                f"en:{source_hash(source)}): update the translation, then its hash"
            )
        if entry.kind == "code" and without_comments(entry.text) != without_comments(source):
            found.append(f"{where}: its translation changes code, not only comments")
        if entry.kind == "cell":
            found.extend(_markdown_problems(where, source, entry.text))
    for cell_id in entries.keys() - cells.keys():
        found.append(f"{name}: the translation of cell {cell_id} has no English cell any more")
    return found


def _markdown_problems(where: str, english: str, japanese: str) -> list[str]:
    found = [f"{where} has English-only prose: {line!r}" for line in english_only_lines(japanese)]
    en_code = [(lang, without_comments(body)) for lang, body in fenced_blocks(english)
               if lang != "mermaid"]
    ja_code = [(lang, without_comments(body)) for lang, body in fenced_blocks(japanese)
               if lang != "mermaid"]
    if en_code != ja_code:
        found.append(f"{where}: its code blocks differ from the English ones (beyond comments)")
    en_mermaid = sum(lang == "mermaid" for lang, _ in fenced_blocks(english))
    if en_mermaid != sum(lang == "mermaid" for lang, _ in fenced_blocks(japanese)):
        found.append(f"{where}: it must keep the English cell's {en_mermaid} mermaid diagram(s)")
    return found


def build(english: Path) -> dict:
    """The Japanese notebook: the English one with translated prose (and comments)."""
    notebook = read_notebook(english)
    entries = read_entries(english)
    for cell in notebook["cells"]:
        entry = entries.get(cell["id"])
        if entry is not None:
            text = join_japanese_lines(entry.text) if entry.kind == "cell" else entry.text
            cell["source"] = text.splitlines(keepends=True)
    notebook["metadata"]["chatlib_edition"] = {
        "language": "ja",
        "translated_from": f"../{english.name}",
        "built_by": "notebooks/ja/edition.py build (do not edit this notebook by hand)",
    }
    return notebook


def render(notebook: dict) -> str:
    """The notebook as nbformat writes it, so a rebuild of an unchanged edition is a no-op."""
    return json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def skeleton(english: Path) -> int:
    """Append an entry holding the English text for every untranslated markdown cell, with
    links already pointing one folder further up; the translator replaces the English."""
    entries = read_entries(english)
    path = translation_path(english)
    added = []
    for cell in read_notebook(english)["cells"]:
        if cell["cell_type"] != "markdown" or cell["id"] in entries:
            continue
        source = cell_source(cell)
        text = re.sub(r"\]\(\.\./", "](../../", source)
        added.append(f"<!-- cell {cell['id']} en:{source_hash(source)} -->\n{text}\n")
    if added:
        path.parent.mkdir(parents=True, exist_ok=True)
        existing = path.read_text(encoding="utf-8").rstrip("\n") + "\n\n" if path.exists() else ""
        path.write_text(existing + "\n".join(added), encoding="utf-8")
    return len(added)


def _select(numbers: list[str]) -> list[Path]:
    chosen = [p for p in english_notebooks() if not numbers or p.name[:2] in numbers]
    if numbers and len(chosen) != len(numbers):
        raise SystemExit(f"no such notebook among {numbers}")
    return chosen


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"check", "todo", "code", "skeleton", "build"}:
        print(__doc__)
        return 2
    command, notebooks = argv[0], _select(argv[1:])
    if command == "skeleton":
        for english in notebooks:
            print(f"{translation_path(english).name}: {skeleton(english)} entries added")
        return 0
    if command == "todo":
        for english in notebooks:
            entries = read_entries(english)
            for cell in read_notebook(english)["cells"]:
                entry, source = entries.get(cell["id"]), cell_source(cell)
                kind = "cell" if cell["cell_type"] == "markdown" else "code"
                stale = entry is not None and entry.en_hash != source_hash(source)
                if stale or (entry is None and kind == "cell"):
                    print(f"<!-- {kind} {cell['id']} en:{source_hash(source)} -->\n{source}\n")
        return 0
    if command == "code":
        for english in notebooks:
            for cell in read_notebook(english)["cells"]:
                if cell["cell_type"] == "code":
                    source = cell_source(cell)
                    print(f"<!-- code {cell['id']} en:{source_hash(source)} -->\n{source}\n")
        return 0
    found = [problem for english in notebooks for problem in problems(english)]
    for problem in found:
        print(problem)
    if found:
        print(f"edition: {len(found)} problem(s); nothing built")
        return 1
    if command == "build":
        for english in notebooks:
            japanese_path(english).write_text(render(build(english)), encoding="utf-8")
            print(f"edition: wrote {japanese_path(english).relative_to(ENGLISH.parent)}")
    else:
        print(f"edition: {len(notebooks)} notebook(s) translated and up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
