"""Waiting for something to happen, with a deadline, instead of sleeping a guessed time."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeIs


def wait_until[T](predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.02) -> T:
    """Call `predicate()` until it returns something truthy and return that; TimeoutError naming
    `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(interval)


async def wait_until_async[T](
    predicate: Callable[[], T | Awaitable[T]], timeout: float, what: str, interval: float = 0.02
) -> T:
    """`wait_until` for the event loop: `predicate` may be a coroutine function; the loop runs meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        answer = predicate()
        value = await answer if _awaitable(answer) else answer
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(interval)


def _awaitable(value: object) -> TypeIs[Awaitable[Any]]:
    return inspect.isawaitable(value)
