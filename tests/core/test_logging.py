"""What the logs may not contain: access or refresh tokens, passwords, message bodies.

The output is captured from the handler production logging installs on the root logger
(JSON formatter and redaction filter), with the root at DEBUG and SQL logging forced on
(as DEBUG=true would), while the test drives a login, a REST send, a socket connect with
?token=, and errors.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import User
from chat.rest.views import UnreadCountView
from chatproject.asgi import application
from core.logging import AccessLog, JSONFormatter, RedactSecretsFilter, safe_path

BODY = "secret-message-body-5c1e"
PASSWORD = "a-strong-pass-123"


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """The production root handler's own output, at DEBUG."""
    root = logging.getLogger()
    handler = next(h for h in root.handlers if isinstance(h.formatter, JSONFormatter))
    assert any(isinstance(f, RedactSecretsFilter) for f in handler.filters)
    stream = io.StringIO()
    old_stream = handler.setStream(stream)  # type: ignore[attr-defined]
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.setLevel(old_level)
        handler.setStream(old_stream)  # type: ignore[attr-defined]


def _assert_clean(output: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in output, f"{secret[:20]}... leaked into the logs"


@pytest.mark.django_db(transaction=True)
async def test_login_send_socket_and_errors_log_no_token_and_no_body(
    log_output: io.StringIO, no_rate_limit: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asgiref.sync import sync_to_async

    def drive_rest() -> dict[str, str]:
        User.objects.create_user("alice", password=PASSWORD)
        bob = User.objects.create_user("bob", password=PASSWORD)
        connection.force_debug_cursor = True  # SQL logging with parameters, as under DEBUG=true
        try:
            api = APIClient()
            tokens = api.post("/api/auth/token", {"username": "alice", "password": PASSWORD}, format="json").json()[
                "data"
            ]
            api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
            assert api.post("/api/chat/send", {"receiverId": bob.pk, "content": BODY}, format="json").status_code == 201
            # errors: a bad body, a tampered token, a refresh used twice
            assert api.post("/api/chat/send", {"receiverId": bob.pk, "content": 5}, format="json").status_code == 400
            bad = APIClient()
            bad.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}x")
            assert bad.get("/api/chat/unread").status_code == 401
            refreshed = api.post("/api/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")
            assert refreshed.status_code == 200
            assert api.post("/api/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json").status_code == 401

            # an unexpected error whose exception text carries the token: logged (500), redacted
            def boom(*args: Any, **kwargs: Any) -> Any:
                raise RuntimeError(f"could not use {tokens['access']} or {tokens['refresh']}")

            monkeypatch.setattr(UnreadCountView, "get", boom)
            failing = APIClient(raise_request_exception=False)
            failing.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
            assert failing.get("/api/chat/unread-count").status_code == 500
            return {**tokens, "refresh2": refreshed.json()["data"]["refresh"]}
        finally:
            connection.force_debug_cursor = False

    tokens = await sync_to_async(drive_rest)()

    socket = WebsocketCommunicator(application, f"/ws/chat/?token={tokens['access']}")
    connected, _ = await socket.connect()
    assert connected
    assert json.loads(await socket.receive_from())["event"] == "connected"
    await socket.send_to(text_data=json.dumps({"event": "send_message", "data": {"receiverId": 2, "content": BODY}}))
    await socket.send_to(text_data="{broken " + BODY)
    assert json.loads(await socket.receive_from())["event"] in {"new_message", "message_notification", "error"}
    await socket.disconnect()

    # A record that names a token outright is redacted, and shows the capture is live.
    logging.getLogger("chat.test").warning("refresh=%s bearer %s", tokens["refresh"], tokens["access"])

    output = log_output.getvalue()
    assert "[REDACTED]" in output
    assert "RuntimeError: could not use [REDACTED] or [REDACTED]" in output
    assert '"logger": "chat.test"' in output
    _assert_clean(output, tokens["access"], tokens["refresh"], tokens["refresh2"], BODY, PASSWORD)


def test_access_log_redacts_query_values_but_keeps_paging(caplog: pytest.LogCaptureFixture) -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoxfQ.c2lnbmF0dXJlLXh4eA"
    path = f"/api/chat/conversations/3/search?q={BODY}&page=2&limit=5&token={token}&access_token=abc"
    logger = logging.getLogger("chat.access.test")
    with caplog.at_level(logging.INFO, logger="chat.access.test"):
        AccessLog(logger)("http", "complete", {"path": path, "status": 200, "method": "GET", "client": "1.2.3.4:5"})
        AccessLog(logger)("websocket", "connecting", {"path": f"/ws/chat/?token={token}", "client": "1.2.3.4:6"})
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "GET /api/chat/conversations/3/search?q=[REDACTED]&page=2&limit=5&token=[REDACTED]&access_token=[REDACTED] 200",
        "WSCONNECTING /ws/chat/?token=[REDACTED]",
    ]
    assert caplog.records[0].path == lines[0].split(" ")[1]  # type: ignore[attr-defined]
    assert safe_path("/healthz") == "/healthz"


def test_access_log_builds_nothing_when_its_level_drops_the_line(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []

    def recording_safe_path(path: str) -> str:
        built.append(path)
        return path

    monkeypatch.setattr("core.logging.safe_path", recording_safe_path)
    logger = logging.getLogger("chat.access.quiet")
    with caplog.at_level(logging.WARNING, logger="chat.access.quiet"):
        AccessLog(logger)("websocket", "connected", {"path": "/ws/chat/", "client": "1.2.3.4:6"})
    assert (caplog.records, built) == ([], [])
    with caplog.at_level(logging.INFO, logger="chat.access.quiet"):
        AccessLog(logger)("websocket", "connected", {"path": "/ws/chat/", "client": "1.2.3.4:6"})
    assert ([r.getMessage() for r in caplog.records], built) == (["WSCONNECT /ws/chat/"], ["/ws/chat/"])
