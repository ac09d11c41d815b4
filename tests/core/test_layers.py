"""The channel layer: the layer that loses nothing, a large Redis pool, a burst test, and core.layers.

channels-redis' default RedisChannelLayer (capacity 100 per channel) drops messages silently
under load, and redis-py's default pool of 100 connections runs out in a burst of connects;
docs/websocket.md ("Operations") explains the choice made here.

core.layers.ChatChannelLayer is channels-redis' RedisPubSubChannelLayer with specific channels
kept in their own process (no Redis SUBSCRIBE per socket) and a slotted inbox instead of an
asyncio.Queue; its tests below check the inbox on its own, then the layer against real Redis.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.conf import settings as django_settings

from core.layers import ChatChannelLayer, Inbox
from tests.support import settings_with
from tests.support.waiting import wait_until_async


def test_with_redis_the_layer_is_pubsub_with_a_large_pool_and_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = settings_with(
        monkeypatch, REDIS_URL="redis://127.0.0.1:6399/3", CHANNEL_PREFIX="p-1", REDIS_MAX_CONNECTIONS=None
    )
    layer = loaded["CHANNEL_LAYERS"]["default"]
    assert layer["BACKEND"] == "core.layers.ChatChannelLayer"  # channels-redis' RedisPubSubChannelLayer, subclassed
    assert "capacity" not in layer["CONFIG"]  # the pub/sub layer queues without a bound: nothing dropped
    assert layer["CONFIG"]["prefix"] == "p-1"
    assert layer["CONFIG"]["hosts"] == [{"address": "redis://127.0.0.1:6399/3", "max_connections": 1000}]


def test_redis_pool_size_follows_redis_max_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = settings_with(monkeypatch, REDIS_URL="redis://127.0.0.1:6399/0", REDIS_MAX_CONNECTIONS="5000")
    assert loaded["CHANNEL_LAYERS"]["default"]["CONFIG"]["hosts"][0]["max_connections"] == 5000


def test_redis_commands_are_packed_and_replies_parsed_by_hiredis() -> None:
    """requirements.txt's hiredis is what redis-py picks, for the blocking publisher and for the
    layer's asyncio connections (docs/benchmarks.md, "per-frame costs")."""
    import redis
    import redis.asyncio.connection as async_connection
    import redis.connection as sync_connection
    from redis._parsers import _AsyncHiredisParser, _HiredisParser

    assert sync_connection.DefaultParser is _HiredisParser
    assert async_connection.DefaultParser is _AsyncHiredisParser
    connection = redis.Redis.from_url("redis://127.0.0.1:6399/0").connection_pool.make_connection()
    assert isinstance(vars(connection)["_command_packer"], sync_connection.HiredisRespSerializer)


def test_without_redis_the_in_memory_layer_has_room_for_bursts(monkeypatch: pytest.MonkeyPatch) -> None:
    layer = settings_with(monkeypatch, REDIS_URL=None)["CHANNEL_LAYERS"]["default"]
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
    if isinstance(layer, ChatChannelLayer):  # Redis has the subscription before the first publish
        group_channel = f"{layer.prefix}__group__{group}"
        assert await _eventually_subscribed(layer.prefix, {group_channel}) == {group_channel}
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


# --- core.layers.Inbox -------------------------------------------------------------------------


async def test_inbox_keeps_order_over_many_puts_interleaved_with_gets() -> None:
    inbox = Inbox()
    got: list[int] = []

    async def reader() -> None:
        for _ in range(10_000):
            got.append(await inbox.get())

    task = asyncio.ensure_future(reader())
    n = 0
    for burst in range(200):
        for _ in range(burst % 97):  # bursts of 0..96 puts, the reader running between bursts
            inbox.put_nowait(n)
            n += 1
        await asyncio.sleep(0)
    while n < 10_000:
        inbox.put_nowait(n)
        n += 1
    await asyncio.wait_for(task, 5)
    assert got == list(range(10_000))
    assert len(inbox) == 0


async def test_inbox_holds_no_deque_while_empty() -> None:
    inbox = Inbox()
    assert inbox._items is None and inbox._waiters is None  # an idle socket's inbox is two slots
    inbox.put_nowait("a")
    assert await inbox.get() == "a"
    assert inbox._items is None and inbox._waiters is None


async def test_a_get_cancelled_while_waiting_takes_nothing() -> None:
    inbox = Inbox()
    waiting = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    inbox.put_nowait("kept")
    assert await asyncio.wait_for(inbox.get(), 1) == "kept"


async def test_a_get_cancelled_after_its_wake_up_passes_the_item_to_the_next_waiter() -> None:
    inbox = Inbox()
    first = asyncio.ensure_future(inbox.get())
    second = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)  # both wait, first in line
    inbox.put_nowait("only")  # wakes `first`...
    first.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(second, 1) == "only"  # not stranded while `second` waits
    assert len(inbox) == 0


async def test_several_waiters_each_get_one_item_in_the_order_they_waited() -> None:
    inbox = Inbox()
    waiters = [asyncio.ensure_future(inbox.get()) for _ in range(5)]
    await asyncio.sleep(0)
    for item in range(5):
        inbox.put_nowait(item)
    assert await asyncio.wait_for(asyncio.gather(*waiters), 1) == [0, 1, 2, 3, 4]
    late = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    assert not late.done()
    inbox.put_nowait(5)
    assert await asyncio.wait_for(late, 1) == 5


# --- core.layers.ChatChannelLayer against real Redis --------------------------------------------

needs_redis = pytest.mark.skipif(not django_settings.REDIS_URL, reason="needs REDIS_URL (CI sets it)")


def _redis() -> Any:
    import redis

    return redis.Redis.from_url(django_settings.REDIS_URL)


def _subscribed(prefix: str) -> set[str]:
    """The Redis pub/sub channels with subscribers under `prefix`, as Redis itself reports them."""
    client = _redis()
    try:
        return {name.decode() for name in client.pubsub_channels(f"{prefix}*")}
    finally:
        client.close()


async def _eventually_subscribed(prefix: str, expected: set[str]) -> set[str]:
    """PUBSUB CHANNELS once Redis has processed the SUBSCRIBEs/UNSUBSCRIBEs written to it."""
    deadline = time.monotonic() + 3
    while True:
        seen = await asyncio.to_thread(_subscribed, prefix)
        if seen == expected or time.monotonic() > deadline:
            return seen
        await asyncio.sleep(0.05)


async def _receiving_on(loop_layer: Any, channel: str) -> None:
    """Until a receive() waits on the channel's inbox."""
    await wait_until_async(lambda: loop_layer.channels[channel]._waiters, 3, f"a receive() waiting on {channel}")


def _make_layer(prefix: str, cls: Any = ChatChannelLayer) -> Any:
    return cls(hosts=[{"address": django_settings.REDIS_URL}], prefix=prefix)


def _on_every_shard(monkeypatch: pytest.MonkeyPatch, loop_layer: Any, method: str, replacement: Any) -> None:
    """Replace a Redis call of the layer's shard connections (to forbid it or record it)."""
    for shard in loop_layer._shards:
        monkeypatch.setattr(shard, method, replacement)


@pytest.fixture
def prefix() -> str:
    return f"{django_settings.CHANNEL_PREFIX}-layer-{uuid.uuid4().hex[:8]}"


@needs_redis
async def test_the_configured_layer_is_the_chat_layer() -> None:
    assert type(get_channel_layer()) is ChatChannelLayer


@needs_redis
async def test_a_new_specific_channel_is_not_subscribed_in_redis(prefix: str) -> None:
    layer = _make_layer(prefix)
    try:
        channel = await layer.new_channel()
        await layer.group_add("conv.1", channel)
        group_channel = f"{prefix}__group__conv.1"
        assert await _eventually_subscribed(prefix, {group_channel}) == {group_channel}
    finally:
        await layer.flush()


@needs_redis
async def test_channels_redis_pubsub_layer_would_subscribe_each_specific_channel(prefix: str) -> None:
    """What the chat layer saves: the base layer SUBSCRIBEs every consumer's channel (and so the
    test above can fail)."""
    from channels_redis.pubsub import RedisPubSubChannelLayer

    layer = _make_layer(prefix, RedisPubSubChannelLayer)
    try:
        channel = await layer.new_channel()
        assert await _eventually_subscribed(prefix, {channel}) == {channel}
    finally:
        await layer.flush()


@needs_redis
async def test_send_to_a_channel_of_this_process_delivers_locally_the_same_dict(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer = _make_layer(prefix)
    try:
        channel = await layer.new_channel()

        async def no_publish(*args: Any) -> None:
            raise AssertionError("a local send must not PUBLISH")

        _on_every_shard(monkeypatch, layer._get_layer(), "publish", no_publish)
        message = {"type": "chat.event", "event": "new_message", "data": {"content": "über ✓", "id": 2**53, "n": None}}
        for n in range(50):
            await layer.send(channel, message | {"seq": n})
        received = [await asyncio.wait_for(layer.receive(channel), 2) for _ in range(50)]
        assert received == [message | {"seq": n} for n in range(50)]
        assert received[0] is not message  # serialized and deserialized, as through Redis
    finally:
        await layer.flush()


@needs_redis
async def test_send_from_another_event_loop_of_the_process_reaches_the_channel(prefix: str) -> None:
    """async_to_sync in a thread without a loop runs one of its own, with its own loop layer."""
    layer = _make_layer(prefix)
    try:
        channel = await layer.new_channel()
        thread = threading.Thread(target=lambda: asyncio.run(layer.send(channel, {"type": "t", "from": "thread"})))
        thread.start()
        await asyncio.to_thread(thread.join, 5)
        assert await asyncio.wait_for(layer.receive(channel), 2) == {"type": "t", "from": "thread"}
    finally:
        await layer.flush()


@needs_redis
async def test_a_cancelled_receive_drops_the_inbox_without_an_unsubscribe(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer = _make_layer(prefix)
    try:
        channel = await layer.new_channel()
        loop_layer = layer._get_layer()
        unsubscribed: list[str] = []

        async def record(name: str) -> None:
            unsubscribed.append(name)

        _on_every_shard(monkeypatch, loop_layer, "unsubscribe", record)
        receiving = asyncio.ensure_future(layer.receive(channel))
        await _receiving_on(loop_layer, channel)
        receiving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await receiving
        assert channel not in loop_layer.channels
        assert unsubscribed == []
    finally:
        await layer.flush()


@needs_redis
async def test_a_group_message_crosses_to_another_process(prefix: str) -> None:
    """Two layer objects, each with its own Redis connection, stand for two daphne processes."""
    here, there = _make_layer(prefix), _make_layer(prefix)
    try:
        channel = await there.new_channel()
        await there.group_add("conv.7", channel)
        await _eventually_subscribed(prefix, {f"{prefix}__group__conv.7"})
        for n in range(100):
            await here.group_send("conv.7", {"type": "chat.event", "n": n})
        received = [(await asyncio.wait_for(there.receive(channel), 5))["n"] for _ in range(100)]
        assert received == list(range(100))  # a conversation's events arrive in publish order
    finally:
        await here.flush()
        await there.flush()


@needs_redis
async def test_a_specific_channel_is_reachable_only_from_its_own_process(prefix: str) -> None:
    """The documented limit: a send to another process's specific channel goes nowhere."""
    here, there = _make_layer(prefix), _make_layer(prefix)
    try:
        channel = await there.new_channel()
        await here.send(channel, {"type": "lost"})
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(there.receive(channel), 0.3)
    finally:
        await here.flush()
        await there.flush()


@needs_redis
async def test_a_channel_name_not_made_here_still_works_across_processes(prefix: str) -> None:
    """receive() on a name the layer did not make subscribes it in Redis, as the base layer does,
    and a send() to it from another process is PUBLISHed to it."""
    worker, sender = _make_layer(prefix), _make_layer(prefix)
    name = f"{prefix}.worker"
    try:
        receiving = asyncio.ensure_future(worker.receive(name))
        assert await _eventually_subscribed(prefix, {name}) == {name}
        await sender.send(name, {"type": "job", "n": 1})
        assert await asyncio.wait_for(receiving, 5) == {"type": "job", "n": 1}
        receiving = asyncio.ensure_future(worker.receive(name))
        await _receiving_on(worker._get_layer(), name)
        receiving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await receiving
        assert await _eventually_subscribed(prefix, set()) == set()  # and unsubscribes it on the way out
    finally:
        await worker.flush()
        await sender.flush()


@needs_redis
async def test_group_clean_up_is_unchanged(prefix: str) -> None:
    layer = _make_layer(prefix)
    group_channel = f"{prefix}__group__user.3"
    try:
        first, second = await layer.new_channel(), await layer.new_channel()
        await layer.group_add("user.3", first)
        await layer.group_add("user.3", second)
        assert await _eventually_subscribed(prefix, {group_channel}) == {group_channel}
        await layer.group_discard("user.3", first)
        await layer.group_send("user.3", {"type": "t", "n": 1})
        assert await asyncio.wait_for(layer.receive(second), 5) == {"type": "t", "n": 1}
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(layer.receive(first), 0.3)
        await layer.group_discard("user.3", second)
        assert group_channel not in layer._get_layer().groups
        assert await _eventually_subscribed(prefix, set()) == set()  # the last member out unsubscribes
    finally:
        await layer.flush()


# --- SubscribingShard: the SUBSCRIBEs and UNSUBSCRIBEs of a burst go out together ---------------


def _count_commands(monkeypatch: pytest.MonkeyPatch, loop_layer: Any) -> list[tuple[str, tuple[str, ...]]]:
    """Record each SUBSCRIBE and UNSUBSCRIBE command the layer's shards send, with its names."""
    sent: list[tuple[str, tuple[str, ...]]] = []
    for shard in loop_layer._shards:
        shard._ensure_redis()
        pubsub = shard._pubsub
        for command in ("subscribe", "unsubscribe"):
            original = getattr(pubsub, command)

            async def recorded(*names: str, _original: Any = original, _command: str = command) -> Any:
                sent.append((_command, names))
                return await _original(*names)

            monkeypatch.setattr(pubsub, command, recorded)
    return sent


@needs_redis
async def test_groups_joined_together_are_subscribed_by_one_command(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer = _make_layer(prefix)
    try:
        sent = _count_commands(monkeypatch, layer._get_layer())
        channels = [await layer.new_channel() for _ in range(50)]
        await asyncio.gather(*(layer.group_add(f"user.{n}", c) for n, c in enumerate(channels)))
        names = {f"{prefix}__group__user.{n}" for n in range(50)}
        assert [(command, set(batch)) for command, batch in sent] == [("subscribe", names)]
        assert await _eventually_subscribed(prefix, names) == names
        await asyncio.gather(*(layer.group_discard(f"user.{n}", c) for n, c in enumerate(channels)))
        assert [(command, set(batch)) for command, batch in sent[1:]] == [("unsubscribe", names)]
        assert await _eventually_subscribed(prefix, set()) == set()
    finally:
        await layer.flush()


@needs_redis
async def test_a_group_left_before_its_subscribe_went_out_is_not_subscribed(prefix: str) -> None:
    """One after the other the base layer would subscribe, then unsubscribe: nothing is left
    subscribed either way."""
    layer = _make_layer(prefix)
    try:
        lonely, other = await layer.new_channel(), await layer.new_channel()
        joining = asyncio.ensure_future(layer.group_add("user.1", lonely))
        also = asyncio.ensure_future(layer.group_add("user.2", other))
        await asyncio.sleep(0)  # both wait on the same pending change
        await layer.group_discard("user.1", lonely)
        await asyncio.gather(joining, also)
        assert await _eventually_subscribed(prefix, {f"{prefix}__group__user.2"}) == {f"{prefix}__group__user.2"}
        await layer.group_add("user.1", lonely)  # and joining again later subscribes it
        both = {f"{prefix}__group__user.1", f"{prefix}__group__user.2"}
        assert await _eventually_subscribed(prefix, both) == both
    finally:
        await layer.flush()


@needs_redis
async def test_a_caller_cancelled_while_waiting_leaves_the_others_their_subscribe(prefix: str) -> None:
    layer = _make_layer(prefix)
    try:
        first, second = await layer.new_channel(), await layer.new_channel()
        cancelled = asyncio.ensure_future(layer.group_add("user.1", first))
        kept = asyncio.ensure_future(layer.group_add("user.2", second))
        await asyncio.sleep(0)
        cancelled.cancel()
        await kept
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        await layer.group_send("user.2", {"type": "t", "n": 2})
        assert await asyncio.wait_for(layer.receive(second), 5) == {"type": "t", "n": 2}
    finally:
        await layer.flush()


async def test_each_caller_of_a_failed_subscribe_gets_the_error(prefix: str) -> None:
    """An unreachable Redis fails every group_add of the batch (Session.start closes the socket)."""
    layer = ChatChannelLayer(hosts=[{"address": "redis://127.0.0.1:1/0"}], prefix=prefix)
    try:
        channels = [await layer.new_channel() for _ in range(3)]
        outcomes = await asyncio.gather(
            *(layer.group_add(f"user.{n}", c) for n, c in enumerate(channels)), return_exceptions=True
        )
        assert [type(o).__name__ for o in outcomes] == ["ConnectionError"] * 3
    finally:
        await layer.flush()
