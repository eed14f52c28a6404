"""The browser chat page in a real headless Chromium, driven by Playwright.

Needs Debian's Chromium (``apt-get install chromium``; ``.ci/run`` installs it). Where no
Chromium can be found the test is skipped and says so. A screenshot of the conversation is
written to ``test-artifacts/browser-chat.png``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from chat_deployments import deploy_test_chat

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on this machine: apt-get install chromium to run it"
)


@pytest.fixture
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


def open_chat(browser, page_url, user, room, *, token=None, expect="#state.open"):
    page = browser.new_page()
    page.goto(page_url)
    page.fill("#user", user)
    page.fill("#room", room)
    if token:  # as a browser must send it: a subprotocol, the only header it may set
        page.fill("#token", token)
        page.check("#as-protocol")
    page.click("#connect")
    page.wait_for_selector(expect, timeout=10_000)
    return page


def test_two_pages_in_a_room_chat_and_a_page_elsewhere_hears_nothing(stack, browser):
    url, _, _ = deploy_test_chat(stack)
    api_id, stage = url.rsplit("/", 2)[1:]
    page_url = stack.gateway.chat_page_url(api_id, stage)
    alice = open_chat(browser, page_url, "alice", "blue")
    bob = open_chat(browser, page_url, "bob", "blue")
    carol = open_chat(browser, page_url, "carol", "green")

    alice.fill("#text", "hello from the browser")
    alice.press("#text", "Enter")
    bob.wait_for_selector("#log .message:has-text('hello from the browser')", timeout=10_000)
    bob.fill("#text", "hi alice")
    bob.click("#send")
    alice.wait_for_selector("#log .message:has-text('hi alice')", timeout=10_000)
    assert "[blue] alice: hello from the browser" in bob.inner_text("#log")

    carol.wait_for_timeout(500)
    assert "hello from the browser" not in carol.inner_text("#log")
    assert "hi alice" not in carol.inner_text("#log")

    ARTIFACTS.mkdir(exist_ok=True)
    alice.screenshot(path=str(ARTIFACTS / "browser-chat.png"), full_page=True)


def test_a_refused_connection_is_shown_on_the_page(stack, browser):
    url, _, _ = deploy_test_chat(stack)
    api_id, stage = url.rsplit("/", 2)[1:]
    page = browser.new_page()
    page.goto(stack.gateway.chat_page_url(api_id, stage))
    page.fill("#room", "not a room")
    page.click("#connect")
    page.wait_for_selector("#log .error", timeout=10_000)
    assert "refused the connection" in page.inner_text("#log")
    assert page.inner_text("#state") == "closed"


def test_browsers_join_the_auth_step_with_the_token_as_a_subprotocol(stack, browser):
    """Chromium drops a handshake whose subprotocol is not echoed: this proves the echo, and
    that a browser gets in only where its token allows."""
    from chatlib import issue_token
    from chatlib.deploy import CHAT_TEMPLATE, deploy_stack, teardown_stack

    template = CHAT_TEMPLATE
    name = "browser-auth"
    result = deploy_stack(
        template, stack_name=name, parameters={"Step": "auth"}, progress=lambda _: None
    )
    try:
        url = stack.local_url(result.outputs["WebSocketUrl"])
        api_id, stage = url.rsplit("/", 2)[1:]
        page_url = stack.gateway.chat_page_url(api_id, stage)
        tokens = {
            user: issue_token(stack_name=name, user_id=user, rooms=rooms)
            for user, rooms in {"alice": ["blue"], "bob": ["blue"], "eve": ["green"]}.items()
        }
        alice = open_chat(browser, page_url, "ignored", "blue", token=tokens["alice"])
        bob = open_chat(browser, page_url, "ignored", "blue", token=tokens["bob"])
        alice.fill("#text", "signed in")
        alice.press("#text", "Enter")
        bob.wait_for_selector("#log .message:has-text('signed in')", timeout=10_000)
        assert "[blue] alice: signed in" in bob.inner_text("#log")
        eve = open_chat(browser, page_url, "eve", "blue", token=tokens["eve"], expect="#log .error")
        assert "refused the connection" in eve.inner_text("#log")

        # a learner's join link: the token in the fragment, read by the page, then removed
        from chatlib.tools.classroom import join_link

        learner = browser.new_page()
        learner.goto(join_link(page_url, room="blue", token=tokens["bob"]))
        assert "#" not in learner.url and "token" not in learner.url
        assert learner.input_value("#user") == "bob" and learner.input_value("#room") == "blue"
        learner.click("#connect")
        learner.wait_for_selector("#state.open", timeout=10_000)
        alice.fill("#text", "welcome, bob")
        alice.press("#text", "Enter")
        learner.wait_for_selector("#log .message:has-text('welcome, bob')", timeout=10_000)
    finally:
        teardown_stack(name, progress=lambda _: None)
