"""Degraded dependencies in-process: Redis (presence, channel layer) or PostgreSQL unreachable.

A committed send is never answered with an error because what follows the commit failed;
presence and live push are lossy; a database outage is a 503 / `unavailable` that stores nothing.
The same faults with real processes are in test_faults.py.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.test import APIClient

from accounts.auth import tokens_for
from accounts.models import User
from chat.models import Message
from chat.selectors import conversations as conversation_reads
from chat.services import messages as message_services
from chatproject.asgi import application
from core import store
from tests.support.api import SEND, UNREAD_COUNT, assert_failure, data_of, send


class DeadStore:
    """A presence store whose every call fails as an unreachable Redis does."""

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    add = remove = add_all = remove_all = live_counts = _fail

    def clear(self) -> None:  # the test fixtures' own cleanup
        pass


@pytest.fixture
def dead_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "shared", lambda: DeadStore())


class DeadLayer:
    """A channel layer whose publishing fails (Redis down) while sockets stay in-process."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def group_send(self, group: str, message: Any) -> None:
        raise RedisConnectionError("Connection refused")


@pytest.mark.django_db
def test_rest_send_is_stored_and_201_while_the_presence_store_is_down(
    dead_redis: None, as_alice: APIClient, alice: User, bob: User
) -> None:
    data = data_of(as_alice.post(SEND, {"receiverId": bob.pk, "content": "still here"}, format="json"), 201)
    assert Message.objects.get().pk == data["id"]
    assert data["sender"]["is_online"] is False  # presence is lossy: unknown reads as offline


@pytest.mark.django_db
def test_rest_send_is_stored_and_201_when_the_broadcast_fails(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Any,
    as_alice: APIClient,
    bob: User,
) -> None:
    from channels.layers import get_channel_layer

    monkeypatch.setattr("core.layers.get_channel_layer", lambda: DeadLayer(get_channel_layer()))
    with caplog.at_level(logging.ERROR, logger="chat.events"), django_capture_on_commit_callbacks(execute=True):
        response = as_alice.post(SEND, {"receiverId": bob.pk, "content": "stored anyway"}, format="json")
    data_of(response, 201)
    assert Message.objects.count() == 1
    assert any(r.getMessage() == "broadcast failed" for r in caplog.records), "the failure must be logged"


@pytest.mark.django_db
def test_reads_answer_while_the_presence_store_is_down(
    dead_redis: None, as_bob: APIClient, alice: User, bob: User
) -> None:
    send(alice, bob)
    assert data_of(as_bob.get("/api/chat/conversations"))["total"] == 1
    assert data_of(as_bob.get("/api/chat/unread"))["conversations"][0]["other_participant"]["is_online"] is False


@pytest.mark.django_db
def test_a_database_outage_is_a_503_with_retry_after(monkeypatch: pytest.MonkeyPatch, as_alice: APIClient) -> None:
    def down(*args: Any) -> Any:
        raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    monkeypatch.setattr(conversation_reads, "unread_count", down)
    response = as_alice.get(UNREAD_COUNT)
    assert_failure(response, 503)
    assert response["Retry-After"] == "1"


@pytest.mark.django_db
def test_a_database_outage_during_a_send_is_a_503_and_stores_nothing(
    monkeypatch: pytest.MonkeyPatch, as_alice: APIClient, bob: User
) -> None:
    def down(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(message_services, "store_messages", down)
    assert_failure(
        as_alice.post(SEND, {"receiverId": bob.pk, "content": "x", "clientMessageId": "c1"}, format="json"), 503
    )
    assert Message.all_objects.count() == 0


async def _socket(user: User) -> WebsocketCommunicator:
    token = await database_sync_to_async(lambda: tokens_for(user)["access"])()
    communicator = WebsocketCommunicator(application, f"/ws/chat/?token={token}")
    connected, _ = await communicator.connect()
    assert connected
    assert json.loads(await communicator.receive_from())["event"] == "connected"
    return communicator


async def _call(communicator: WebsocketCommunicator, event: str, data: dict[str, Any], ref: str) -> dict[str, Any]:
    await communicator.send_to(text_data=json.dumps({"event": event, "data": data, "ref": ref}))
    while True:
        frame = json.loads(await communicator.receive_from(timeout=3))
        if frame.get("ref") == ref:
            return dict(frame)


@pytest.mark.django_db(transaction=True)
async def test_open_socket_keeps_working_while_the_presence_store_is_down(
    monkeypatch: pytest.MonkeyPatch, alice: User, bob: User
) -> None:
    message = await database_sync_to_async(send)(alice, bob)
    communicator = await _socket(alice)
    try:
        monkeypatch.setattr(store, "shared", lambda: DeadStore())
        conversation = {"conversationId": message.conversation_id}
        assert (await _call(communicator, "join_conversation", conversation, "j"))["event"] == "ack"
        assert (await _call(communicator, "typing", conversation, "t"))["event"] == "ack"
        ack = await _call(
            communicator, "send_message", {"receiverId": bob.pk, "content": "on", "clientMessageId": "s1"}, "s"
        )
        assert ack["event"] == "ack", ack
        assert ack["data"]["seq"] == 2
        assert await database_sync_to_async(Message.objects.count)() == 2
    finally:
        await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_socket_typing_survives_a_channel_layer_that_cannot_publish(
    monkeypatch: pytest.MonkeyPatch, alice: User, bob: User
) -> None:
    from channels.layers import get_channel_layer

    message = await database_sync_to_async(send)(alice, bob)
    communicator = await _socket(alice)
    try:
        conversation = {"conversationId": message.conversation_id}
        assert (await _call(communicator, "join_conversation", conversation, "j"))["event"] == "ack"
        monkeypatch.setattr(get_channel_layer(), "group_send", DeadLayer(None).group_send)
        answer = await _call(communicator, "typing", conversation, "t")
        assert answer["event"] == "ack", answer
        assert (await _call(communicator, "join_personal_room", {}, "p"))["event"] == "ack"
    finally:
        await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_socket_answers_unavailable_when_the_database_is_down_and_stays_open(
    monkeypatch: pytest.MonkeyPatch, alice: User, bob: User
) -> None:
    communicator = await _socket(alice)
    try:

        def down(*args: Any, **kwargs: Any) -> Any:
            raise OperationalError("the database system is in recovery mode")

        monkeypatch.setattr(message_services, "store_messages", down)
        answer = await _call(communicator, "send_message", {"receiverId": bob.pk, "content": "x"}, "s")
        assert answer["event"] == "error" and answer["data"]["code"] == "unavailable", answer
        monkeypatch.undo()
        answer = await _call(communicator, "send_message", {"receiverId": bob.pk, "content": "x"}, "s2")
        assert answer["event"] == "ack", answer
    finally:
        await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_new_socket_is_closed_with_1011_when_the_channel_layer_cannot_add_it_to_its_room(
    monkeypatch: pytest.MonkeyPatch, alice: User
) -> None:
    """core.layers makes a socket's channel without Redis, so an unreachable Redis first shows
    at the personal room's group_add: the socket must not open a session that hears nothing."""
    from channels.layers import get_channel_layer

    from accounts import presence
    from chat import metrics

    async def unreachable(*args: Any) -> None:
        raise RedisConnectionError("Connection refused")

    open_before = metrics.OPEN_SOCKETS._value.get()
    monkeypatch.setattr(get_channel_layer(), "group_add", unreachable)
    token = await database_sync_to_async(lambda: tokens_for(alice)["access"])()
    for path, first in ((f"/ws/chat/?token={token}", None), ("/ws/chat/", {"event": "authenticate", "ref": "a"})):
        communicator = WebsocketCommunicator(application, path)
        connected, _ = await communicator.connect()
        assert connected
        if first is not None:
            await communicator.send_to(text_data=json.dumps(first | {"data": {"token": token}}))
        output = await communicator.receive_output(timeout=3)
        assert output == {"type": "websocket.close", "code": 1011}, output  # no `connected`, no ack
        await communicator.disconnect()
    assert metrics.OPEN_SOCKETS._value.get() == open_before
    assert not await database_sync_to_async(presence.is_online)(alice.pk)  # no session was opened


@pytest.mark.django_db(transaction=True)
async def test_a_new_socket_is_closed_with_1011_when_the_database_fails_during_connect(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, alice: User
) -> None:
    """The connect's one statement (the token's user, blocks and partners) meets a dead
    connection: the socket is closed with the documented 1011 (clients reconnect with backoff),
    not failed with an unhandled exception."""
    from accounts import presence
    from chat import metrics

    def down(*args: Any) -> Any:
        raise OperationalError("terminating connection due to administrator command")

    token = await database_sync_to_async(lambda: tokens_for(alice)["access"])()
    open_before = metrics.OPEN_SOCKETS._value.get()
    monkeypatch.setattr("chat.selectors.people.by_pks_with", down)
    communicator = WebsocketCommunicator(application, f"/ws/chat/?token={token}")
    connected, _ = await communicator.connect()
    assert connected
    with caplog.at_level(logging.WARNING, logger="chat.socket"):
        output = await communicator.receive_output(timeout=3)
    assert output == {"type": "websocket.close", "code": 1011}, output  # no `connected`
    assert any(r.getMessage() == "database unavailable: closing the new socket" for r in caplog.records)
    await communicator.disconnect()
    assert metrics.OPEN_SOCKETS._value.get() == open_before
    monkeypatch.undo()
    assert not await database_sync_to_async(presence.is_online)(alice.pk)
