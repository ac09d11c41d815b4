"""Publishing from a worker thread: with the Redis pub/sub layer, services PUBLISH directly
(chat.events._sync_publisher) instead of handing each event to the event loop; a consumer's
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

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def _redis_reachable() -> bool:
    parts = urlsplit(REDIS_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def pubsub_layer(settings: Any) -> Any:
    if not _redis_reachable():
        pytest.skip("needs Redis (CI has it)")
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL}], "prefix": f"test-publish-{uuid.uuid4().hex[:8]}"},
        }
    }
    return get_channel_layer()


async def test_a_thread_publish_reaches_a_group_joined_through_the_layer(pubsub_layer: Any) -> None:
    assert events._sync_publisher(pubsub_layer) is not None  # the direct path is the one under test
    channel = await pubsub_layer.new_channel()
    await pubsub_layer.group_add("conv.4242", channel)
    data = {"conversationId": 4242, "content": "über ✓", "id": 2**53}
    await sync_to_async(events.send_now, thread_sensitive=False)(["conv.4242"], "new_message", data)
    received = await asyncio.wait_for(pubsub_layer.receive(channel), 5)
    assert received == {"type": events.EVENT_TYPE, "event": "new_message", "data": data, "scope": "room"}
    await pubsub_layer.group_discard("conv.4242", channel)


async def test_a_thread_publish_reaches_only_the_named_group(pubsub_layer: Any) -> None:
    mine, other = await pubsub_layer.new_channel(), await pubsub_layer.new_channel()
    await pubsub_layer.group_add("user.1", mine)
    await pubsub_layer.group_add("user.2", other)
    await sync_to_async(events.send_now, thread_sensitive=False)(["user.1"], "presence", {"userId": 9}, scope="user")
    assert (await asyncio.wait_for(pubsub_layer.receive(mine), 5))["data"] == {"userId": 9}
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(pubsub_layer.receive(other), 0.3)


def test_other_layers_keep_group_send(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    assert events._sync_publisher(get_channel_layer()) is None
