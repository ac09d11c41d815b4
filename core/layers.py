"""The channel layer, and publishing to its groups from the worker threads where services run.

`ChatChannelLayer` is channels-redis' `RedisPubSubChannelLayer` with a socket's specific channel
kept in its own process (no Redis SUBSCRIBE per socket), a slotted inbox, and the groups that
sockets join together subscribed by one SUBSCRIBE: it makes each open socket cheaper
(docs/websocket.md, "Our subclass"). `publisher()` is how services publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from asgiref.sync import async_to_sync
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _wrap_close
from django.conf import settings

from core import store

__all__ = ["ChatChannelLayer", "ChatLoopLayer", "Inbox", "Publish", "SubscribingShard", "publisher"]

logger = logging.getLogger("channels_redis.pubsub")  # the base layer's logger: same messages, same place


class Inbox:
    """An unbounded FIFO for one channel with asyncio.Queue's semantics for what Channels uses:
    order kept, one waiter woken per put, and a `get` cancelled after its wake-up passes it on,
    so cancelling one never strands or loses an item."""

    __slots__ = ("_items", "_waiters")

    def __init__(self) -> None:
        self._items: deque[Any] | None = None  # made on the first put, dropped when drained
        self._waiters: list[asyncio.Future[None]] | None = None

    def __len__(self) -> int:
        return len(self._items) if self._items else 0

    def put_nowait(self, item: Any) -> None:
        items = self._items
        if items is None:
            items = self._items = deque()
        items.append(item)
        self._wake_one()

    async def get(self) -> Any:
        while not self._items:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            waiters = self._waiters
            if waiters is None:
                waiters = self._waiters = []
            waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                waiter.cancel()  # a no-op when it was already woken
                if waiter in waiters:
                    waiters.remove(waiter)
                if self._items and not waiter.cancelled():
                    # Woken for an item, then cancelled: hand the wake-up to the next waiter.
                    self._wake_one()
                raise
            finally:
                if self._waiters is not None and not self._waiters:
                    self._waiters = None
        items = self._items
        item = items.popleft()
        if not items:
            self._items = None
        return item

    def _wake_one(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                return


class _Changes:
    """Subscriptions asked of a shard while its last change waited for the lock: each name's
    latest wish (True: subscribed), and the future their callers wait on."""

    __slots__ = ("done", "task", "wanted")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.wanted: dict[str, bool] = {}
        self.done: asyncio.Future[None] = loop.create_future()
        self.task: asyncio.Task[None] | None = None


class SubscribingShard(RedisSingleShardConnection):  # type: ignore[misc]
    """channels-redis' shard connection, whose `subscribe` and `unsubscribe` calls made while one
    change waits for the shard's lock go out together, as one SUBSCRIBE and one UNSUBSCRIBE: a
    burst of connects or closes costs a command or two per batch, not one per socket
    (docs/benchmarks.md, "batched SUBSCRIBE"). Each call still returns once its change is made,
    or raises what Redis raised. Calls for the same name keep their order: the last one wins,
    as it would have one after the other."""

    def __init__(self, host: Any, channel_layer: Any) -> None:
        super().__init__(host, channel_layer)
        self._changes: _Changes | None = None

    async def subscribe(self, channel: str) -> None:
        await self._change(channel, subscribed=True)

    async def unsubscribe(self, channel: str) -> None:
        await self._change(channel, subscribed=False)

    async def _change(self, channel: str, *, subscribed: bool) -> None:
        changes = self._changes
        if changes is None:
            changes = self._changes = _Changes(asyncio.get_running_loop())
            changes.task = asyncio.ensure_future(self._apply(changes))
        changes.wanted[channel] = subscribed
        await asyncio.shield(changes.done)  # a caller cancelled leaves the others their change

    async def _apply(self, changes: _Changes) -> None:
        try:
            async with self._lock:
                if self._changes is changes:
                    self._changes = None  # calls from now on make the next batch
                wanted = changes.wanted.items()
                add = [name for name, on in wanted if on and name not in self._subscribed_to]
                drop = [name for name, on in wanted if not on and name in self._subscribed_to]
                if add or drop:
                    self._ensure_redis()
                    self._ensure_receiver()
                if add:
                    await self._pubsub.subscribe(*add)
                    self._subscribed_to.update(add)
                if drop:
                    await self._pubsub.unsubscribe(*drop)
                    self._subscribed_to.difference_update(drop)
        except BaseException as exc:
            if self._changes is changes:
                self._changes = None
            if isinstance(exc, Exception):
                changes.done.set_exception(exc)
                changes.done.exception()  # retrieved: each waiting caller raises it
            else:
                changes.done.cancel()
                raise
        else:
            changes.done.set_result(None)


class ChatLoopLayer(RedisPubSubLoopLayer):  # type: ignore[misc]
    """The per-event-loop half of the layer: local inboxes for channels made by `new_channel()`,
    on `SubscribingShard`s."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shards: list[SubscribingShard] = [SubscribingShard(shard.host, self) for shard in self._shards]
        # Channels this process receives on that *are* subscribed in Redis (names it did not
        # make itself, received on with `receive()`). Empty in this app.
        self._subscribed: set[str] = set()

    def _local_inbox(self, channel: str) -> Inbox | None:
        inbox: Inbox | None = self.channels.get(channel)
        if inbox is None or channel in self._subscribed:
            return None
        return inbox

    def _deliver(self, channel: str, data: bytes) -> None:
        inbox = self._local_inbox(channel)
        if inbox is not None:  # gone meanwhile: the consumer stopped, as with a PUBLISH nobody hears
            inbox.put_nowait(data)

    async def _subscribe_to_channel(self, channel: str) -> None:
        self.channels[channel] = Inbox()
        self._subscribed.add(channel)
        await self._get_shard(channel).subscribe(channel)

    async def new_channel(self, prefix: str = "specific.") -> str:
        channel = f"{self.prefix}{prefix}{uuid.uuid4().hex}"
        self.channels[channel] = Inbox()
        return channel

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        data = self.channel_layer.serialize(message)
        inbox = self._local_inbox(channel)
        if inbox is not None:
            inbox.put_nowait(data)
            return
        # The channel may live on another event loop of this process (async_to_sync from a
        # thread without one runs a loop of its own, with its own loop layer).
        current = asyncio.get_running_loop()
        for loop, layer in list(self.channel_layer._layers.items()):
            if loop is not current and isinstance(layer, ChatLoopLayer) and layer._local_inbox(channel) is not None:
                with contextlib.suppress(RuntimeError):  # that loop is closed, and its consumers with it
                    loop.call_soon_threadsafe(layer._deliver, channel, data)
                return
        await self._get_shard(channel).publish(channel, data)

    async def receive(self, channel: str) -> Any:
        inbox = self.channels.get(channel)
        if inbox is None:
            await self._subscribe_to_channel(channel)  # a name not made here: as the base layer
            inbox = self.channels[channel]
        try:
            message = await inbox.get()
        except (asyncio.CancelledError, TimeoutError, GeneratorExit):
            # Channels cancels receive() only when the consumer exits (the base layer assumes
            # the same): drop the inbox. Only a channel subscribed in Redis has more to undo.
            if self.channels.get(channel) is inbox:
                del self.channels[channel]
                if channel in self._subscribed:
                    self._subscribed.discard(channel)
                    try:
                        await self._get_shard(channel).unsubscribe(channel)
                    except BaseException:
                        # As the base layer: log, and let the cancellation be what is raised.
                        logger.exception("Unexpected exception while cleaning-up channel:")
            raise
        return self.channel_layer.deserialize(message)

    async def flush(self) -> None:
        self._subscribed = set()
        await super().flush()


class ChatChannelLayer(RedisPubSubChannelLayer):  # type: ignore[misc]
    """`RedisPubSubChannelLayer` whose loop layers are `ChatLoopLayer`s (see the module docstring)."""

    loop_layer_class: type[ChatLoopLayer] = ChatLoopLayer

    def _get_layer(self) -> ChatLoopLayer:
        loop = asyncio.get_running_loop()
        try:
            layer: ChatLoopLayer = self._layers[loop]
        except KeyError:
            layer = self.loop_layer_class(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
        return layer


# --- Publishing from worker threads ----------------------------------------------------------


@dataclass(frozen=True)
class Publish:
    """One message to some groups. With `live_key`, the message sent is `message` when that store
    key has a live member and `otherwise` when not; with `unless_live`, nothing is sent when that
    key has a live member. Keys are core.store keys, read at the moment of publishing."""

    groups: tuple[str, ...]
    message: dict[str, Any]
    live_key: str | None = None
    otherwise: dict[str, Any] | None = None
    unless_live: str | None = None


class Publisher(Protocol):
    def publish(self, items: list[Publish]) -> None:
        """Send every item; a failure raises (the caller logs it: the write is committed)."""


class LayerPublisher:
    """Any channel layer: conditions read from the store, then `group_send` per group."""

    def __init__(self, layer: Any) -> None:
        self._layer = layer

    def publish(self, items: list[Publish]) -> None:
        keys = sorted({k for item in items for k in (item.live_key, item.unless_live) if k})
        live = dict(zip(keys, store.shared().live_counts(keys), strict=True)) if keys else {}
        for item in items:
            if item.unless_live and live[item.unless_live]:
                continue
            message = item.message
            if item.live_key and not live[item.live_key]:
                message = item.otherwise if item.otherwise is not None else message
            for group in item.groups:
                async_to_sync(self._layer.group_send)(group, message)


# KEYS: the condition keys. ARGV: now, then per item: the number of its channels, its channels,
# the index (1-based, 0 for none) of its live key and of its unless-live key, its two messages.
_PUBLISH_SCRIPT = """
local now = ARGV[1]
local i = 2
local function live(index)
  return index > 0 and redis.call('ZCOUNT', KEYS[index], '(' .. now, '+inf') > 0
end
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  local first = i + 1
  local switch, skip = tonumber(ARGV[first + n]), tonumber(ARGV[first + n + 1])
  local message = ARGV[first + n + 2]
  if switch > 0 and not live(switch) then message = ARGV[first + n + 3] end
  if not live(skip) then
    for c = first, first + n - 1 do redis.call('PUBLISH', ARGV[c], message) end
  end
  i = first + n + 4
end
return 0
"""


class RedisPublisher:
    """channels-redis' pub/sub layer: the same PUBLISH its `group_send` makes, from this thread.

    `async_to_sync(group_send)` queues behind the event loop's one layer connection, which capped
    throughput (docs/benchmarks.md, "publishing"); this sends the same bytes on a pooled connection.
    """

    def __init__(self, layer: RedisPubSubChannelLayer, address: str, prefix: str, max_connections: int | None) -> None:
        import redis

        self._layer = layer
        self._prefix = prefix
        # A Redis that hangs must not hang the send whose ack waits for this publish.
        self._client = redis.Redis.from_url(
            address,
            max_connections=max_connections,
            socket_timeout=store.STORE_TIMEOUT_SECONDS,
            socket_connect_timeout=store.STORE_TIMEOUT_SECONDS,
        )
        self._script = self._client.register_script(_PUBLISH_SCRIPT)
        shared = store.shared()
        # Conditions read the store's keys, so the script can only check them in the same Redis.
        self._store = shared if isinstance(shared, store.RedisStore) and shared.url == address else None
        self._fallback = LayerPublisher(layer)

    def _channel(self, group: str) -> str:
        return f"{self._prefix}__group__{group}"

    def publish(self, items: list[Publish]) -> None:
        conditional = any(item.live_key or item.unless_live for item in items)
        if conditional and self._store is None:
            self._fallback.publish(items)
            return
        if not conditional and len(items) == 1 and len(items[0].groups) == 1:
            self._client.publish(self._channel(items[0].groups[0]), self._layer.serialize(items[0].message))
            return
        keys: list[str] = []

        def index(key: str | None) -> int:
            if not key:
                return 0
            assert self._store is not None
            full = self._store.key(key)
            if full not in keys:
                keys.append(full)
            return keys.index(full) + 1

        args: list[Any] = [time.time()]
        for item in items:
            body = self._layer.serialize(item.message)
            other = self._layer.serialize(item.otherwise) if item.otherwise is not None else body
            args += [len(item.groups), *(self._channel(g) for g in item.groups)]
            args += [index(item.live_key), index(item.unless_live), body, other]
        self._script(keys=keys, args=args)


def _base_group_send(layer: RedisPubSubChannelLayer) -> bool:
    """Whether `group_send` is the base layer's PUBLISH, whose bytes and channel RedisPublisher
    repeats: a subclass may change it (the layer hands calls to its per-loop half)."""
    cls = type(layer)
    loop_class = getattr(cls, "loop_layer_class", RedisPubSubLoopLayer)
    own = any("group_send" in vars(k) for k in cls.__mro__ if k is not RedisPubSubChannelLayer)
    return not own and loop_class.group_send is RedisPubSubLoopLayer.group_send


@cache
def _publisher_for(layer: Any) -> Publisher:
    config: dict[str, Any] = settings.CHANNEL_LAYERS.get(DEFAULT_CHANNEL_LAYER, {})
    hosts: list[Any] = config.get("CONFIG", {}).get("hosts", [])
    if (
        isinstance(layer, RedisPubSubChannelLayer)
        and _base_group_send(layer)
        and len(hosts) == 1
        and isinstance(hosts[0], dict)
    ):
        prefix = config["CONFIG"].get("prefix", "asgi")
        return RedisPublisher(layer, hosts[0]["address"], prefix, hosts[0].get("max_connections"))
    return LayerPublisher(layer)


def publisher() -> Publisher | None:
    """The publisher of the default channel layer (None when no layer is configured)."""
    layer = get_channel_layer()
    return None if layer is None else _publisher_for(layer)
