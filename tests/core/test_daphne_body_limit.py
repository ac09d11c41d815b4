"""A real `manage.py serve` refuses over-limit bodies before it reads them, and reads chunked ones.

daphne (through Twisted) reads a whole request body before the ASGI application runs, so these
faults live in the server process: only a real one, fed bytes over a socket, shows them.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from django.conf import settings

from bench.servers import memory_kib
from tests.core.test_serve import Served
from tests.support.figures import figure
from tests.support.loopback import http_json

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
UPLOAD_BYTES = 250 * 1000 * 1000
ANSWER_WITHIN_SECONDS = 10.0
LOGIN = {"username": "alice", "password": "chat-demo-2026"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = Served(tmp_path_factory.mktemp("body-limit"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def request_head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket) -> tuple[int, Any]:
    """Status and JSON body of the response on `sock`; socket.timeout if none comes in time."""
    sock.settimeout(ANSWER_WITHIN_SECONDS)
    response = http.client.HTTPResponse(sock)
    response.begin()
    raw = response.read()
    return response.status, (json.loads(raw) if raw else None)


def stream_until_answered(sock: socket.socket, parts: Iterable[bytes]) -> tuple[int, bool]:
    """Send parts until the server answers or they run out: (bytes sent, whether it answered).

    Before each part it waits (briefly, on the socket itself) for a response, so the upload is
    slow enough that a server answering from the headers is seen long before the body is through.
    """
    sent = 0
    for part in parts:
        readable, _, _ = select.select([sock], [], [], 0.01)
        if readable:
            return sent, True
        try:
            sock.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            return sent, True
        sent += len(part)
    return sent, False


def pieces(total: int, size: int, frame: Callable[[bytes], bytes] = bytes) -> Iterator[bytes]:
    """`total` bytes of body in pieces of `size` (the last one shorter), each passed through `frame`."""
    for start in range(0, total, size):
        yield frame(b"x" * min(size, total - start))


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def assert_refused_as_too_large(status: int, body: Any) -> None:
    assert status == 413, body
    assert body == {"success": False, "message": f"Request body is larger than {settings.MAX_BODY_BYTES} bytes."}


def test_a_250_mb_upload_is_refused_from_its_headers_and_the_server_does_not_grow(served: Served) -> None:
    assert http_json(served.port, "POST", "/api/auth/token", LOGIN)[0] == 200  # warm: Django fully loaded
    pid = served.process.pid
    rss_before, peak_before = memory_kib(pid), memory_kib(pid, "VmHWM")
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        head = {"Content-Type": "application/json", "Content-Length": str(UPLOAD_BYTES)}
        sock.sendall(request_head("/api/auth/register", head))
        sent, _ = stream_until_answered(sock, pieces(UPLOAD_BYTES, MIB))
        status, body = read_response(sock)
    rss_after, peak_after = memory_kib(pid), memory_kib(pid, "VmHWM")
    figure(
        f"250 MB upload with Content-Length: 413 after {sent / MIB:.0f} MiB sent; server RSS "
        f"{rss_before / 1024:.0f} -> {rss_after / 1024:.0f} MiB (peak {peak_before / 1024:.0f} -> "
        f"{peak_after / 1024:.0f} MiB)"
    )
    assert_refused_as_too_large(status, body)
    assert sent < UPLOAD_BYTES // 10, f"the server answered only after {sent} bytes"
    assert rss_after - rss_before < 16 * 1024, (rss_before, rss_after)
    assert peak_after - peak_before < 16 * 1024, (peak_before, peak_after)
    assert http_json(served.port, "POST", "/api/auth/token", LOGIN)[0] == 200


def test_a_huge_content_length_with_a_few_bytes_sent_is_answered_at_once(served: Served) -> None:
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        head = {"Content-Type": "application/json", "Content-Length": "999999999"}
        sock.sendall(request_head("/api/auth/token", head) + b'{"user"')
        status, body = read_response(sock)  # a held connection times out here instead
        assert_refused_as_too_large(status, body)
        # And the server lets go of the connection rather than wait for the other 999,999,992 bytes.
        sock.settimeout(ANSWER_WITHIN_SECONDS)
        assert sock.recv(1) == b""


def test_an_over_limit_body_that_expects_100_continue_gets_413_instead(served: Served) -> None:
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        head = {"Content-Type": "application/json", "Content-Length": str(10 * MIB), "Expect": "100-continue"}
        sock.sendall(request_head("/api/auth/token", head))
        status, body = read_response(sock)  # a "100 Continue" first would be read as the status here
        assert_refused_as_too_large(status, body)


def test_a_chunked_json_body_is_read(served: Served) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=ANSWER_WITHIN_SECONDS)
    try:
        parts = [b'{"username": "alice", ', b'"password": "chat-demo-2026"}']
        connection.request("POST", "/api/auth/token", iter(parts), {"Content-Type": "application/json"})
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 200, body
    access = body["data"]["access"]
    status, bob = http_json(served.port, "GET", "/api/auth/users?search=bob", token=access)
    assert status == 200, bob

    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        head = {"Content-Type": "application/json", "Transfer-Encoding": "chunked", "Authorization": f"Bearer {access}"}
        send = json.dumps({"receiverId": bob["data"]["users"][0]["id"], "content": "sent in chunks"}).encode()
        sock.sendall(request_head("/api/chat/send", head) + chunk(send[:10]) + chunk(send[10:]) + b"0\r\n\r\n")
        status, body = read_response(sock)
    assert status == 201, body
    assert body["data"]["content"] == "sent in chunks"


def test_a_chunked_body_is_refused_when_it_passes_the_limit(served: Served) -> None:
    limit: int = settings.MAX_BODY_BYTES
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        head = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
        sock.sendall(request_head("/api/auth/register", head))
        sent, answered = stream_until_answered(sock, pieces(16 * MIB, 16 * 1024, chunk))
        if not answered:
            sock.sendall(b"0\r\n\r\n")  # the server never answered: end the body and see what it says
        status, body = read_response(sock)
    figure(f"chunked upload: 413 after {sent / 1024:.0f} KiB sent (limit {limit // 1024} KiB)")
    assert_refused_as_too_large(status, body)
    assert sent < 8 * limit, f"the server answered only after {sent} bytes"


def test_a_client_that_sends_its_whole_body_before_reading_still_gets_the_413(served: Served) -> None:
    """Most HTTP clients read the response only once the body is sent: the server must not reset
    the connection under them (which closing with their bytes unread does)."""
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=ANSWER_WITHIN_SECONDS)
    try:
        connection.request("POST", "/api/auth/token", b"x" * (8 * MIB), {"Content-Type": "application/json"})
        response = connection.getresponse()
        status, body = response.status, json.loads(response.read())
    finally:
        connection.close()
    assert_refused_as_too_large(status, body)
