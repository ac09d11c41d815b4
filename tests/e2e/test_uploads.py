"""Uploads through a real daphne process: a 10 MiB file is stored, one over the limit is refused
from its headers before its body is sent, and the server's memory does not grow with file size
(core/daphne_body_limit.py; the figures are in docs/benchmarks.md, "Uploads")."""

from __future__ import annotations

import http.client
import threading
import uuid
from typing import Any

import pytest

from tests.e2e.cluster import Cluster, Server, register
from tests.support.figures import figure

pytestmark = [pytest.mark.e2e]

MIB = 1024 * 1024
LIMIT = 10 * MIB  # ATTACHMENT_MAX_BYTES's default
BOUNDARY = "e2e-upload-boundary"
HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
    "Content-Type: application/pdf\r\n\r\n"
).encode()
TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()


def pdf_of(size: int) -> bytes:
    return b"%PDF-1.4\n" + b"0" * (size - 15) + b"\n%%EOF"


def post_upload(server: Server, token: str, payload: bytes, *, send_body: bool = True) -> tuple[int, Any]:
    """(status, body) of one upload, the body sent 64 KiB at a time (or not at all)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.putrequest("POST", "/api/chat/attachments")
        connection.putheader("Authorization", f"Bearer {token}")
        connection.putheader("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
        connection.putheader("Content-Length", str(len(HEAD) + len(payload) + len(TAIL)))
        connection.endheaders()
        if send_body:
            connection.send(HEAD)
            for start in range(0, len(payload), 64 * 1024):
                connection.send(payload[start : start + 64 * 1024])
            connection.send(TAIL)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_a_10_mib_upload_is_stored_and_one_over_the_limit_is_refused_unread(cluster: Cluster) -> None:
    server = cluster.a
    user = register(server, "up")
    status, body = post_upload(server, user.token, pdf_of(LIMIT))
    assert status == 201, body
    # Over the route's limit (the file's plus 16 KiB of framing) by its Content-Length: the headers
    # alone get the 413, without the server waiting for a byte of the body.
    status, body = post_upload(server, user.token, pdf_of(LIMIT + 64 * 1024), send_body=False)
    assert status == 413, body
    assert b'"success":false' in body
    # A file one byte over, in a request under the route's limit: refused as it streams.
    status, body = post_upload(server, user.token, pdf_of(LIMIT + 1))
    assert status == 413, body
    assert b"larger than 10485760 bytes" in body


def test_memory_does_not_grow_with_the_size_of_uploads_running_at_once(cluster: Cluster) -> None:
    server = cluster.a
    user = register(server, f"mem{uuid.uuid4().hex[:4]}")
    assert post_upload(server, user.token, pdf_of(MIB))[0] == 201  # warm: the upload path's imports
    before_rss, before_peak = server.memory_kib(), server.memory_kib("VmHWM")
    statuses: list[int] = []
    uploads = [
        threading.Thread(target=lambda: statuses.append(post_upload(server, user.token, pdf_of(LIMIT))[0]))
        for _ in range(8)
    ]
    for upload in uploads:
        upload.start()
    for upload in uploads:
        upload.join(120)
    assert statuses == [201] * 8
    grown, peak_grown = server.memory_kib() - before_rss, server.memory_kib("VmHWM") - before_peak
    figure(
        f"uploads: 8 x 10 MiB at once through daphne: resident memory +{grown / 1024:.1f} MiB, "
        f"peak +{peak_grown / 1024:.1f} MiB (80 MiB of files)"
    )
    # Holding the bodies would take 80 MiB (and daphne and Twisted used to hold five copies).
    assert grown < 30 * 1024 and peak_grown < 30 * 1024
