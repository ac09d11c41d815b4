"""What the browser tests do on the page, shared by every scenario in tests/browser."""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.browser.liveserver import LiveServer

PASSWORD = "a-Strong-pass-2026"
EXPECT_TIMEOUT_MS = 10_000


def open_page(context: BrowserContext, server: LiveServer, errors: list[str]) -> Page:
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url)
    return page


def log_in(page: Page, username: str) -> None:
    page.fill("#login-username", username)
    page.fill("#login-password", PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#me-name")).to_have_text(username)


def register(page: Page, username: str) -> None:
    page.click("#login-form [data-show-form=register]")
    page.fill("#register-username", username)
    page.fill("#register-password", PASSWORD)
    page.click("#register-form button[type=submit]")
    expect(page.locator("#me-name")).to_have_text(username)


def send(page: Page, text: str) -> None:
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")


def messages(page: Page) -> Locator:
    return page.locator("#message-list .message .content")


def message(page: Page, text: str) -> Locator:
    """The one message whose own text (not a quote of it in a reply) is exactly `text`."""
    content = page.locator(".content").filter(has_text=re.compile(f"^{re.escape(text)}$"))
    return page.locator("#message-list .message").filter(has=content)


def conversation_with(page: Page, name: str) -> Locator:
    return page.locator(".conversation-item", has_text=name)
