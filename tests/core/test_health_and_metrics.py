"""Operations endpoints: /healthz, /readyz, /metrics, and the counters hooked into the real paths."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import DatabaseError, OperationalError, connections
from django.test import Client
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from accounts.auth import tokens_for
from accounts.models import User
from chatproject.asgi import application
from core import health
from tests.support import ROOT
from tests.support.api import SEND


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- probes ------------------------------------------------------------------------------------


def test_healthz_answers_ok_without_touching_the_database() -> None:
    """No django_db mark: any database access here would raise instead of answering."""
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_ok_when_database_and_layer_answer() -> None:
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "channel_layer": "ok"}}


@pytest.mark.django_db
@pytest.mark.parametrize("backend", ["core.layers.ChatChannelLayer", "channels_redis.pubsub.RedisPubSubChannelLayer"])
def test_readyz_names_an_unreachable_channel_layer_redis(settings: Any, backend: str) -> None:
    dead = f"redis://127.0.0.1:{_free_port()}/0"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": backend,
            "CONFIG": {"hosts": [{"address": dead}]},
        }
    }
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["channel_layer"].startswith("unavailable (")


@pytest.mark.django_db
def test_readyz_names_a_failing_database(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise DatabaseError("connection refused")

    monkeypatch.setattr(connections["default"], "cursor", broken)
    monkeypatch.setattr(health, "pool_of", lambda connection: None)
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "unavailable (DatabaseError)", "channel_layer": "ok"}


@pytest.mark.django_db
def test_readyz_waits_for_a_pooled_connection_at_most_two_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """A down database must not hold the probe for the pool's own 10 s timeout."""
    asked: list[float] = []

    class DownPool:
        def open(self) -> None:  # opening returns at once; connecting happens in the background
            pass

        def connection(self, timeout: float) -> Any:
            asked.append(timeout)
            raise OperationalError("couldn't get a connection after 2.00 sec")

    monkeypatch.setattr(health, "pool_of", lambda connection: DownPool())
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unavailable (OperationalError)"
    assert asked == [health.DATABASE_TIMEOUT_SECONDS] and health.DATABASE_TIMEOUT_SECONDS <= 2.0


# --- /metrics ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_exposes_the_chat_series_in_prometheus_text() -> None:
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    for name in (
        "chat_open_sockets",
        "chat_messages_sent_total",
        "chat_deliveries_total",
        "chat_errors_total",
        "chat_http_request_duration_seconds",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in text, name


@pytest.mark.django_db
def test_metrics_token_is_required_when_set(settings: Any) -> None:
    settings.METRICS_TOKEN = "s3cret-metrics-token-0123"
    client = Client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong-token-xxxxxxxxx").status_code == 401
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token-0123")
    assert ok.status_code == 200
    assert b"chat_open_sockets" in ok.content


@pytest.mark.parametrize("value", ["short", "has a space in it 12345"])
def test_a_weak_metrics_token_stops_the_process(value: str) -> None:
    env = {**os.environ, "METRICS_TOKEN": value, "JWT_SECRET": "x" * 40, "DEBUG": "false"}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='chatproject.settings'; django.setup()",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "METRICS_TOKEN" in result.stderr


@pytest.mark.django_db
def test_request_latency_is_labelled_by_route_name_not_path(
    client_for: Callable[[User], APIClient], alice: User
) -> None:
    labels = {"route": "chat-messages", "method": "GET", "status": "404"}
    before = sample("chat_http_request_duration_seconds_count", **labels)
    client_for(alice).get("/api/chat/conversations/987654321/messages")
    assert sample("chat_http_request_duration_seconds_count", **labels) == before + 1
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    before_unmatched = sample("chat_http_request_duration_seconds_count", **unmatched)
    Client().get("/no/such/path/123456789")
    assert sample("chat_http_request_duration_seconds_count", **unmatched) == before_unmatched + 1
    text = Client().get("/metrics").content.decode()
    assert "987654321" not in text and "123456789" not in text


@pytest.mark.django_db
def test_rest_send_and_rest_errors_are_counted(
    client_for: Callable[[User], APIClient],
    alice: User,
    bob: User,
    no_rate_limit: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    api = client_for(alice)
    sent = sample("chat_messages_sent_total", transport="rest")
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            api.post(SEND, {"receiverId": bob.pk, "content": "hi", "clientMessageId": "m1"}, format="json").status_code
            == 201
        )
        assert (
            api.post(SEND, {"receiverId": bob.pk, "content": "hi", "clientMessageId": "m1"}, format="json").status_code
            == 200
        )
    assert sample("chat_messages_sent_total", transport="rest") == sent + 1  # the retry stored nothing

    not_found = sample("chat_errors_total", transport="rest", code="not_found")
    invalid = sample("chat_errors_total", transport="rest", code="invalid")
    unauthenticated = sample("chat_errors_total", transport="rest", code="unauthenticated")
    api.post(SEND, {"receiverId": 999_999, "content": "x"}, format="json")
    api.get("/api/chat/conversations", {"limit": 0})
    APIClient().get("/api/chat/unread")
    assert sample("chat_errors_total", transport="rest", code="not_found") == not_found + 1
    assert sample("chat_errors_total", transport="rest", code="invalid") == invalid + 1
    assert sample("chat_errors_total", transport="rest", code="unauthenticated") == unauthenticated + 1


@pytest.mark.django_db(transaction=True)
async def test_socket_gauge_ws_sends_deliveries_and_socket_errors_are_counted(no_rate_limit: None) -> None:
    alice = await database_sync_to_async(User.objects.create_user)("alice", password="a-strong-pass-123")
    bob = await database_sync_to_async(User.objects.create_user)("bob", password="a-strong-pass-123")
    token = await database_sync_to_async(lambda: tokens_for(alice)["access"])()
    open_before = sample("chat_open_sockets")
    sent_before = sample("chat_messages_sent_total", transport="ws")
    delivered_before = sample("chat_deliveries_total", event="new_message")
    errors_before = sample("chat_errors_total", transport="ws", code="invalid_json")

    socket_ = WebsocketCommunicator(application, f"/ws/chat/?token={token}")
    connected, _ = await socket_.connect()
    assert connected
    assert json.loads(await socket_.receive_from())["event"] == "connected"
    assert sample("chat_open_sockets") == open_before + 1

    await socket_.send_to(text_data="{not json")
    assert json.loads(await socket_.receive_from())["data"]["code"] == "invalid_json"
    assert sample("chat_errors_total", transport="ws", code="invalid_json") == errors_before + 1

    frame: dict[str, Any] = {
        "event": "send_message",
        "data": {"receiverId": bob.pk, "content": "over the socket"},
        "ref": "1",
    }
    await socket_.send_to(text_data=json.dumps(frame))
    ack = json.loads(await socket_.receive_from())
    assert ack["event"] == "ack"
    conversation_id = ack["data"]["conversationId"]
    assert sample("chat_messages_sent_total", transport="ws") == sent_before + 1

    join = {"event": "join_conversation", "data": {"conversationId": conversation_id}, "ref": "2"}
    await socket_.send_to(text_data=json.dumps(join))
    while json.loads(await socket_.receive_from()).get("ref") != "2":
        pass
    frame["data"]["content"] = "now in the room"
    frame["ref"] = "3"
    await socket_.send_to(text_data=json.dumps(frame))
    events = {json.loads(await socket_.receive_from())["event"] for _ in range(2)}
    assert events == {"ack", "new_message"}
    assert sample("chat_deliveries_total", event="new_message") == delivered_before + 1

    await socket_.disconnect()
    assert sample("chat_open_sockets") == open_before
