"""The Japanese edition's style, as far as a machine can check it (issue 26).

The rules are the style sheet ``notebooks/ja/style.md`` (表記の規則); these tests hold the
edition to the parts of it that are not a matter of taste: code comments in Japanese (the
``TODO`` the exercise checks look for kept), one title per notebook wherever it is linked, no
「あなた」, none of the words the style sheet replaced, and the edition's frequent technical terms
in the glossary or the style sheet's names.
"""

from __future__ import annotations

import io
import json
import re
import tokenize

import pytest
from notebook_files import NOTEBOOKS, ROOT

JA = ROOT / "notebooks" / "ja"
GLOSSARY = (JA / "glossary.md").read_text(encoding="utf-8")
STYLE = (JA / "style.md").read_text(encoding="utf-8")
JAPANESE = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uff01-\uff60]")
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```", re.M | re.S)
PROSE_FILES = [
    *sorted((JA / "translations").glob("*.md")),
    ROOT / "README.ja.md",
    *sorted((ROOT / "docs").glob("*.ja.md")),
]


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell) -> str:
    return "".join(cell["source"])


def _comments(code: str) -> list[str]:
    lines = [
        f"_ = {line!r}" if line.lstrip().startswith(("%", "!")) else line
        for line in code.splitlines()
    ]
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return []
    return [t.string for t in tokens if t.type == tokenize.COMMENT]


def _english_only(comment: str) -> bool:
    text = comment.lstrip("#").strip()
    return (
        not JAPANESE.search(text)
        and not text.startswith(("noqa", "type:"))
        and bool(re.search(r"[a-z]{2,}\s+[a-z]{2,}", text))
    )


@pytest.mark.parametrize("english", NOTEBOOKS, ids=lambda p: p.name)
def test_code_comments_are_japanese_and_scaffolds_keep_their_todo(english):
    """Comments in code cells and in solutions' code blocks are translated; a scaffold line
    keeps the word TODO, which chatlib/course/nbNN.py looks for to say "Not answered yet"."""
    japanese = JA / english.name
    english_only = []
    for en, ja in zip(_cells(english), _cells(japanese), strict=True):
        if ja["cell_type"] == "code":
            english_only += [c for c in _comments(_source(ja)) if _english_only(c)]
            assert _source(ja).count("TODO") == _source(en).count("TODO"), ja["id"]
        else:
            for lang, body in FENCE.findall(_source(ja)):
                if lang.strip() == "python":
                    english_only += [c for c in _comments(body) if _english_only(c)]
    assert english_only == []


def _titles() -> dict[str, str]:
    section = STYLE.split("## 名前", 1)[1]
    return dict(re.findall(r"^\s*\| (\d\d) \| ([^|]+?) \|$", section, re.M))


def test_each_notebook_has_one_title_wherever_it_is_linked():
    titles = _titles()
    assert sorted(titles) == sorted(p.name[:2] for p in NOTEBOOKS)
    texts = {
        path.name: path.read_text(encoding="utf-8")
        for path in (ROOT / "README.ja.md", *sorted((ROOT / "docs").glob("*.ja.md")))
    }
    for path in sorted(JA.glob("[0-9][0-9]_*.ipynb")):
        cells = _cells(path)
        heading = _source(cells[0]).splitlines()[0]
        assert titles[path.name[:2]] in heading, (path.name, heading)
        texts[path.name] = "\n".join(_source(c) for c in cells if c["cell_type"] == "markdown")
    wrong = [
        (name, text, number)
        for name, document in texts.items()
        for text, number in re.findall(
            r"\[([^\]]+)\]\((?:[./]*|notebooks/ja/)(\d\d)_[a-z_]+\.ipynb\)", document
        )
        if text not in (titles[number], f"{number} {titles[number]}")
    ]
    assert wrong == []


def _prose(path) -> str:
    text = path.read_text(encoding="utf-8")
    return re.sub(r"「[^」\n]*」", "", text)  # quoted speech may say anything


def test_no_anata_outside_quoted_speech():
    assert [p.name for p in PROSE_FILES if "あなた" in _prose(p)] == []


# The style sheet's one name per thing, and the literal English it replaced.
AVOIDED = (
    "本物の AWS|配線|話しかけ|黙らせ|幽霊|モデル化していません|素朴な|"
    "ライブクライアント|名前を挙げ|こと、それは|参照解答|参照用の解答|"
    "チェックは|チェックのコード|[AWS ドキュメント]|概要とセットアップ"
).split("|")


@pytest.mark.parametrize("path", PROSE_FILES, ids=lambda p: p.name)
def test_the_words_the_style_sheet_replaced_are_gone(path):
    text = path.read_text(encoding="utf-8")
    assert [word for word in AVOIDED if word in text] == []


# Ordinary loanwords a Japanese reader needs no glossary for.
EVERYDAY = set(
    "ユーザー モジュール セキュリティ アクション ソケット パッケージ バージョン "
    "ターミナル リクエスト ハッシュ メンバー アップロード ステータス ヘッダー "
    "フィールド サンプル シナリオ ネットワーク アルゴリズム インストール "
    "アーキテクチャ インポート ブロック デフォルト エントリー".split()
)


def test_the_editions_frequent_technical_terms_are_in_the_glossary():
    counts: dict[str, int] = {}
    for path in PROSE_FILES:
        prose = FENCE.sub("", path.read_text(encoding="utf-8"))
        for word in re.findall(r"[ァ-ヴー]{4,}", prose):
            counts[word] = counts.get(word, 0) + 1
    missing = sorted(
        w for w, n in counts.items() if n >= 5 and w not in GLOSSARY + STYLE and w not in EVERYDAY
    )
    assert missing == []
