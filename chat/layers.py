"""The production channel layer: channels-redis' pub/sub layer with process-local specific channels.

`ChatChannelLayer` is `channels_redis.pubsub.RedisPubSubChannelLayer` with two changes, both
about what each open socket costs:

1. **A consumer's specific channel lives only in its own process.** The base layer SUBSCRIBEs
   every new channel name in Redis (and UNSUBSCRIBEs it when the consumer stops), so a connect
   and a close each waited in line behind the shard's one lock and connection for a Redis round
   trip that nothing here needs: this app never sends to a specific channel, every event goes
   to a group (`group_send`, or the blocking PUBLISH of `chat.events._sync_publisher` to
   `<prefix>__group__<group>`). Here `new_channel()` only makes the channel's in-process inbox.
   `send()` to a channel that lives in this process (on any of its event loops) puts the
   message straight into that inbox, serialized and deserialized as the base layer does, so the
   consumer gets the same dict; `send()` to any other name PUBLISHes it as before.

   So: **a consumer's specific channel is reachable only from its own process; groups are how
   events cross processes.** A channel name that is not one of ours (say a named worker
   channel some process `receive()`s on) keeps the base behaviour: `receive()` subscribes it in
   Redis and a `send()` to it is PUBLISHed.

2. **The inbox is a small `__slots__` FIFO instead of an `asyncio.Queue`.** A Queue is three
   deques and an Event with a deque of its own, about 3 KiB per socket held for the socket's
   lifetime. `Inbox` keeps a deque only while it holds messages and a short list of waiters.

Groups, `group_send`, `flush` and the shard connection (its reconnects, its receive task) are
the base layer's, unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer
from channels_redis.utils import _wrap_close

__all__ = ["ChatChannelLayer", "ChatLoopLayer", "Inbox"]

logger = logging.getLogger("channels_redis.pubsub")  # the base layer's logger: same messages, same place


class Inbox:
    """An unbounded FIFO for one channel: `put_nowait` from anywhere on the loop, `await get()`.

    It has asyncio.Queue's semantics for what Channels uses: items come out in the order they
    went in; each put wakes at most one waiting `get`; a `get` cancelled after it was woken
    passes the wake-up on, so no item is stranded while another `get` waits, and a `get` only
    takes an item in a step without an await, so cancelling it never loses one.
    """

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


class ChatLoopLayer(RedisPubSubLoopLayer):  # type: ignore[misc]
    """The per-event-loop half of the layer: local inboxes for channels made by `new_channel()`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
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
