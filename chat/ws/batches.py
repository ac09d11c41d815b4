"""Group commit for the sockets of this process: what arrives together is done together.

While a batch runs, the items that arrive meanwhile wait here; when a batch finishes, the next
takes all of them (up to its queue's max_batch). A quiet process runs batches of one with no added
wait; a busy one makes one worker-thread call, one statement and one Redis round trip for many
(docs/benchmarks.md, "group commit", "connect batches"). Each item is still answered on its own:
its result, or its own error. Socket sends (chat.ws.consumer) and socket starts (chat.ws.session)
each have their queue.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Any


class BatchQueue[T, R]:
    """Hands the items submitted to `run` in batches, at most `in_flight` batches at a time."""

    def __init__(self, run: Callable[[list[T]], Awaitable[list[R]]], *, max_batch: int, in_flight: int) -> None:
        self._run = run
        self._max_batch = max_batch
        self._in_flight = in_flight
        self._running = 0
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, item: T) -> asyncio.Future[R]:
        """`run`'s answer for this item, to await; an exception `run` raised for the whole batch is
        raised there. The item is queued at once, before the caller awaits."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        self._start_batches()
        return future

    def _start_batches(self) -> None:
        while self._running < self._in_flight and self._pending:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            self._running += 1
            task = asyncio.ensure_future(self._run_batch(batch))
            self._tasks.add(task)  # a reference, so the task is not collected while it runs
            task.add_done_callback(self._tasks.discard)

    async def _run_batch(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            answers = await self._run([item for item, _ in batch])
        except BaseException as exc:  # every send of the batch gets it (a database outage, say)
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            for (_, future), answer in zip(batch, answers, strict=True):
                if not future.done():  # its socket may have gone meanwhile: the send stands
                    future.set_result(answer)
        finally:
            self._running -= 1
            self._start_batches()


_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Callable[..., Any], BatchQueue[Any, Any]]] = (
    weakref.WeakKeyDictionary()
)


def queue_for_loop[T, R](
    run: Callable[[list[T]], Awaitable[list[R]]], *, max_batch: int, in_flight: int
) -> BatchQueue[T, R]:
    """This event loop's queue for `run` (one per process under daphne; one per test loop in
    tests), made with these limits the first time it is asked for."""
    queues = _queues.setdefault(asyncio.get_running_loop(), {})
    queue = queues.get(run)
    if queue is None:
        queue = queues[run] = BatchQueue(run, max_batch=max_batch, in_flight=in_flight)
    return queue
