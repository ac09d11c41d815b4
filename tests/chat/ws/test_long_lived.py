"""Long-lived sockets: nothing a socket relies on expires while it is open, everything lapses once it is gone.

- The channel layer: production uses core.layers.ChatChannelLayer, channels-redis'
  RedisPubSubChannelLayer with process-local specific channels and the same groups, which are
  Redis pub/sub subscriptions held by the process for as long as the socket is in them: it has
  no group expiry at all (its constructor swallows `group_expiry`). The same test against
  RedisChannelLayer, whose group memberships do expire, shows what it guards against.
- Presence: a socket's entries carry a TTL and its heartbeat refreshes them, so an open socket
  stays online past PRESENCE_TTL_SECONDS, while the entries of a process that died without
  running `disconnect` lapse after it (short TTLs are monkeypatched in).
The in-memory layer's group expiry is covered by
tests/chat/ws/test_consumer.py::test_heartbeat_keeps_a_long_lived_socket_in_its_groups, and a real
`kill -9` by tests/test_faults.py::test_kill_9_of_one_daphne_under_load_loses_nothing.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings

from accounts.auth import tokens_for
from accounts.models import User
from accounts.presence import is_online
from chat import presence
from chatproject.asgi import application
from tests.support.api import send
from tests.support.figures import figure
from tests.support.waiting import wait_until

needs_redis = pytest.mark.skipif(
    not django_settings.REDIS_URL, reason="the Redis channel layers need REDIS_URL (CI sets it)"
)


async def _membership_after(layer: Any, seconds: float) -> bool:
    """Join a group, wait `seconds`, publish to it: did the member receive it?"""
    channel = await layer.new_channel()
    await layer.group_add("long.lived", channel)
    await asyncio.sleep(seconds)  # the group expiry lapsing (or not) is what is tested
    await layer.group_send("long.lived", {"type": "probe", "n": 1})
    try:
        message = await asyncio.wait_for(layer.receive(channel), timeout=2)
    except TimeoutError:
        return False
    finally:
        await layer.flush()
    return bool(message == {"type": "probe", "n": 1})


@needs_redis
async def test_the_pubsub_layer_has_no_group_expiry_so_a_long_open_socket_keeps_receiving() -> None:
    from core.layers import ChatChannelLayer

    configured = django_settings.CHANNEL_LAYERS["default"]
    assert configured["BACKEND"] == "core.layers.ChatChannelLayer"
    layer = ChatChannelLayer(**configured["CONFIG"], group_expiry=1)  # ignored by this layer
    started = time.monotonic()
    assert await _membership_after(layer, 2.5)
    waited = time.monotonic() - started
    figure(f"\npub/sub layer: group member still receiving {waited:.1f} s after joining, group_expiry=1")


@needs_redis
async def test_the_core_redis_layer_would_drop_the_membership_after_group_expiry() -> None:
    """The hazard the choice of layer avoids: RedisChannelLayer forgets members after group_expiry."""
    from channels_redis.core import RedisChannelLayer

    layer = RedisChannelLayer(
        hosts=[django_settings.REDIS_URL], prefix=f"{django_settings.CHANNEL_PREFIX}-core", group_expiry=1
    )
    assert not await _membership_after(layer, 2.5)


@pytest.fixture
def short_ttl(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(presence, "PRESENCE_TTL_SECONDS", 1.0)
    monkeypatch.setattr(presence, "HEARTBEAT_SECONDS", 0.3)
    return 1.0


@pytest.mark.django_db(transaction=True)
async def test_an_open_socket_stays_online_and_in_its_room_past_the_presence_ttl(
    short_ttl: float, alice: User, bob: User
) -> None:
    message = await database_sync_to_async(send)(alice, bob)
    token = await database_sync_to_async(lambda: tokens_for(alice)["access"])()
    socket = WebsocketCommunicator(application, f"/ws/chat/?token={token}")
    await socket.connect()
    try:
        assert (await socket.receive_json_from())["event"] == "connected"
        await socket.send_json_to(
            {"event": "join_conversation", "ref": "j", "data": {"conversationId": message.conversation_id}}
        )
        assert (await socket.receive_json_from())["event"] == "ack"
        await asyncio.sleep(short_ttl * 3)  # three TTLs lapsing is what is tested: the heartbeat must outlast them
        online = await database_sync_to_async(is_online)(alice.pk)
        in_room = await database_sync_to_async(presence.user_in_room)(message.conversation_id, alice.pk)
        assert online and in_room, "an open socket's presence lapsed"
        figure(f"\nopen socket online and in its room {short_ttl * 3:.0f} s after connecting, TTL {short_ttl:.0f} s")
    finally:
        await socket.disconnect()


@pytest.mark.django_db
def test_a_dead_process_leaves_nobody_online_past_the_ttl(short_ttl: float, alice: User) -> None:
    """What a killed process leaves behind: entries that nobody refreshes or removes."""
    assert presence.socket_connected(alice.pk, "specific.dead-process!1") == (1, True)
    presence.room_joined(7, alice.pk, "specific.dead-process!1")
    assert is_online(alice.pk) and presence.user_in_room(7, alice.pk)
    started = time.monotonic()
    wait_until(
        lambda: not (is_online(alice.pk) or presence.user_in_room(7, alice.pk)),
        short_ttl + 1.0,
        "a dead socket offline once its TTL lapsed",
    )
    gone = time.monotonic() - started
    assert gone >= short_ttl * 0.8
    figure(f"\ndead socket offline {gone:.2f} s after its last refresh (TTL {short_ttl:.0f} s)")
