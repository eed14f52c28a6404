"""Tokens for a whole class: one per learner from a roster, each delivered as a join link.

A roster is a text file, one learner a line: a user id, then the rooms that learner may join
(``alice blue green``); a line without rooms gets the rooms given on the command line; blank
lines and ``#`` comments are skipped. Each learner's link opens the browser chat page with the
token in the URL *fragment* (``…/chat?url=…&room=blue#token=eyJ…``): a browser never sends a
fragment to a server, so the token reaches no server log, and the page reads it from there
and then removes it from the address bar.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

__all__ = ["Learner", "join_link", "read_roster", "write_join_links"]


@dataclass(frozen=True)
class Learner:
    user_id: str
    rooms: tuple[str, ...]


def read_roster(text: str, default_rooms: Iterable[str]) -> list[Learner]:
    """The learners a roster names; ``ValueError`` saying which line is unusable."""
    defaults = tuple(default_rooms)
    learners: list[Learner] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        rooms = tuple(words[1:]) or defaults
        if not rooms:
            raise ValueError(f"line {number} ({words[0]}) names no room, and no --room was given")
        learners.append(Learner(words[0], rooms))
    if not learners:
        raise ValueError("the roster names no learner")
    seen: set[str] = set()
    for learner in learners:
        if learner.user_id in seen:
            raise ValueError(f"{learner.user_id} is in the roster twice")
        seen.add(learner.user_id)
    return learners


def join_link(page_url: str, *, room: str, token: str) -> str:
    """The chat page for ``room``, with ``token`` in the fragment (never sent to a server)."""
    page = page_url.split("#", 1)[0]
    separator = "&" if "?" in page else "?"
    return f"{page}{separator}{urlencode({'room': room})}#{urlencode({'token': token})}"


def write_join_links(
    learners: list[Learner],
    *,
    page_url: str,
    out_dir: Path,
    mint: Callable[[Learner], str],
) -> list[Path]:
    """Mint a token per learner and write their join link to ``out_dir/<user>.txt``, readable
    by the owner only (the link is the learner's password until it expires)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for learner in learners:
        link = join_link(page_url, room=learner.rooms[0], token=mint(learner))
        path = out_dir / f"{learner.user_id}.txt"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(link + "\n")
        written.append(path)
    return written
