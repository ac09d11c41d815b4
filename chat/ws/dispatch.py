"""The consumer's receive loop: Channels' `await_many_dispatch` without its per-message cost.

Channels waits on its sources (the client's frames, the channel layer) with `asyncio.wait` and
makes a new task for a source each time it yields a message: about half of a dispatched message's
own cost on the event loop (docs/benchmarks.md, "receive loop"). Here each source has one
long-lived task that moves its messages into one inbox, read in order by the loop. The rules are
Channels': one message handled at a time, each source's messages in the order they came, a
source's exception raised in the loop (after what it yielded before), and the sources' receives
cancelled and awaited when the loop ends, so the layer drops the socket's channel before the
consumer returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from core.layers import Inbox


async def dispatch_in_order(
    sources: Sequence[Callable[[], Awaitable[Any]]], dispatch: Callable[[Any], Awaitable[None]]
) -> None:
    """Hand every message of `sources` to `dispatch`, one at a time, until one raises."""
    inbox = Inbox()

    async def pump(receive: Callable[[], Awaitable[Any]]) -> None:
        try:
            while True:
                inbox.put_nowait((await receive(), None))
        except BaseException as exc:
            inbox.put_nowait((None, exc))
            if isinstance(exc, asyncio.CancelledError):
                raise

    loop = asyncio.get_running_loop()
    pumps = [loop.create_task(pump(receive)) for receive in sources]
    try:
        while True:
            message, error = await inbox.get()
            if error is not None:
                raise error
            await dispatch(message)
    finally:
        for task in pumps:
            task.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
