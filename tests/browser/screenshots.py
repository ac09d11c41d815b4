"""Screenshots of the web client for the README: `make screenshots` (writes docs/screenshots/).

Starts its own server on a throwaway SQLite file, fills it with a short conversation
through the REST API (a reply, reactions, an edit, an image, yesterday's messages), and
photographs the page as Alice sees it, wide and narrow.
Run by hand when the page changes; the test suite never writes into the repository.
"""

from __future__ import annotations

import http.client
import io
import json
import sqlite3
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from PIL import Image, ImageDraw
from playwright.sync_api import Page, expect, sync_playwright

from tests.browser.liveserver import CHROMIUM, CHROMIUM_ARGS, ROOT, LiveServer, live_server

PASSWORD = "chat-demo-2026"
CONVERSATION = [
    ("bob", "Morning! Did the deploy go out?"),
    ("alice", "It did, about ten minutes ago. Everything green so far."),
    ("bob", "Nice. The reconnect fix too?"),
    ("alice", "Yes: drop the Wi-Fi mid-chat and it catches up with what you missed."),
    ("bob", "Trying it now…"),
    ("alice", "<b>Markup</b> shows up as plain text, by the way."),
]


def _chart() -> bytes:
    """A small latency chart, drawn here, as the photo in the conversation."""
    image = Image.new("RGB", (360, 150), "#f7f9fc")
    draw = ImageDraw.Draw(image)
    for x in range(30, 350, 40):
        draw.line([(x, 10), (x, 130)], fill="#e1e4ea")
    points = [(30 + i * 22, 110 - int(80 * abs(((i * 7) % 11) - 5) / 5)) for i in range(15)]
    draw.line(points, fill="#2f6fde", width=3)
    draw.line([(30, 130), (340, 130)], fill="#677085", width=2)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _upload(server: LiveServer, token: str, name: str, data: bytes) -> dict[str, Any]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(
            "POST",
            "/api/chat/attachments",
            body,
            {"Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        payload = json.loads(connection.getresponse().read())
    finally:
        connection.close()
    assert payload["success"], payload
    return dict(payload["data"])


def _seed(server: LiveServer) -> None:
    people = {
        name: server.register(name, PASSWORD, first_name=first, last_name=last)
        for name, first, last in [
            ("alice", "Alice", "Liddell"),
            ("bob", "Bob", "Builder"),
            ("carol", "Carol", "Danvers"),
        ]
    }
    ids = {name: data["user"]["id"] for name, data in people.items()}
    tokens = {name: data["access"] for name, data in people.items()}
    server.send(tokens["carol"], ids["alice"], "Lunch on Friday?")
    server.send(tokens["carol"], ids["alice"], "The new place on the corner")
    sent: list[dict[str, Any]] = []
    for sender, text in CONVERSATION:
        receiver = "alice" if sender == "bob" else "bob"
        body: dict[str, Any] = {"receiverId": ids[receiver], "content": text}
        if text.startswith("Nice."):
            body["replyToId"] = sent[1]["id"]  # Bob's question quotes Alice's answer
        sent.append(server.api("POST", "/api/chat/send", body, tokens[sender]))
    # The first two were yesterday, so the list shows both day separators.
    yesterday = (datetime.now(UTC) - timedelta(days=1)).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(server.db_path) as db:
        db.executemany("UPDATE chat_message SET created_at = ? WHERE id = ?", [(yesterday, m["id"]) for m in sent[:2]])
    for token, message, emoji in [
        (tokens["bob"], sent[1], "🎉"),
        (tokens["alice"], sent[1], "🎉"),
        (tokens["alice"], sent[4], "👍"),
    ]:
        server.api("PUT", f"/api/chat/messages/{message['id']}/reactions/{quote(emoji)}", None, token)
    server.api(
        "PATCH",
        f"/api/chat/messages/{sent[3]['id']}",
        {"content": "Yes: drop the Wi-Fi mid-chat and it catches up with everything you missed."},
        tokens["alice"],
    )
    chart = _upload(server, tokens["alice"], "latency.png", _chart())
    server.api(
        "POST",
        "/api/chat/send",
        {"receiverId": ids["bob"], "content": "p99 since the deploy:", "attachmentIds": [chart["id"]]},
        tokens["alice"],
    )


def _open_chat(page: Page, server: LiveServer) -> None:
    page.goto(server.url)
    page.fill("#login-username", "alice")
    page.fill("#login-password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.locator(".conversation-item", has_text="Bob").click()
    expect(page.locator("#message-list .message")).to_have_count(len(CONVERSATION) + 1)
    expect(page.locator("#message-list .thumb img")).to_have_js_property("complete", True)


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work, live_server(Path(work)) as server:
        _seed(server)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            bob = browser.new_context().new_page()
            bob.goto(server.url)
            bob.fill("#login-username", "bob")
            bob.fill("#login-password", PASSWORD)
            bob.click("#login-form button[type=submit]")
            bob.locator(".conversation-item", has_text="Alice").click()
            for name, viewport in [("web-client", (1100, 800)), ("web-client-mobile", (390, 760))]:
                context = browser.new_context(
                    viewport={"width": viewport[0], "height": viewport[1]}, device_scale_factor=1, color_scheme="light"
                )
                page = context.new_page()
                _open_chat(page, server)
                bob.wait_for_timeout(2500)  # let the previous round's stop_typing go out first
                bob.locator("#composer-input").press_sequentially("Works", delay=20)
                expect(page.locator("#typing")).not_to_have_text("")
                page.mouse.move(viewport[0] - 2, 2)  # no hover toolbar in the picture, once it has faded
                page.wait_for_function("() => document.getAnimations().every((a) => a.playState !== 'running')")
                page.screenshot(path=str(out_dir / f"{name}.png"))
                print(f"wrote {out_dir / f'{name}.png'}")
                context.close()
            browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
