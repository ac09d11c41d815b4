"""The web client at `/` in headless Chromium: two people chat live through the real server.

One long scenario rather than many small ones: each step needs the state the previous
one built (accounts, an open conversation, live sockets), and a fresh browser per
behaviour would multiply the run time for nothing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.liveserver import LiveServer
from tests.browser.pages import (
    EXPECT_TIMEOUT_MS,
    PASSWORD,
    conversation_with,
    log_in,
    messages,
    open_page,
    register,
    send,
)

pytestmark = pytest.mark.browser

XSS = "<script>window.__xss=1</script><b>bold</b>"
STORED = re.compile(r"^(sent|delivered)$")  # stored; delivered as soon as the other page has it


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    made = [browser.new_context(viewport={"width": 1100, "height": 760}) for _ in range(2)]
    yield made
    for context in made:
        context.close()


def access_token(page: Page) -> str:
    return str(page.evaluate("JSON.parse(sessionStorage.getItem('chat.tokens')).access"))


def spoil_access_token(page: Page) -> None:
    """Replace the stored access token with one the server refuses (as an expired one would be)."""
    page.evaluate(
        """() => {
            const tokens = JSON.parse(sessionStorage.getItem("chat.tokens"));
            sessionStorage.setItem("chat.tokens", JSON.stringify({ ...tokens, access: "spoiled" }));
        }"""
    )


def test_two_people_chat_live_in_the_web_client(server: LiveServer, contexts: list[BrowserContext]) -> None:
    started = time.monotonic()
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    alice = server.register("alice_w", PASSWORD)
    carol = server.register("carol_w", PASSWORD)
    for n in range(1, 41):  # more than one page of history, for scroll-back
        server.send(carol["access"], alice["user"]["id"], f"history {n:02d}")

    errors: list[str] = []
    a = open_page(contexts[0], server, errors)
    b = open_page(contexts[1], server, errors)

    # Static files are served and styled: the stylesheet applied (hidden views stay hidden).
    expect(a.locator("#auth-view")).to_be_visible()
    expect(a.locator("#chat-view")).to_be_hidden()

    # Bob registers in the page; Alice logs in.
    register(b, "bob_w")
    log_in(a, "alice_w")
    expect(a.locator("#connection")).to_have_attribute("data-state", "open")

    # The conversation list shows Carol's unread badge and her offline dot.
    carol_item = conversation_with(a, "carol_w")
    expect(carol_item).to_have_attribute("data-unread", "40")
    expect(carol_item.locator(".badge")).to_contain_text("40")
    expect(carol_item.locator(".dot")).not_to_have_class(re.compile("online"))

    # Opening it shows the newest page; scrolling to the top loads the older messages.
    carol_item.click()
    expect(messages(a)).to_have_count(30)
    expect(messages(a).last).to_have_text("history 40")
    a.locator("#messages").evaluate("el => { el.scrollTop = 0; }")
    expect(messages(a)).to_have_count(40)
    expect(messages(a).first).to_have_text("history 01")
    expect(carol_item).to_have_attribute("data-unread", "0")  # read while open and visible

    # Alice finds Bob by searching and starts a chat with the first message.
    a.fill("#search-input", "bob_")
    a.locator('#search-results .person[data-username="bob_w"]').click()
    expect(a.locator("#peer-name")).to_have_text("bob_w")
    expect(a.locator("#empty-conversation")).to_be_visible()
    send(a, "Hello Bob")
    expect(a.locator(".message.mine").last.locator(".receipt")).to_have_attribute("data-receipt", STORED)

    # Bob's list gains the conversation with an unread badge; Alice shows as online.
    bob_item = conversation_with(b, "alice_w")
    expect(bob_item).to_have_attribute("data-unread", "1")
    expect(bob_item.locator(".dot")).to_have_class(re.compile("online"))
    expect(conversation_with(a, "bob_w").locator(".dot")).to_have_class(re.compile("online"))

    # Bob opens it: he sees the message, and Alice sees her read receipt.
    bob_item.click()
    expect(messages(b)).to_have_text(["Hello Bob"])
    expect(a.locator(".message.mine").last.locator(".receipt")).to_have_attribute("data-receipt", "read")
    expect(bob_item).to_have_attribute("data-unread", "0")

    # Typing: Bob sees "alice_w is typing…", which goes away when Alice pauses.
    a.locator("#composer-input").press_sequentially("Are you there?", delay=15)
    expect(b.locator("#typing")).to_have_text("alice_w is typing…")
    # Gone after Alice's pause (stop_typing), well before the 6 s fallback would hide it.
    expect(b.locator("#typing")).to_have_text("", timeout=4000)
    a.press("#composer-input", "Enter")
    expect(messages(b).last).to_have_text("Are you there?")

    # Bob answers; Alice gets it live.
    send(b, "Yes, here!")
    expect(a.locator(".message.theirs .content").last).to_have_text("Yes, here!")

    # Markup in a message is shown as text on both sides, never run or parsed.
    send(a, XSS)
    for page, other in ((a, "bob_w"), (b, "alice_w")):
        expect(messages(page).last).to_have_text(XSS)
        expect(conversation_with(page, other).locator(".preview")).to_have_text(XSS)
        assert page.evaluate("typeof window.__xss") == "undefined"
        assert page.locator("#chat-view b, #chat-view script").count() == 0

    # Alice deletes her own message; it disappears for both. Bob has no delete button on it.
    send(a, "delete me")
    expect(messages(b).last).to_have_text("delete me")
    expect(b.locator(".message", has_text="delete me").locator(".delete")).to_have_count(0)
    mine = a.locator(".message.mine", has_text="delete me")
    mine.hover()
    mine.locator(".delete").click()
    mine.locator(".confirm-delete").click()
    for page in (a, b):
        expect(page.locator(".message", has_text="delete me")).to_have_count(0)

    # Bob's network drops: messages sent while he is away appear after the reconnect, once each.
    contexts[1].set_offline(True)
    expect(b.locator("#connection")).to_have_attribute("data-state", "reconnecting")
    expect(b.locator("#connection")).to_be_visible()
    send(a, "while you were away 1")
    send(a, "while you were away 2")
    expect(a.locator(".message.mine .receipt").last).to_have_attribute("data-receipt", STORED)
    contexts[1].set_offline(False)
    expect(b.locator("#connection")).to_have_attribute("data-state", "open")
    expect(b.locator(".message .content", has_text="while you were away")).to_have_count(2)
    expect(messages(b).last).to_have_text("while you were away 2")
    ids = b.locator("#message-list .message").evaluate_all("nodes => nodes.map(n => n.dataset.id)")
    assert len(ids) == len(set(ids)), ids
    expect(a.locator(".message.mine .receipt").last).to_have_attribute("data-receipt", "read")

    # Live again after the reconnect, in both directions.
    send(b, "back online")
    expect(a.locator(".message.theirs .content").last).to_have_text("back online")

    # An access token that stopped working is refreshed: by the socket, when the server
    # refuses it on reconnecting (4401)...
    b.wait_for_timeout(500)  # let debounced list reloads finish, so only the socket meets the bad token
    spoil_access_token(b)
    contexts[1].set_offline(True)
    contexts[1].set_offline(False)
    expect(b.locator("#connection")).to_have_attribute("data-state", "open")
    assert access_token(b) != "spoiled"
    send(a, "token renewed")
    expect(messages(b).last).to_have_text("token renewed")
    # ...and by a REST call that got a 401.
    spoil_access_token(b)
    b.fill("#search-input", "carol")
    expect(b.locator('#search-results .person[data-username="carol_w"]')).to_be_visible()
    assert access_token(b) != "spoiled"

    # Logging out forgets the tokens; Alice's dot for Bob follows his presence both ways.
    bob_dot = conversation_with(a, "bob_w").locator(".dot")
    b.click("#logout")
    expect(b.locator("#auth-view")).to_be_visible()
    assert b.evaluate("sessionStorage.getItem('chat.tokens')") is None
    expect(bob_dot).not_to_have_class(re.compile("online"))
    expect(a.locator("#peer-status")).to_have_text(re.compile(r"^last seen today at \d"))
    log_in(b, "bob_w")
    expect(bob_dot).to_have_class(re.compile("online"))
    expect(a.locator("#peer-status")).to_have_text("online")

    assert errors == [], errors
    assert time.monotonic() - started < 60


def test_access_token_is_refreshed_before_it_expires(server: LiveServer, browser: Browser) -> None:
    """15-minute access tokens are renewed a minute early, and the open socket is handed the new one."""
    context = browser.new_context()
    try:
        page = context.new_page()
        received: list[str] = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: received.append(str(payload))))
        page.clock.install()
        page.goto(server.url)
        register(page, "dave_w")
        expect(page.locator("#connection")).to_have_attribute("data-state", "open")
        first = access_token(page)

        page.clock.fast_forward("13:50")
        page.wait_for_timeout(300)
        assert access_token(page) == first  # not yet: more than a minute is left

        page.clock.fast_forward("00:20")
        page.wait_for_function(
            "old => JSON.parse(sessionStorage.getItem('chat.tokens')).access !== old", arg=first, timeout=10_000
        )
        deadline = time.monotonic() + 5
        while not any('"expiresAt"' in frame for frame in received) and time.monotonic() < deadline:
            page.wait_for_timeout(50)  # the `authenticate` ack is the only frame that carries expiresAt
        assert any('"expiresAt"' in frame for frame in received), received
        expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    finally:
        context.close()


def test_a_refused_sign_up_says_why_once(server: LiveServer, browser: Browser) -> None:
    """The page shows the envelope's message and then the field errors it does not already say."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(server.url)
        page.click("#login-form [data-show-form=register]")
        page.fill("#register-username", "frank_w")
        page.fill("#register-password", "password")
        page.click("#register-form button[type=submit]")
        expect(page.locator("#auth-error")).to_have_text("password: This password is too common.")

        page.fill("#register-username", "frank_w")
        page.fill("#register-password", "12345678")  # two problems: the message says the first
        page.click("#register-form button[type=submit]")
        expect(page.locator("#auth-error")).to_have_text(
            "password: This password is too common. password: This password is entirely numeric."
        )
    finally:
        context.close()
