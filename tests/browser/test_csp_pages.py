"""Swagger UI at /api/docs/ and the admin work in a real browser under their Content-Security-Policy:
no violation is reported, the operations render, and a staff user logs in and opens a change list."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.browser.liveserver import LiveServer

PASSWORD = "csp-Pass-2026!x"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()
    yield opened
    context.close()


def _violations(page: Page) -> list[str]:
    """Console messages about the policy (Chromium reports every refused load or inline script there)."""
    seen: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            seen.append(message.text)

    page.on("console", note)
    page.on("pageerror", lambda error: seen.append(f"page error: {error}"))
    return seen


def test_swagger_ui_renders_under_its_policy(server: LiveServer, page: Page) -> None:
    violations = _violations(page)
    response = page.goto(f"{server.url}/api/docs/")
    assert response is not None and response.ok
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-eval" not in policy
    expect(page.locator(".opblock").first).to_be_visible(timeout=15_000)
    expect(page.locator(".opblock-summary-path", has_text="/api/auth/token").first).to_be_visible()
    page.locator(".opblock-summary", has_text="/api/auth/me").first.click()  # expands: scripts run
    expect(page.locator(".opblock-body").first).to_be_visible()
    assert violations == []


def test_the_admin_works_under_its_policy(server: LiveServer, page: Page) -> None:
    server.register("csp_boss", PASSWORD)
    with sqlite3.connect(server.db_path) as db:
        db.execute("UPDATE accounts_user SET is_staff = 1, is_superuser = 1 WHERE username = ?", ("csp_boss",))
    violations = _violations(page)
    response = page.goto(f"{server.url}/admin/login/")
    assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    page.fill("#id_username", "csp_boss")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()
    page.goto(f"{server.url}/admin/accounts/user/")
    expect(page.locator("#result_list")).to_be_visible()
    # The change list's scripts run (actions.js): ticking a row counts it in the action bar.
    page.locator("#result_list input.action-select").first.check()
    expect(page.locator(".action-counter")).to_contain_text("1 of")
    assert violations == []
