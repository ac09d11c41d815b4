"""Attachments on an S3-compatible store: a real moto server process on loopback, reached over
HTTP by django-storages and boto3 as a deployment's store would be (nothing patched)."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from accounts.models import User
from chat.models import Attachment
from tests.support import files
from tests.support.api import ATTACHMENTS, SEND, assert_failure, data_of, message_url
from tests.support.loopback import free_port, log_tail

pytestmark = pytest.mark.django_db

BUCKET = "chat-test-attachments"
KEYS = {"aws_access_key_id": "testing-key", "aws_secret_access_key": "testing-secret", "region_name": "eu-west-1"}


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server, in its own process on a free loopback port, for this module."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:  # until it answers HTTP (the event), or the deadline
            try:
                urllib.request.urlopen(endpoint + "/", timeout=1).close()  # noqa: S310 - loopback
                break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto did not start:\n{log_tail(Path(log), 30)}") from None
                time.sleep(0.05)
        boto3.client("s3", endpoint_url=endpoint, **KEYS).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": KEYS["region_name"]}
        )
        yield endpoint
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def s3(s3_endpoint: str, settings: Any) -> Any:
    """The default storage pointed at the moto server, as settings.py builds it from the S3_* names."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "access_key": KEYS["aws_access_key_id"],
                "secret_key": KEYS["aws_secret_access_key"],
                "region_name": KEYS["region_name"],
                "querystring_auth": True,
                "querystring_expire": settings.ATTACHMENT_URL_TTL_SECONDS,
                "signature_version": "s3v4",
                "file_overwrite": False,
                "default_acl": None,
                "addressing_style": "path",
            },
        },
    }
    client = boto3.client("s3", endpoint_url=s3_endpoint, **KEYS)
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])


def keys(client: Any) -> set[str]:
    return {item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def get(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, response.read(), {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), {k.lower(): v for k, v in exc.headers.items()}


def upload(api: APIClient, name: str, data: bytes) -> dict[str, Any]:
    return data_of(api.post(ATTACHMENTS, {"file": SimpleUploadedFile(name, data)}, format="multipart"), 201)


def test_an_upload_lands_in_the_bucket_and_its_links_are_presigned(
    s3: Any, s3_endpoint: str, as_alice: APIClient, media_root: Path
) -> None:
    data = upload(as_alice, "holiday.png", files.png((900, 300)))
    attachment = Attachment.objects.get(pk=data["id"])
    assert keys(s3) == {attachment.file, attachment.thumbnail}
    assert not media_root.exists() or not any(media_root.rglob("*.png"))
    for link in (data["url"], data["thumbnail_url"]):
        parts = urlsplit(link)
        assert f"{parts.scheme}://{parts.netloc}" == s3_endpoint
        assert "X-Amz-Signature=" in parts.query and "X-Amz-Expires=3600" in parts.query
    status, body, headers = get(data["url"])
    assert status == 200 and body.startswith(b"\x89PNG")
    assert headers["content-type"] == "image/png"
    status, body, headers = get(data["thumbnail_url"])
    assert (status, body[8:12], headers["content-type"]) == (200, b"WEBP", "image/webp")


def test_a_pdf_link_downloads_with_its_name(s3: Any, as_alice: APIClient) -> None:
    data = upload(as_alice, "report.pdf", files.pdf())
    status, body, headers = get(data["url"])
    assert (status, body) == (200, files.pdf())
    assert headers["content-disposition"] == 'attachment; filename="report.pdf"'


def test_deleting_the_message_removes_its_objects_so_links_die_at_once(
    s3: Any, as_alice: APIClient, bob: User, django_capture_on_commit_callbacks: Any
) -> None:
    data = upload(as_alice, "p.png", files.png())
    sent = data_of(as_alice.post(SEND, {"receiverId": bob.pk, "attachmentIds": [data["id"]]}, format="json"), 201)
    link = sent["attachments"][0]["url"]
    assert get(link)[0] == 200
    with django_capture_on_commit_callbacks(execute=True):
        data_of(as_alice.delete(message_url(sent["id"])))
    assert keys(s3) == set()
    status, body, _ = get(link)
    # The store's own answer for a key that is gone (S3 says 403 when the key may not list the bucket).
    assert status in {403, 404} and not body.startswith(b"\x89PNG")


def test_a_refused_upload_leaves_nothing_in_the_bucket(s3: Any, as_alice: APIClient) -> None:
    assert_failure(as_alice.post(ATTACHMENTS, {"file": SimpleUploadedFile("x.png", files.truncated_jpeg())}), 400)
    assert_failure(as_alice.post(ATTACHMENTS, {"file": SimpleUploadedFile("x.jpg", files.truncated_jpeg())}), 400)
    assert keys(s3) == set()
    assert not Attachment.objects.exists()
