"""Debian's Chromium for the browser tests, launched the one way they all need.

Headless, no sandbox (containers run as root), and nothing that reaches the internet on its own
(no background networking, component updates, sync or QUIC), so a test sees only the pages it
opens. ``CHROMIUM`` is ``None`` where no Chromium is installed: tests skip and say so.
"""

from __future__ import annotations

import shutil

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SKIP_REASON = "no Chromium on this machine: apt-get install chromium to run it"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright):
    """A headless Chromium browser from a started ``sync_playwright()``."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
