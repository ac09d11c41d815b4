"""Attachments in the web client (issue 16), between two real users on the real backend.

Alice attaches a real PNG with the attach button (its upload throttled, so the progress bar
is seen moving) and a real PDF by drag and drop; Bob sees the image's thumbnail inline,
opens it full size, and gets the PDF as a chip with its name and size that downloads it.
"""

from __future__ import annotations

import base64
import io
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, expect

from tests.browser.liveserver import LiveServer
from tests.browser.pages import EXPECT_TIMEOUT_MS, PASSWORD, conversation_with, log_in, message, open_page

pytestmark = pytest.mark.browser

PNG_SIZE = (480, 360)


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    made = [browser.new_context(viewport={"width": 1100, "height": 760}) for _ in range(2)]
    yield made
    for context in made:
        context.close()


def noisy_png(path: Path) -> Path:
    """A real PNG that does not compress away (random pixels), so its upload takes a moment."""
    rng = random.Random(16)
    image = Image.frombytes("RGB", PNG_SIZE, rng.randbytes(PNG_SIZE[0] * PNG_SIZE[1] * 3))
    image.save(path, "PNG")
    return path


def small_pdf() -> bytes:
    """A real one-page PDF, written by Pillow."""
    out = io.BytesIO()
    Image.new("RGB", (200, 100), "white").save(out, "PDF")
    return out.getvalue()


def test_a_png_and_a_pdf_reach_the_other_person(
    server: LiveServer, contexts: list[BrowserContext], tmp_path: Path
) -> None:
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    alice = server.register("alice_f", PASSWORD)
    server.register("bob_f", PASSWORD)
    bob_id = server.api("GET", "/api/auth/users?search=bob_f", token=alice["access"])["users"][0]["id"]
    server.send(alice["access"], bob_id, "files coming")
    png = noisy_png(tmp_path / "photo.png")
    pdf = small_pdf()

    errors: list[str] = []
    a = open_page(contexts[0], server, errors)
    b = open_page(contexts[1], server, errors)
    log_in(a, "alice_f")
    log_in(b, "bob_f")
    conversation_with(a, "bob_f").click()
    conversation_with(b, "alice_f").click()

    # The PNG through the attach button, on a slow uplink: the progress bar moves, then "Ready".
    cdp = contexts[0].new_cdp_session(a)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 300 * 1024},
    )
    with a.expect_file_chooser() as chooser:
        a.click("#attach-button")
    chooser.value.set_files(str(png))
    upload = a.locator('#upload-tray .upload[data-name="photo.png"]')
    progress = upload.locator("progress")
    expect(progress).to_be_visible()
    a.wait_for_function(
        "() => { const p = document.querySelector('#upload-tray progress'); return !p || p.value > 0; }"
    )
    expect(upload).to_have_attribute("data-state", "done")
    expect(progress).to_have_count(0)
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )

    # The PDF dropped onto the conversation.
    drop = a.evaluate_handle(
        """([name, data]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "application/pdf" }));
            return transfer;
        }""",
        ["report.pdf", base64.b64encode(pdf).decode()],
    )
    a.dispatch_event("#messages", "dragenter", {"dataTransfer": drop})
    expect(a.locator("#drop-hint")).to_be_visible()
    a.dispatch_event("#messages", "drop", {"dataTransfer": drop})
    expect(a.locator("#drop-hint")).to_be_hidden()
    expect(a.locator('#upload-tray .upload[data-name="report.pdf"]')).to_have_attribute("data-state", "done")

    a.fill("#composer-input", "the photo and the report")
    a.press("#composer-input", "Enter")
    expect(a.locator("#upload-tray")).to_be_hidden()

    # Bob sees both: the thumbnail inline (loaded, at most 320 px), the PDF as a chip.
    received = message(b, "the photo and the report")
    thumb = received.locator(".thumb img")
    expect(thumb).to_have_attribute("alt", "photo.png")
    b.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle(), timeout=EXPECT_TIMEOUT_MS
    )
    natural = thumb.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert max(natural) <= 320 and natural[0] > natural[1], natural
    chip = received.locator(".file-chip")
    expect(chip.locator(".file-name")).to_have_text("report.pdf")
    expect(chip.locator(".file-size")).to_have_text(f"{len(pdf) / 1024:.1f} KB")
    href = chip.get_attribute("href")
    assert href
    response = b.request.get(href)
    assert response.status == 200 and response.body().startswith(b"%PDF"), (response.status, response.body()[:20])

    # The thumbnail opens the full-size image.
    received.locator(".thumb").click()
    viewer = b.locator("#viewer")
    expect(viewer).to_be_visible()
    full = b.locator("#viewer-image")
    b.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=full.element_handle())
    assert full.evaluate("img => [img.naturalWidth, img.naturalHeight]") == list(PNG_SIZE)
    b.keyboard.press("Escape")
    expect(viewer).to_be_hidden()

    # Alice's own copy shows the same, from the ack.
    expect(message(a, "the photo and the report").locator(".file-chip .file-name")).to_have_text("report.pdf")

    assert errors == [], errors
