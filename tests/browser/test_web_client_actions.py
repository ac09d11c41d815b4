"""Message actions in the web client (issue 14), between two real users on the real backend.

Edit (with the "edited" mark), reactions with counts, a reply whose quote scrolls to its
parent (paging back for it), a deleted parent, and one search box over all conversations.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Request, expect

from tests.browser.liveserver import LiveServer
from tests.browser.pages import (
    EXPECT_TIMEOUT_MS,
    PASSWORD,
    conversation_with,
    log_in,
    message,
    messages,
    open_page,
    send,
)

pytestmark = pytest.mark.browser

THUMBS = "👍"


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    made = [browser.new_context(viewport={"width": 1100, "height": 760}) for _ in range(2)]
    yield made
    for context in made:
        context.close()


def test_edit_react_reply_and_search_between_two_people(server: LiveServer, contexts: list[BrowserContext]) -> None:
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    alice = server.register("alice_x", PASSWORD)
    bob = server.register("bob_x", PASSWORD)
    carol = server.register("carol_x", PASSWORD)
    dave = server.register("dave_x", PASSWORD)
    server.send(carol["access"], alice["user"]["id"], "The <b>Needle</b> is in the haystack")
    server.send(carol["access"], dave["user"]["id"], "a needle Alice must never see")

    errors: list[str] = []
    a = open_page(contexts[0], server, errors)
    b = open_page(contexts[1], server, errors)
    log_in(a, "alice_x")
    log_in(b, "bob_x")
    a.fill("#search-input", "bob_x")
    a.locator('#search-results .person[data-username="bob_x"]').click()
    send(a, "hello bob")
    conversation_with(b, "alice_x").click()
    expect(messages(b)).to_have_text(["hello bob"])

    # Edit: only on my own messages; the composer says what it is doing; both see the new
    # text with an "edited" mark.
    expect(message(b, "hello bob").locator(".edit")).to_have_count(0)
    mine = message(a, "hello bob")
    mine.hover()
    mine.locator(".edit").click()
    expect(a.locator("#composer-context-label")).to_have_text("Editing your message")
    expect(a.locator("#composer-input")).to_have_value("hello bob")
    a.fill("#composer-input", "hello Bob, edited")
    a.press("#composer-input", "Enter")
    expect(a.locator("#composer-context")).to_be_hidden()
    for page in (a, b):
        edited = message(page, "hello Bob, edited")
        expect(edited.locator(".edited")).to_be_visible()
        expect(edited.locator(".edited")).to_have_text("edited")
    expect(messages(a)).to_have_count(1)  # edited in place, not sent again
    expect(conversation_with(b, "alice_x").locator(".preview")).to_have_text("hello Bob, edited")

    # Reactions: Bob picks one, Alice adds the same, Bob takes his back; counts follow on both.
    mine = message(a, "hello Bob, edited")
    theirs = message(b, "hello Bob, edited")
    theirs.hover()
    theirs.locator(".react").click()
    theirs.locator(f'.picker .pick[data-emoji="{THUMBS}"]').click()
    for page in (a, b):
        expect(message(page, "hello Bob, edited").locator(f'.reaction[data-emoji="{THUMBS}"] .count')).to_have_text("1")
    expect(theirs.locator(".reaction")).to_have_attribute("aria-pressed", "true")
    expect(mine.locator(".reaction")).to_have_attribute("aria-pressed", "false")
    mine.locator(f'.reaction[data-emoji="{THUMBS}"]').click()
    for page in (a, b):
        expect(message(page, "hello Bob, edited").locator(".reaction .count")).to_have_text("2")
    theirs.locator(f'.reaction[data-emoji="{THUMBS}"]').click()
    for page in (a, b):
        expect(message(page, "hello Bob, edited").locator(".reaction .count")).to_have_text("1")
    expect(theirs.locator(".reaction")).to_have_attribute("aria-pressed", "false")
    expect(mine.locator(".reaction")).to_have_attribute("aria-pressed", "true")

    # Reply: a page and more of messages later, Bob replies to that first message.
    for n in range(1, 36):
        server.send(alice["access"], bob["user"]["id"], f"filler {n:02d}")
    expect(messages(b).last).to_have_text("filler 35")
    theirs.hover()
    theirs.locator(".reply").click()
    expect(b.locator("#composer-context-label")).to_have_text("Replying to alice_x")
    send(b, "replying to your first")
    reply = message(a, "replying to your first")
    expect(reply.locator(".reply-quote .quote-text")).to_have_text("hello Bob, edited")
    expect(reply.locator(".reply-quote .quote-name")).to_have_text("You")

    # After a reload Alice holds only the newest page; the quote pages back to its parent.
    a.reload()
    expect(messages(a).last).to_have_text("replying to your first")
    expect(message(a, "hello Bob, edited")).to_have_count(0)
    message(a, "replying to your first").locator(".reply-quote").click()
    parent = message(a, "hello Bob, edited")
    expect(parent).to_be_in_viewport()
    expect(parent).to_have_class("message mine flash")

    # Search over all of Alice's conversations: newest first, case-insensitive, markup as text,
    # never another pair's conversation. A hit opens its conversation at that message.
    send(b, "the NEEDLE again")
    expect(messages(a).last).to_have_text("the NEEDLE again")
    a.fill("#search-input", "needle")
    hits = a.locator("#message-result-list .message-hit")
    expect(hits).to_have_count(2)
    expect(hits.locator(".preview")).to_have_text(["the NEEDLE again", "The <b>Needle</b> is in the haystack"])
    expect(hits.first.locator("mark")).to_have_text("NEEDLE")
    expect(hits.first.locator(".name")).to_have_text("bob_x")
    assert a.locator("#message-results b").count() == 0
    hits.last.click()
    expect(a.locator("#peer-name")).to_have_text("carol_x")
    expect(message(a, "The <b>Needle</b> is in the haystack")).to_be_in_viewport()
    expect(a.locator("#message-results")).to_be_hidden()

    # A deleted parent: the reply stays and says so, live and after a reload.
    conversation_with(a, "bob_x").click()
    message(a, "replying to your first").locator(".reply-quote").click()
    parent = message(a, "hello Bob, edited")
    parent.hover()
    parent.locator(".delete").click()
    parent.locator(".confirm-delete").click()
    quote = message(b, "replying to your first").locator(".reply-quote")
    expect(quote.locator(".quote-text")).to_have_text("Deleted message")
    b.reload()
    expect(quote.locator(".quote-text")).to_have_text("Deleted message")
    # Nothing to go to: no paging back through history for it. A page request would leave at
    # the click, so it would be seen before Bob's next message has gone round.
    paging: list[str] = []

    def note_paging(request: Request) -> None:
        if "before=" in request.url and "before=9223372036854775807" not in request.url:
            paging.append(request.url)

    b.on("request", note_paging)
    quote.click()
    send(b, "after the quote")
    expect(messages(a).last).to_have_text("after the quote")
    assert paging == [], paging
    expect(b.locator("#notice")).to_be_hidden()

    assert errors == [], errors
