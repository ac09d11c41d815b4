"""chat.ws.dispatch: the consumer's receive loop keeps Channels' rules for its sources."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.exceptions import StopConsumer
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from chat.ws.dispatch import dispatch_in_order
from chatproject.asgi import application


class Source:
    """A receive callable fed by the test, which records a cancelled receive."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.cancelled = 0

    async def __call__(self) -> Any:
        try:
            item = await self.queue.get()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if isinstance(item, BaseException):
            raise item
        return item


async def test_each_sources_messages_are_handled_in_order_and_one_at_a_time() -> None:
    frames, layer = Source(), Source()
    handled: list[Any] = []
    all_in = asyncio.Event()
    running = 0

    async def dispatch(message: Any) -> None:
        nonlocal running
        running += 1
        assert running == 1, "two messages handled at once"
        await asyncio.sleep(0)  # a handler that awaits lets the sources run meanwhile
        handled.append(message)
        running -= 1
        if len(handled) == 100:
            all_in.set()
        if message == "stop":
            raise StopConsumer

    for i in range(50):
        frames.queue.put_nowait(f"f{i}")
        layer.queue.put_nowait(f"l{i}")
    loop = asyncio.ensure_future(dispatch_in_order([frames, layer], dispatch))
    await asyncio.wait_for(all_in.wait(), 2)
    frames.queue.put_nowait("stop")
    with pytest.raises(StopConsumer):
        await asyncio.wait_for(loop, 2)

    assert [m for m in handled if m.startswith("f")] == [f"f{i}" for i in range(50)]
    assert [m for m in handled if m.startswith("l")] == [f"l{i}" for i in range(50)]
    assert handled[-1] == "stop"
    # Both receives were cancelled, and had finished, when the loop returned.
    assert (frames.cancelled, layer.cancelled) == (1, 1)


async def test_a_sources_error_is_raised_after_what_it_yielded_before() -> None:
    frames, layer = Source(), Source()
    handled: list[Any] = []

    async def dispatch(message: Any) -> None:
        handled.append(message)

    frames.queue.put_nowait("a")
    frames.queue.put_nowait("b")
    frames.queue.put_nowait(RuntimeError("the source broke"))
    with pytest.raises(RuntimeError, match="the source broke"):
        await asyncio.wait_for(dispatch_in_order([frames, layer], dispatch), 2)
    assert handled == ["a", "b"]
    assert layer.cancelled == 1


async def test_cancelling_the_loop_cancels_the_sources_receives() -> None:
    frames, layer = Source(), Source()
    started = asyncio.Event()

    async def dispatch(message: Any) -> None:
        started.set()

    loop = asyncio.ensure_future(dispatch_in_order([frames, layer], dispatch))
    frames.queue.put_nowait("hello")
    await asyncio.wait_for(started.wait(), 2)
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop
    assert (frames.cancelled, layer.cancelled) == (1, 1)


@pytest.mark.django_db(transaction=True)
async def test_a_consumer_that_stops_leaves_no_channel_in_the_layer() -> None:
    socket = WebsocketCommunicator(application, "/ws/chat/")
    connected, _ = await socket.connect()
    assert connected
    layer = get_channel_layer()
    inboxes = layer._get_layer().channels if hasattr(layer, "_get_layer") else layer.channels  # pub/sub or in-memory
    channels = [name for name in inboxes if "specific." in name]
    assert channels, "the open socket has its channel's inbox"
    await socket.disconnect()
    assert not [name for name in channels if name in inboxes]
