"""The browser chat page in a real headless Chromium, driven by Playwright: chatting, a refused
handshake, tokens as a subprotocol, and what notebook 05 teaches a client: keep alive and
reconnect to the same room after the server drops the connection.

Needs Debian's Chromium (``apt-get install chromium``; ``.ci/run`` installs it). Where no
Chromium can be found the test is skipped and says so. A screenshot of the conversation is
written to ``test-artifacts/browser-chat.png``.
"""

from __future__ import annotations

from pathlib import Path

import boto3
import chromium
import pytest
from chat_deployments import deploy_test_chat
from gateway_helpers import PROBE, wait_for

from chatlib import ConnectionStore

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

pytestmark = pytest.mark.skipif(chromium.CHROMIUM is None, reason=chromium.SKIP_REASON)


@pytest.fixture
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = chromium.launch(playwright)
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


def connection_ids(table, user):
    return [c.connection_id for c in ConnectionStore(table).user_connections(user)]


def drop_connection(stack, url, connection_id):
    """The server drops the TCP connection without a close frame, as a network drop does."""
    api_id, stage = url.rsplit("/", 2)[1:]

    async def abort():
        stack.gateway.registry.open(connection_id, api_id, stage).websocket.transport.abort()

    stack.run(abort())


def test_a_dropped_page_reconnects_to_its_room_by_itself_and_chats_again(stack, browser):
    url, table, _ = deploy_test_chat(stack)
    api_id, stage = url.rsplit("/", 2)[1:]
    page_url = stack.gateway.chat_page_url(api_id, stage)
    alice = open_chat(browser, page_url + "&backoff=0.5", "alice", "blue")
    bob = open_chat(browser, page_url, "bob", "blue")
    [first] = wait_for(lambda: connection_ids(table, "alice"))

    drop_connection(stack, url, first)
    alice.wait_for_selector("#log .info:has-text('reconnected to blue as alice')", timeout=15_000)
    assert "connection lost (1006)" in alice.inner_text("#log")
    assert alice.inner_text("#state") == "open"
    # the old row went with its $disconnect; the new connection has a row of its own
    # (until its $disconnect has run, the table holds both rows: wait for the new one alone)
    [second] = wait_for(lambda: (ids := connection_ids(table, "alice")) != [first]
                        and len(ids) == 1 and ids)  # fmt: skip
    assert second != first

    alice.fill("#text", "back again")
    alice.press("#text", "Enter")
    bob.wait_for_selector("#log .message:has-text('back again')", timeout=10_000)
    bob.fill("#text", "welcome back")
    bob.press("#text", "Enter")
    alice.wait_for_selector("#log .message:has-text('welcome back')", timeout=10_000)


def test_a_quiet_page_keeps_its_connection_alive_without_showing_it(stack, browser):
    """Keep-alive frames every 0.2 s against an idle time-out shortened to 1 s (AWS: 10 min,
    the page's default interval 5 min): the connection outlives several time-outs, and the
    help frames that answer the keep-alives stay out of the conversation."""
    url, table, prefix = deploy_test_chat(stack)
    api_id, stage = url.rsplit("/", 2)[1:]
    page_url = stack.gateway.chat_page_url(api_id, stage)
    original = stack.gateway.options.idle_timeout
    stack.gateway.options.idle_timeout = 1.0
    try:
        carol = open_chat(browser, page_url + "&keepalive=0.2", "carol", "blue")
        [first] = wait_for(lambda: connection_ids(table, "carol"))

        def keepalives():
            return [
                record
                for record in stack.invocations(f"{prefix}-default")
                if record["connectionId"] == first
            ]

        wait_for(lambda: len(keepalives()) >= 15, timeout=20)  # 3 s: three idle time-outs
    finally:
        stack.gateway.options.idle_timeout = original
    assert connection_ids(table, "carol") == [first]
    assert carol.inner_text("#state") == "open"
    assert "keep-alive answered" in carol.inner_text("#detail")
    assert carol.inner_text("#log").strip() == "connected to blue as carol"


def test_a_page_whose_keepalive_goes_unanswered_drops_the_connection_and_reconnects(stack, browser):
    """A connection that looks open but carries nothing back (half-open from the page's side)
    is found by the keep-alive: here ``$default`` answers nothing, so no frame comes back."""
    url, table, _ = deploy_test_chat(stack, replace={"$default": f"{PROBE}.disconnect"})
    api_id, stage = url.rsplit("/", 2)[1:]
    page_url = stack.gateway.chat_page_url(api_id, stage)
    dave = open_chat(browser, page_url + "&keepalive=0.3&answer=0.5&backoff=0.2", "dave", "blue")
    [first] = wait_for(lambda: connection_ids(table, "dave"))
    dave.wait_for_selector("#log .info:has-text('reconnected to blue as dave')", timeout=15_000)
    assert "No answer to the keep-alive" in dave.inner_text("#log")
    assert first not in wait_for(
        lambda: connection_ids(table, "dave") != [first] and connection_ids(table, "dave")
    )


def test_a_page_closed_by_the_server_on_purpose_stays_closed(stack, browser):
    """A moderator's kick (DELETE @connections: a normal closure, 1000) is not a drop: the page
    does not come back, or the kick of notebook 05 would undo itself."""
    url, table, _ = deploy_test_chat(stack)
    api_id, stage = url.rsplit("/", 2)[1:]
    page = open_chat(
        browser, stack.gateway.chat_page_url(api_id, stage) + "&backoff=0.2", "troll", "blue"
    )
    [connection_id] = wait_for(lambda: connection_ids(table, "troll"))
    boto3.client(
        "apigatewaymanagementapi", endpoint_url=stack.gateway.connections_url(api_id, stage)
    ).delete_connection(ConnectionId=connection_id)
    page.wait_for_selector("#log .info:has-text('closed by the server')", timeout=10_000)
    # "closed", not "reconnecting": no attempt was scheduled (scheduling one shows at once)
    assert page.inner_text("#state") == "closed"
    assert "reconnect" not in page.inner_text("#log")
    wait_for(lambda: not connection_ids(table, "troll"))  # $disconnect removed its row
