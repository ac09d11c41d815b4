"""POST /api/chat/attachments and the signed links: what is stored, what is refused (storing
nothing), and who can fetch a file."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from accounts.models import User
from chat.models import Attachment
from chatproject.env import RateLimit
from tests.support import files
from tests.support.api import ATTACHMENT_KEYS, ATTACHMENTS, assert_failure, data_of

pytestmark = pytest.mark.django_db


def upload(api: APIClient, name: str, data: bytes, content_type: str = "application/octet-stream") -> Any:
    return api.post(ATTACHMENTS, {"file": SimpleUploadedFile(name, data, content_type)}, format="multipart")


def fetch(api: APIClient, url: str) -> Any:
    return api.get(url)


def body_of(response: Any) -> bytes:
    assert response.status_code == 200, getattr(response, "content", response)
    return b"".join(response.streaming_content)


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_a_png_is_stored_with_a_thumbnail_and_signed_links(as_alice: APIClient, anon: APIClient) -> None:
    data = data_of(upload(as_alice, "holiday.png", files.png((1000, 500)), "image/png"), 201)
    assert set(data) == ATTACHMENT_KEYS
    assert (data["name"], data["content_type"], data["width"], data["height"]) == (
        "holiday.png",
        "image/png",
        1000,
        500,
    )
    # Links need no token (an <img> sends none): the signature is the credential.
    original = Image.open(io.BytesIO(body_of(fetch(anon, data["url"]))))
    assert (original.format, original.size) == ("PNG", (1000, 500))
    assert data["size"] == len(body_of(fetch(anon, data["url"])))
    thumbnail = Image.open(io.BytesIO(body_of(fetch(anon, data["thumbnail_url"]))))
    assert thumbnail.format == "WEBP"
    assert thumbnail.size == (320, 160)


def test_a_photo_loses_its_exif_gps_and_comment_and_is_turned_upright(as_alice: APIClient, anon: APIClient) -> None:
    sent = files.jpeg_with_gps((800, 600))
    assert Image.open(io.BytesIO(sent)).getexif().get_ifd(0x8825), "the fixture must carry GPS"
    data = data_of(upload(as_alice, "IMG_0001.JPG", sent), 201)
    raw = body_of(fetch(anon, data["url"]))
    stored = Image.open(io.BytesIO(raw))
    assert stored.format == "JPEG"
    assert dict(stored.getexif()) == {}
    assert "exif" not in stored.info and "comment" not in stored.info
    assert b"SpyCam" not in raw and b"secret note" not in raw
    assert (data["width"], data["height"]) == (600, 800) == stored.size  # the Orientation tag applied


def test_an_animated_gif_keeps_its_frames_but_not_its_comment(as_alice: APIClient, anon: APIClient) -> None:
    data = data_of(upload(as_alice, "wave.gif", files.animated_gif(4)), 201)
    raw = body_of(fetch(anon, data["url"]))
    stored = Image.open(io.BytesIO(raw))
    assert (stored.format, getattr(stored, "n_frames", 1)) == ("GIF", 4)
    assert b"hidden" not in raw


def test_a_pdf_is_stored_as_it_came_and_downloads_as_a_file(as_alice: APIClient, anon: APIClient) -> None:
    data = data_of(upload(as_alice, "report.pdf", files.pdf(), "text/html"), 201)
    assert (data["content_type"], data["width"], data["height"], data["thumbnail_url"]) == (
        "application/pdf",
        None,
        None,
        None,
    )
    response = fetch(anon, data["url"])
    assert body_of(response) == files.pdf()
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"


def test_plain_text_is_served_as_text_whatever_the_client_said(as_alice: APIClient, anon: APIClient) -> None:
    data = data_of(upload(as_alice, "notes.md", "# hello\nwörld\n".encode(), "text/html"), 201)
    assert data["content_type"] == "text/plain"
    assert fetch(anon, data["url"])["Content-Type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("empty.png", b"", "empty"),
        ("page.png", b"<!DOCTYPE html><html><script>alert(1)</script></html>", "text/html"),
        ("script.png", b"alert(document.cookie);\n", "not what its name says"),
        ("script.js", b"alert(document.cookie);\n", "not what its name says"),
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "image/svg+xml"),
        ("bomb.png", files.png_bomb(), "pixels"),
        ("cut.jpg", files.truncated_jpeg(), "damaged"),
        ("photo.png", files.image_bytes("JPEG", (40, 40)), "not what its name says"),
        ("binary.txt", b"\x00\x01\x02\x03 not text", "not allowed"),
        ("archive.zip", b"PK\x03\x04" + b"\x00" * 60, "not allowed"),
    ],
)
def test_bad_uploads_are_a_400_and_store_nothing(
    as_alice: APIClient, media_root: Path, name: str, data: bytes, problem: str
) -> None:
    body = assert_failure(upload(as_alice, name, data), 400)
    assert problem in body["errors"]["file"][0]
    assert body["message"].startswith("file: ")
    assert not Attachment.objects.exists()
    assert stored_files(media_root) == []


def test_svg_is_stored_when_the_operator_allows_it(as_alice: APIClient, settings: Any) -> None:
    settings.ATTACHMENT_TYPES = settings.ATTACHMENT_TYPES | {"image/svg+xml"}
    data = data_of(upload(as_alice, "logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"></svg>'), 201)
    assert (data["content_type"], data["thumbnail_url"]) == ("image/svg+xml", None)


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("C:\\Users\\me\\notes.txt", "notes.txt"),
        ("inv\u202eoice\u200b.txt", "invoice.txt"),
        ("bell\x07 and\x7f\x1b more.txt", "bell and more.txt"),
        ("...", "file"),
        ("x" * 300 + ".txt", "x" * 251 + ".txt"),
    ],
)
def test_names_are_cut_to_a_clean_file_name(as_alice: APIClient, media_root: Path, sent: str, kept: str) -> None:
    data = data_of(upload(as_alice, sent, b"just text\n"), 201)
    assert data["name"] == kept
    assert all(kept not in str(p) for p in stored_files(media_root)), "a client's name is never a path"


def test_a_nul_in_the_name_is_dropped(as_alice: APIClient) -> None:
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a\x00b.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n"
    ).encode()
    response = as_alice.generic(
        "POST", ATTACHMENTS, body.decode("latin-1"), content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert data_of(response, 201)["name"] == "ab.txt"


def test_a_body_over_the_limit_is_a_413_from_its_length(as_alice: APIClient, settings: Any) -> None:
    settings.ATTACHMENT_MAX_BYTES = 1000
    settings.ATTACHMENT_REQUEST_MAX_BYTES = 1000 + 16 * 1024
    response = upload(as_alice, "big.txt", b"a" * (40 * 1024))
    assert_failure(response, 413)
    assert not Attachment.objects.exists()


def test_a_file_over_the_limit_in_a_body_under_it_is_a_413_while_streaming(
    as_alice: APIClient, settings: Any, media_root: Path
) -> None:
    settings.ATTACHMENT_MAX_BYTES = 1000
    settings.ATTACHMENT_REQUEST_MAX_BYTES = 1000 + 16 * 1024
    body = assert_failure(upload(as_alice, "big.txt", b"a" * 1001), 413)
    assert "1000 bytes" in body["message"]
    assert not Attachment.objects.exists()
    assert stored_files(media_root) == []
    data_of(upload(as_alice, "fits.txt", b"a" * 1000), 201)


def test_an_upload_needs_a_token(anon: APIClient) -> None:
    assert_failure(upload(anon, "a.txt", b"hello"), 401)


def test_an_upload_without_the_file_part_is_a_400(as_alice: APIClient) -> None:
    body = assert_failure(as_alice.post(ATTACHMENTS, {"other": "x"}, format="multipart"), 400)
    assert "file" in body["errors"]


def test_a_file_in_another_part_is_a_400(as_alice: APIClient, media_root: Path) -> None:
    sent = {"photo": SimpleUploadedFile("a.txt", b"hello")}
    assert "file" in assert_failure(as_alice.post(ATTACHMENTS, sent, format="multipart"), 400)["errors"]
    assert stored_files(media_root) == []


def test_two_files_are_a_400(as_alice: APIClient) -> None:
    sent = {"file": [SimpleUploadedFile("a.txt", b"one"), SimpleUploadedFile("b.txt", b"two")]}
    assert_failure(as_alice.post(ATTACHMENTS, sent, format="multipart"), 400)
    assert not Attachment.objects.exists()


def test_json_is_a_415(as_alice: APIClient) -> None:
    assert_failure(as_alice.post(ATTACHMENTS, {"file": "x"}, format="json"), 415)


def test_uploads_are_rate_limited_per_user(
    as_alice: APIClient, as_bob: APIClient, settings: Any, alice: User, bob: User
) -> None:
    settings.ATTACHMENT_UPLOAD_RATE_LIMIT = RateLimit(2, 60)
    for _ in range(2):
        data_of(upload(as_alice, "a.txt", b"hello"), 201)
    response = upload(as_alice, "a.txt", b"hello")
    assert_failure(response, 429)
    assert int(response["Retry-After"]) == 60
    data_of(upload(as_bob, "b.txt", b"hello"), 201)  # per user
    assert Attachment.objects.filter(uploader=alice).count() == 2


def test_uploads_and_refusals_are_counted(as_alice: APIClient) -> None:
    from prometheus_client import REGISTRY

    def value(name: str, labels: dict[str, str] | None = None) -> float:
        return REGISTRY.get_sample_value(name, labels or {}) or 0.0

    before = (
        value("chat_attachments_uploaded_total", {"kind": "image"}),
        value("chat_attachment_bytes_total"),
        value("chat_attachments_refused_total", {"reason": "empty"}),
    )
    data = data_of(upload(as_alice, "a.png", files.png()), 201)
    assert_failure(upload(as_alice, "b.txt", b""), 400)
    after = (
        value("chat_attachments_uploaded_total", {"kind": "image"}),
        value("chat_attachment_bytes_total"),
        value("chat_attachments_refused_total", {"reason": "empty"}),
    )
    assert (after[0] - before[0], after[1] - before[1], after[2] - before[2]) == (1, data["size"], 1)


def test_a_tampered_link_is_a_404(as_alice: APIClient, anon: APIClient) -> None:
    first = data_of(upload(as_alice, "a.txt", b"first"), 201)
    second = data_of(upload(as_alice, "b.txt", b"second"), 201)
    token = first["url"].rsplit("/", 1)[1]
    # Another attachment's id in the signed value, with the first one's signature.
    value, rest = token.split(":", 1)
    other = base64.urlsafe_b64encode(json.dumps([second["id"], "f"], separators=(",", ":")).encode())
    forged = first["url"].replace(token, other.decode().rstrip("=") + ":" + rest)
    assert base64.urlsafe_b64decode(value + "==") == f'[{first["id"]},"f"]'.encode(), "the token's form changed"
    for url in (forged, first["url"] + "x", first["url"][:-3], "/api/chat/files/abc"):
        assert_failure(fetch(anon, url), 404)
    assert body_of(fetch(anon, first["url"])) == b"first"


def test_an_expired_link_is_a_404(as_alice: APIClient, anon: APIClient, settings: Any, monkeypatch: Any) -> None:
    import time

    url = data_of(upload(as_alice, "a.txt", b"first"), 201)["url"]
    now = time.time()
    # Django's signing reads the clock through time.time (its module imports `time`).
    monkeypatch.setattr(time, "time", lambda: now + settings.ATTACHMENT_URL_TTL_SECONDS - 5)
    assert body_of(fetch(anon, url)) == b"first"
    monkeypatch.setattr(time, "time", lambda: now + settings.ATTACHMENT_URL_TTL_SECONDS + 5)
    assert_failure(fetch(anon, url), 404)


def test_a_link_of_a_removed_upload_is_a_404(as_alice: APIClient, anon: APIClient) -> None:
    data = data_of(upload(as_alice, "a.txt", b"first"), 201)
    Attachment.objects.filter(pk=data["id"]).delete()
    assert_failure(fetch(anon, data["url"]), 404)
