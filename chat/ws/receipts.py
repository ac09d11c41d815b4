"""Delivery confirmations of this process's sockets, coalesced: one statement per burst.

A client confirms every `new_message` (`mark_delivered`), so a burst of messages brings a burst
of confirmations. They are acked at once and kept here per (receiver, conversation), only the
highest id of each; DELIVERY_RECEIPT_WINDOW_MS after the first of a burst, every pointer of
every socket of the process is moved by one statement (chat.services.conversations.mark_delivered),
and each pointer that moved gives its sender one `messages_delivered`. A confirmation lost to a
failed write is covered by the next one: a pointer covers everything below it.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable

from django.conf import settings

from chat.services.conversations import DeliveryMark

logger = logging.getLogger("chat.socket")

Flush = Callable[[list[DeliveryMark]], Awaitable[object]]


class DeliveryCoalescer:
    """Keeps the highest confirmation per (user, conversation) and flushes them together."""

    def __init__(self, flush: Flush, *, window: float) -> None:
        self._flush = flush
        self._window = window
        self._pending: dict[tuple[int, int], DeliveryMark] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    def submit(self, mark: DeliveryMark) -> None:
        key = (mark.user.pk, mark.conversation.pk)
        held = self._pending.get(key)
        if held is None or held.up_to_message_id < mark.up_to_message_id:
            self._pending[key] = mark
        self._arm()

    def _arm(self) -> None:
        busy = self._task is not None and not self._task.done()
        if self._pending and self._timer is None and not busy:
            self._timer = asyncio.get_running_loop().call_later(self._window, self._start)

    def _start(self) -> None:
        self._timer = None
        marks, self._pending = list(self._pending.values()), {}
        self._task = asyncio.ensure_future(self._run(marks))

    async def _run(self, marks: list[DeliveryMark]) -> None:
        try:
            await self._flush(marks)
        except Exception:
            logger.warning("delivery receipts not stored", exc_info=True, extra={"marks": len(marks)})
        finally:
            self._task = None
            self._arm()  # what arrived while this flush ran


_coalescers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, DeliveryCoalescer] = weakref.WeakKeyDictionary()


def coalescer_for_loop(flush: Flush) -> DeliveryCoalescer:
    """This event loop's coalescer (one per process under daphne; one per test loop in tests)."""
    loop = asyncio.get_running_loop()
    coalescer = _coalescers.get(loop)
    if coalescer is None:
        coalescer = _coalescers[loop] = DeliveryCoalescer(flush, window=settings.DELIVERY_RECEIPT_WINDOW_MS / 1000)
    return coalescer
