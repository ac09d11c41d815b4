"""What people expect of a chat window, in headless Chromium between two real users.

Date separators, times in the list, "last seen", a URL per conversation that survives a
reload, a composer that grows, a confirmation before deleting, and Retry / Discard for a
send the server refused. This module runs its own server with a real (small) rate limit,
so a burst from the page is refused exactly as it would be in production.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests.browser.liveserver import LiveServer, live_server
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

CLOCK = r"\d{1,2}:\d\d(\s?[AP]M)?"  # 14:05 or 2:05 PM, as the locale writes it

# Four sends in any five seconds per user: Alice sends at most four in this test, Bob's burst
# of six gets its fifth and sixth refused.
RATE_LIMIT = "4/5s"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("live-basics"), env={"MESSAGE_RATE_LIMIT": RATE_LIMIT}) as running:
        yield running


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    # UTC in the browser too, so "3 days ago" and "yesterday" fall on the days the test expects.
    made = [browser.new_context(viewport={"width": 1100, "height": 760}, timezone_id="UTC") for _ in range(2)]
    yield made
    for context in made:
        context.close()


def backdate(
    db_path: Path, *, message_id: int | None = None, conversation_id: int | None = None, days: int
) -> datetime:
    """Move a stored message (or a conversation's last activity) into the past, as old history is."""
    when = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days)
    stamp = when.strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(db_path) as db:
        if message_id is not None:
            db.execute("UPDATE chat_message SET created_at = ? WHERE id = ?", (stamp, message_id))
        if conversation_id is not None:
            db.execute("UPDATE chat_conversation SET last_message_at = ? WHERE id = ?", (stamp, conversation_id))
    return when


def test_the_chat_window_basics(server: LiveServer, contexts: list[BrowserContext]) -> None:
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    alice = server.register("alice_b", PASSWORD)
    bob = server.register("bob_b", PASSWORD)
    carol = server.register("carol_b", PASSWORD)
    old = server.send(alice["access"], bob["user"]["id"], "from three days ago")
    server.send(alice["access"], bob["user"]["id"], "from today")
    three_days_ago = backdate(server.db_path, message_id=old["id"], days=3)
    with_carol = server.send(carol["access"], alice["user"]["id"], "yesterday's news")
    backdate(server.db_path, message_id=with_carol["id"], conversation_id=with_carol["conversation_id"], days=1)

    errors: list[str] = []
    a = open_page(contexts[0], server, errors)
    b = open_page(contexts[1], server, errors)
    log_in(a, "alice_b")

    # The list shows when each conversation last moved: the clock today, "Yesterday" before.
    expect(conversation_with(a, "bob_b").locator(".when")).to_have_text(re.compile(rf"^{CLOCK}$"))
    expect(conversation_with(a, "carol_b").locator(".when")).to_have_text("Yesterday")

    # A contact who never connected shows no "last seen"; once Bob has been online and left,
    # Alice sees when, live from the presence event and again after a reload (from REST).
    conversation_with(a, "bob_b").click()
    expect(a.locator("#peer-status")).to_have_text("@bob_b")
    log_in(b, "bob_b")
    expect(a.locator("#peer-status")).to_have_text("online")
    b.click("#logout")
    expect(a.locator("#peer-status")).to_have_text(re.compile(rf"^last seen today at {CLOCK}$"))

    # The open conversation is in the URL: a reload lands on it again, Back goes to the previous one.
    conversation_id = old["conversation_id"]
    expect(a).to_have_url(re.compile(rf"#/c/{conversation_id}$"))
    a.reload()
    expect(a.locator("#peer-name")).to_have_text("bob_b")
    expect(messages(a)).to_have_text(["from three days ago", "from today"])
    expect(a.locator("#peer-status")).to_have_text(re.compile(rf"^last seen today at {CLOCK}$"))
    conversation_with(a, "carol_b").click()
    expect(a.locator("#peer-name")).to_have_text("carol_b")
    a.go_back()
    expect(a.locator("#peer-name")).to_have_text("bob_b")
    expect(a).to_have_url(re.compile(rf"#/c/{conversation_id}$"))

    # Date separators: one before the first message of each day, "Today" for today's.
    days = a.locator("#message-list .day")
    expect(days).to_have_count(2)
    expect(days.first).to_contain_text(three_days_ago.strftime("%A"))
    expect(days.last).to_have_text("Today")
    order = a.locator("#message-list > li").evaluate_all(
        "nodes => nodes.map(n => n.classList.contains('day') ? 'day' : n.querySelector('.content').textContent)"
    )
    assert order == ["day", "from three days ago", "day", "from today"], order

    # The composer grows with its text (Shift+Enter adds a line) and shrinks back after sending.
    composer = a.locator("#composer-input")
    one_line = composer.evaluate("el => el.offsetHeight")
    composer.fill("first line\nsecond line\nthird line")
    grown = composer.evaluate("el => el.offsetHeight")
    assert grown > one_line * 1.8, (one_line, grown)
    assert composer.evaluate("el => el.scrollHeight <= el.clientHeight"), "the text fits without scrolling"
    composer.press("Enter")
    log_in(b, "bob_b")
    conversation_with(b, "alice_b").click()
    expect(messages(b).last).to_have_text("first line\nsecond line\nthird line")
    expect(composer).to_have_value("")
    assert composer.evaluate("el => el.offsetHeight") == one_line

    # Deleting asks first: Cancel keeps the message, Delete removes it for both.
    send(a, "oops")
    expect(messages(b).last).to_have_text("oops")
    mine = message(a, "oops")
    mine.hover()
    mine.locator(".delete").click()
    expect(mine.locator(".confirm")).to_be_visible()
    expect(mine.locator(".cancel-delete")).to_be_focused()
    mine.locator(".cancel-delete").click()
    expect(mine.locator(".confirm")).to_be_hidden()
    expect(message(b, "oops")).to_have_count(1)
    mine.hover()
    mine.locator(".delete").click()
    mine.locator(".confirm-delete").click()
    for page in (a, b):
        expect(message(page, "oops")).to_have_count(0)

    # Bob sends faster than the limit: the refused sends stay on his screen, marked "Not sent",
    # with Retry (usable once Retry-After has passed) and Discard.
    for n in range(1, 7):
        send(b, f"burst {n}")
    expect(message(a, "burst 4")).to_have_count(1)
    refused = [message(b, "burst 5"), message(b, "burst 6")]
    for item in refused:
        expect(item).to_have_attribute("data-state", "failed")
        expect(item.locator(".receipt")).to_have_text(re.compile(r"^Not sent: .*retry in \d+ s"))
        expect(item.locator(".retry")).to_be_disabled()
    refused[1].locator(".discard").click()
    expect(message(b, "burst 6")).to_have_count(0)
    expect(refused[0].locator(".retry")).to_be_enabled()
    refused[0].locator(".retry").click()
    expect(refused[0]).to_have_attribute("data-state", "sent")
    expect(messages(a).last).to_have_text("burst 5")
    expect(message(a, "burst 6")).to_have_count(0)
    b.reload()  # what Bob sees is what the server stored: burst 5 once, burst 6 never
    expect(messages(b).last).to_have_text("burst 5")
    expect(message(b, "burst 5")).to_have_count(1)
    expect(message(b, "burst 6")).to_have_count(0)

    assert errors == [], errors
