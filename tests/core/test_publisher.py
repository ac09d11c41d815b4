"""Publishing from a worker thread: with the Redis pub/sub layer, services PUBLISH directly
(core.layers.RedisPublisher) instead of handing each event to the event loop; a consumer's
group membership, made through the layer, must still receive exactly what group_send sends."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from chat import events
from core import layers, store
from core.layers import ChatChannelLayer, LayerPublisher, Publish, RedisPublisher

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def _redis_reachable() -> bool:
    parts = urlsplit(REDIS_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(params=["core.layers.ChatChannelLayer", "channels_redis.pubsub.RedisPubSubChannelLayer"])
def pubsub_layer(settings: Any, request: pytest.FixtureRequest) -> Any:
    """The configured layer (core.layers') and the channels-redis layer it subclasses."""
    if not _redis_reachable():
        pytest.skip("needs Redis (CI has it)")
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": request.param,
            "CONFIG": {"hosts": [{"address": REDIS_URL}], "prefix": f"test-publish-{uuid.uuid4().hex[:8]}"},
        }
    }
    return get_channel_layer()


def _publish(groups: list[str], event: str, data: dict[str, Any], scope: str = "room") -> None:
    out = layers.publisher()
    assert out is not None
    out.publish([Publish(tuple(groups), events.layer_message(event, data, scope))])


async def test_a_thread_publish_reaches_a_group_joined_through_the_layer(pubsub_layer: Any) -> None:
    assert isinstance(layers.publisher(), RedisPublisher)  # the direct path is the one under test
    channel = await pubsub_layer.new_channel()
    await pubsub_layer.group_add("conv.4242", channel)
    data = {"conversationId": 4242, "content": "über ✓", "id": 2**53}
    await sync_to_async(_publish, thread_sensitive=False)(["conv.4242"], "new_message", data)
    received = await asyncio.wait_for(pubsub_layer.receive(channel), 5)
    assert received == {"type": events.EVENT_TYPE, "event": "new_message", "data": data, "scope": "room"}
    await pubsub_layer.group_discard("conv.4242", channel)


async def test_a_thread_publish_reaches_only_the_named_group(pubsub_layer: Any) -> None:
    mine, other = await pubsub_layer.new_channel(), await pubsub_layer.new_channel()
    await pubsub_layer.group_add("user.1", mine)
    await pubsub_layer.group_add("user.2", other)
    await sync_to_async(_publish, thread_sensitive=False)(["user.1"], "presence", {"userId": 9}, "user")
    assert (await asyncio.wait_for(pubsub_layer.receive(mine), 5))["data"] == {"userId": 9}
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(pubsub_layer.receive(other), 0.3)


def test_other_layers_keep_group_send(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    assert isinstance(layers.publisher(), LayerPublisher)


def test_a_subclass_that_changes_group_send_keeps_group_send(settings: Any) -> None:
    """The direct PUBLISH is the base layer's group_send: a subclass that changes it keeps its own."""
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": f"{__name__}.Subclassed", "CONFIG": {"hosts": [{"address": REDIS_URL}]}}
    }
    assert isinstance(layers.publisher(), LayerPublisher)


class Subclassed(ChatChannelLayer):
    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        await super().group_send(group, message)


# --- A new message: both events in one Redis script -------------------------------------------


@pytest.fixture
def redis_presence(monkeypatch: pytest.MonkeyPatch, pubsub_layer: Any) -> Any:
    """Presence in the same Redis as the layer (as in production), under a prefix of its own."""
    shared = store.RedisStore(REDIS_URL, f"test-presence-{uuid.uuid4().hex[:8]}")
    monkeypatch.setattr(store, "shared", lambda: shared)
    layers._publisher_for.cache_clear()
    yield shared
    shared.clear()
    layers._publisher_for.cache_clear()


def _message(conversation_id: int, sender_id: int = 7, receiver_id: int = 8) -> Any:
    from datetime import UTC, datetime

    from accounts.models import User
    from chat.models import Message

    now = datetime(2026, 11, 25, tzinfo=UTC)
    sender = User(id=sender_id, username=f"user{sender_id}", last_seen_at=None)
    return Message(
        id=99,
        seq=3,
        conversation_id=conversation_id,
        sender=sender,
        receiver_id=receiver_id,
        content="hi",
        client_message_id="c-1",
        created_at=now,
        updated_at=now,
    )


def _publish_created(message: Any) -> None:
    """What a committed send runs after commit (the on_commit callback, run directly)."""
    from django.db import transaction

    callbacks: list[Any] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(transaction, "on_commit", callbacks.append)
        events.messages_created([message])
    assert len(callbacks) == 1
    callbacks[0]()


async def _joined(layer: Any, group: str) -> str:
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return channel


async def test_a_send_publishes_room_and_notification_in_one_script_without_asking_presence(
    pubsub_layer: Any, redis_presence: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_lookup(*args: object) -> Any:
        raise AssertionError("the script decides; no separate presence round trip")

    monkeypatch.setattr(redis_presence, "live_counts", no_lookup)
    await sync_to_async(redis_presence.add, thread_sensitive=False)("presence:user:7", "senders-socket", 60.0)
    room, personal = await _joined(pubsub_layer, "conv.5151"), await _joined(pubsub_layer, "user.8")
    await sync_to_async(_publish_created, thread_sensitive=False)(_message(5151))
    got = await asyncio.wait_for(pubsub_layer.receive(room), 5)
    assert (got["event"], got["scope"], got["data"]["id"]) == ("new_message", "room", 99)
    assert got["data"]["sender"]["is_online"] is True
    note = await asyncio.wait_for(pubsub_layer.receive(personal), 5)
    assert (note["event"], note["scope"], note["data"]["messageId"]) == ("message_notification", "user", 99)
    assert note["data"]["from"]["is_online"] is True


async def test_no_notification_when_a_receiver_socket_sits_in_the_room(pubsub_layer: Any, redis_presence: Any) -> None:
    from chat import presence

    room, personal = await _joined(pubsub_layer, "conv.5252"), await _joined(pubsub_layer, "user.8")
    await sync_to_async(presence.room_joined, thread_sensitive=False)(5252, 8, "some-socket")
    await sync_to_async(_publish_created, thread_sensitive=False)(_message(5252))
    assert (await asyncio.wait_for(pubsub_layer.receive(room), 5))["event"] == "new_message"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(pubsub_layer.receive(personal), 0.3)


async def test_an_expired_room_entry_does_not_count_as_in_the_room(pubsub_layer: Any, redis_presence: Any) -> None:
    personal = await _joined(pubsub_layer, "user.8")
    await sync_to_async(redis_presence.add, thread_sensitive=False)("presence:room:5353:8", "gone", -1.0)
    await sync_to_async(_publish_created, thread_sensitive=False)(_message(5353))
    assert (await asyncio.wait_for(pubsub_layer.receive(personal), 5))["event"] == "message_notification"


async def test_a_sender_without_a_socket_shows_offline(pubsub_layer: Any, redis_presence: Any) -> None:
    room = await _joined(pubsub_layer, "conv.5454")
    await sync_to_async(_publish_created, thread_sensitive=False)(_message(5454))
    got = await asyncio.wait_for(pubsub_layer.receive(room), 5)
    assert got["data"]["sender"]["is_online"] is False  # user 7 has no socket


async def test_one_publish_reaches_every_named_group(pubsub_layer: Any) -> None:
    """Presence goes to all of a user's partners in one pipelined round trip."""
    channels = [await _joined(pubsub_layer, f"user.{n}") for n in (31, 32, 33)]
    bystander = await _joined(pubsub_layer, "user.34")
    groups = ["user.31", "user.32", "user.33"]
    await sync_to_async(_publish, thread_sensitive=False)(groups, "presence", {"userId": 5}, "user")
    for channel in channels:
        assert (await asyncio.wait_for(pubsub_layer.receive(channel), 5))["data"] == {"userId": 5}
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(pubsub_layer.receive(bystander), 0.3)


def test_a_redis_that_hangs_fails_a_publish_within_the_store_timeout() -> None:
    """The publish runs in the send's worker thread, before its ack: a Redis that accepts and
    never answers must not hold the send forever (chat.events logs the failure and goes on)."""
    import time

    import redis

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts connections (in the kernel) and never answers
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        publisher = RedisPublisher(_Serializer(), url, "hang", None)
        started = time.monotonic()
        with pytest.raises(redis.exceptions.TimeoutError):
            publisher.publish([Publish(("user.1",), {"type": "x"})])
        assert time.monotonic() - started < store.STORE_TIMEOUT_SECONDS + 1.5


class _Serializer:
    def serialize(self, message: dict[str, Any]) -> bytes:
        return repr(message).encode()
