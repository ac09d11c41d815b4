"""Conversation state and safety in the web client (issue 15), between two real users.

Ticks (one sent, two delivered, coloured read), block and unblock from the header (a send
while blocked is refused and can be retried after), mute, archive and the "Archived" view,
mark unread from the list, and reporting a message from its menu.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

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


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    made = [browser.new_context(viewport={"width": 1100, "height": 760}) for _ in range(2)]
    yield made
    for context in made:
        context.close()


def receipt(page: Page, text: str) -> Locator:
    return message(page, text).locator(".receipt")


def test_ticks_block_mute_archive_unread_and_report(server: LiveServer, contexts: list[BrowserContext]) -> None:
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    alice = server.register("alice_s", PASSWORD)
    bob = server.register("bob_s", PASSWORD)
    server.send(bob["access"], alice["user"]["id"], "hi alice")

    errors: list[str] = []
    a = open_page(contexts[0], server, errors)
    b = open_page(contexts[1], server, errors)
    log_in(a, "alice_s")
    conversation_with(a, "bob_s").click()
    expect(messages(a)).to_have_text(["hi alice"])

    # One tick: stored, while Bob has no page open.
    send(a, "while you are away")
    expect(receipt(a, "while you are away")).to_have_attribute("data-receipt", "sent")
    expect(receipt(a, "while you are away").locator(".ticks")).to_have_text("✓")
    sent_colour = receipt(a, "while you are away").locator(".ticks").evaluate("el => getComputedStyle(el).color")

    # Two ticks: Bob's page has it (his list, not the conversation), and confirmed delivery.
    log_in(b, "bob_s")
    expect(conversation_with(b, "alice_s")).to_have_attribute("data-unread", "1")
    send(a, "are you there?")
    expect(conversation_with(b, "alice_s")).to_have_attribute("data-unread", "2")
    expect(receipt(a, "are you there?")).to_have_attribute("data-receipt", "delivered")
    expect(receipt(a, "are you there?").locator(".ticks")).to_have_text("✓✓")
    # Delivery is a pointer: everything up to the confirmed message reached Bob's page.
    expect(receipt(a, "while you are away")).to_have_attribute("data-receipt", "delivered")

    # Coloured ticks: Bob opens the conversation and reads both.
    conversation_with(b, "alice_s").click()
    for text in ("while you are away", "are you there?"):
        expect(receipt(a, text)).to_have_attribute("data-receipt", "read")
        expect(receipt(a, text).locator(".ticks")).to_have_text("✓✓")
    read_colour = receipt(a, "are you there?").locator(".ticks").evaluate("el => getComputedStyle(el).color")
    send(b, "yes")  # and live messages in the open room are confirmed as they arrive
    expect(messages(a).last).to_have_text("yes")
    send(a, "good")
    expect(receipt(a, "good")).to_have_attribute("data-receipt", re.compile("^(delivered|read)$"))
    expect(receipt(a, "good")).to_have_attribute("data-receipt", "read")
    assert read_colour != sent_colour, (read_colour, sent_colour)

    # Block from the header: Alice's composer closes, Bob's send is refused and stays on his
    # screen; Alice never gets it. After the unblock, Bob's Retry delivers it.
    a.click("#block-button")
    expect(a.locator("#block-button")).to_have_text("Unblock")
    expect(a.locator("#blocked-banner")).to_contain_text("You blocked this person")
    expect(a.locator("#composer-input")).to_be_disabled()
    expect(a.locator("#peer-status")).not_to_have_text("online")
    send(b, "let me in")
    refused = message(b, "let me in")
    expect(refused).to_have_attribute("data-state", "failed")
    expect(refused.locator(".receipt")).to_have_text("Not sent: You cannot message this user.")
    a.click("#block-button")
    expect(a.locator("#block-button")).to_have_text("Block")
    expect(a.locator("#blocked-banner")).to_be_hidden()
    expect(a.locator("#composer-input")).to_be_enabled()
    refused.locator(".retry").click()
    expect(messages(a).last).to_have_text("let me in")
    expect(message(a, "let me in")).to_have_count(1)

    # Blocked again: after a reload Bob's page knows, and shows Alice offline.
    a.click("#block-button")
    expect(a.locator("#block-button")).to_have_text("Unblock")
    b.reload()
    expect(b.locator("#peer-name")).to_have_text("alice_s")
    expect(b.locator("#blocked-banner")).to_have_text("You cannot message this person.")
    expect(b.locator("#composer-input")).to_be_disabled()
    expect(b.locator("#peer-status")).not_to_have_text("online")
    a.click("#block-button")
    expect(a.locator("#blocked-banner")).to_be_hidden()
    expect(b.locator("#blocked-banner")).to_be_hidden()  # told by the presence the unblock brings
    expect(b.locator("#composer-input")).to_be_enabled()

    # Mute and unmute from the header; the list marks a muted conversation.
    a.click("#mute-button")
    a.locator("[data-mute-hours='8']").click()
    expect(a.locator("#unmute-button")).to_be_visible()
    expect(conversation_with(a, "bob_s").locator(".muted-mark")).to_be_visible()
    a.click("#unmute-button")
    expect(a.locator("#mute-button")).to_be_visible()
    expect(conversation_with(a, "bob_s").locator(".muted-mark")).to_have_count(0)

    # Report one of Bob's messages from its menu.
    theirs = message(a, "yes")
    theirs.hover()
    theirs.locator(".report").click()
    theirs.locator(".report-reason").select_option("spam")
    theirs.locator(".report-note").fill("testing the queue")
    theirs.locator(".send-report").click()
    expect(a.locator("#notice")).to_contain_text("Reported")
    expect(theirs).to_have_attribute("data-reported", "true")
    expect(message(b, "yes").locator(".report")).to_have_count(0)  # nobody reports their own

    # Archive: out of the list, into "Archived"; Bob's next message brings it back.
    a.click("#archive-button")
    expect(conversation_with(a, "bob_s")).to_have_count(0)
    a.click("#show-archived")
    expect(a.locator("#list-title")).to_be_visible()
    expect(conversation_with(a, "bob_s")).to_have_count(1)
    expect(a.locator("#archive-button")).to_have_text("Unarchive")
    a.click("#show-archived")
    expect(conversation_with(a, "bob_s")).to_have_count(0)
    send(b, "back again")
    expect(conversation_with(a, "bob_s")).to_have_count(1)
    expect(a.locator("#archive-button")).to_have_text("Archive")

    # Mark unread from the list: the badge comes back (the conversation closes so it stays).
    item = conversation_with(a, "bob_s")
    expect(item).to_have_attribute("data-unread", "0")
    a.locator(".conversation-row", has_text="bob_s").hover()
    a.locator(".conversation-row", has_text="bob_s").locator(".mark-unread").click()
    expect(item).to_have_attribute("data-unread", "1")
    expect(a.locator("#conversation")).to_be_hidden()
    # Bob's receipts are not taken back.
    expect(receipt(b, "back again")).to_have_attribute("data-receipt", "read")

    assert errors == [], errors


def test_an_open_mute_menu_stays_open_while_the_list_reloads(
    server: LiveServer, contexts: list[BrowserContext]
) -> None:
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    alice = server.register("alice_m", PASSWORD)
    bob = server.register("bob_m", PASSWORD)
    carol = server.register("carol_m", PASSWORD)
    server.send(bob["access"], alice["user"]["id"], "hi alice")

    errors: list[str] = []
    a = open_page(contexts[0], server, errors)
    log_in(a, "alice_m")
    conversation_with(a, "bob_m").click()
    expect(messages(a)).to_have_text(["hi alice"])
    a.click("#mute-button")
    expect(a.locator("[data-mute-hours='8']")).to_be_visible()
    # A message in a conversation the page does not know reloads the lists (and the header's state).
    server.send(carol["access"], alice["user"]["id"], "new here")
    expect(conversation_with(a, "carol_m")).to_be_visible()
    expect(a.locator("[data-mute-hours='8']")).to_be_visible()
    a.locator("[data-mute-hours='8']").click()
    expect(a.locator("#unmute-button")).to_be_visible()
    expect(a.locator("#mute-menu")).to_be_hidden()
    # Opening another conversation closes the menu there.
    a.click("#unmute-button")
    a.click("#mute-button")
    expect(a.locator("[data-mute-hours='8']")).to_be_visible()
    conversation_with(a, "carol_m").click()
    expect(a.locator("[data-mute-hours='8']")).to_be_hidden()
    assert errors == []
