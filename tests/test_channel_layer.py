"""The channel layer settings: the layer that loses nothing, a large Redis pool, and a burst test.

channels-redis' default RedisChannelLayer (capacity 100 per channel) drops messages silently
under load, and redis-py's default pool of 100 connections runs out in a burst of connects
(DESIGN.md); docs/websocket.md ("Operations") explains the choice made here.
"""

from __future__ import annotations

import asyncio
import runpy
import uuid
from pathlib import Path
from typing import Any

import pytest
from channels.layers import get_channel_layer

SETTINGS = Path(__file__).resolve().parents[1] / "chatproject" / "settings.py"


def _settings_with(monkeypatch: pytest.MonkeyPatch, **env: str | None) -> dict[str, Any]:
    """The settings module evaluated afresh under the given environment (None unsets)."""
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS))


def test_with_redis_the_layer_is_pubsub_with_a_large_pool_and_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = _settings_with(
        monkeypatch, REDIS_URL="redis://127.0.0.1:6399/3", CHANNEL_PREFIX="p-1", REDIS_MAX_CONNECTIONS=None
    )
    layer = loaded["CHANNEL_LAYERS"]["default"]
    assert layer["BACKEND"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    assert "capacity" not in layer["CONFIG"]  # the pub/sub layer queues without a bound: nothing dropped
    assert layer["CONFIG"]["prefix"] == "p-1"
    assert layer["CONFIG"]["hosts"] == [{"address": "redis://127.0.0.1:6399/3", "max_connections": 1000}]


def test_redis_pool_size_follows_redis_max_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = _settings_with(monkeypatch, REDIS_URL="redis://127.0.0.1:6399/0", REDIS_MAX_CONNECTIONS="5000")
    assert loaded["CHANNEL_LAYERS"]["default"]["CONFIG"]["hosts"][0]["max_connections"] == 5000


def test_without_redis_the_in_memory_layer_has_room_for_bursts(monkeypatch: pytest.MonkeyPatch) -> None:
    layer = _settings_with(monkeypatch, REDIS_URL=None)["CHANNEL_LAYERS"]["default"]
    assert layer["BACKEND"] == "channels.layers.InMemoryChannelLayer"
    assert layer["CONFIG"]["capacity"] >= 10_000  # the default, 100, skips sockets that fall behind


async def test_configured_layer_delivers_every_message_of_a_burst_to_every_member() -> None:
    """300 group sends to 20 sockets that read only afterwards: all 6,000 deliveries, in order.

    RedisChannelLayer with its default capacity would keep 100 per socket and drop the rest.
    """
    layer: Any = get_channel_layer()
    group = f"burst-{uuid.uuid4().hex[:8]}"
    channels = [await layer.new_channel() for _ in range(20)]
    for channel in channels:
        await layer.group_add(group, channel)
    await asyncio.sleep(0.1)  # let Redis confirm the subscriptions before the first publish
    count = 300
    try:
        for n in range(count):
            await layer.group_send(group, {"type": "chat.event", "n": n})
        for channel in channels:
            received = [(await asyncio.wait_for(layer.receive(channel), 5))["n"] for _ in range(count)]
            assert received == list(range(count))
    finally:
        for channel in channels:
            await layer.group_discard(group, channel)
