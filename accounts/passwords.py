"""Password hashing off the request: no database connection held, a few at a time, at low priority.

A hash is, by design, the slowest step of a sign-up or a login (Argon2: more than a core and
100 MiB for a while). A request that had run a query kept its pooled connection through the
hash, so a burst of sign-ups or logins drained the pool and every other request waited the
pool's timeout and answered 503. So the request gives its connection back first, and the hash
runs on one of PASSWORD_HASH_CONCURRENCY worker threads; those are niced (on Linux) so that a
burst of hashes takes only the CPU that other requests leave, instead of slowing them all down.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.contrib.auth import hashers
from django.db import connections

from core.errors import RateLimited

NICENESS = 10  # below the request threads and the event loop (0): hashes yield the CPU to them
RETRY_AFTER_SECONDS = 5  # the queue was long: not at once


def _lower_priority() -> None:
    """Each worker thread's start. Linux keeps the nice value per thread, and the threads
    libargon2 starts for its lanes inherit it; elsewhere it would apply to the whole process."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)


# Sized once at start; request threads of any number share it.
_workers = ThreadPoolExecutor(
    max_workers=settings.PASSWORD_HASH_CONCURRENCY, thread_name_prefix="password-hash", initializer=_lower_priority
)


def release_connections() -> None:
    """Give this thread's database connections back to the pool; its next query takes one again.

    Never inside a transaction: closing there would break it (the tests run in one).
    """
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()


def _run[T](func: Callable[..., T], *args: Any) -> T:
    """`func(*args)` on a hashing worker, with no connection held while it waits and runs.

    A hash still queued after PASSWORD_HASH_WAIT_SECONDS is dropped and answered 429: its client
    may have given up, and a hash for nobody would only lengthen the queue. One already running
    is waited for.
    """
    release_connections()
    future = _workers.submit(func, *args)
    try:
        return future.result(timeout=settings.PASSWORD_HASH_WAIT_SECONDS)
    except TimeoutError:
        if future.cancel():
            raise RateLimited(
                RETRY_AFTER_SECONDS, "Too many sign-ups and logins at once; retry in a few seconds."
            ) from None
        return future.result()


def hash_password(raw_password: str) -> str:
    """Django's make_password (the first of PASSWORD_HASHERS: Argon2)."""
    return _run(hashers.make_password, raw_password)


def check_password(raw_password: str, encoded: str) -> tuple[bool, bool]:
    """(correct, outdated): Django's check_password; `outdated` means the hash is not the first
    hasher's (or not with its current parameters), so the caller re-hashes and stores it."""
    outdated: list[str] = []
    correct = _run(hashers.check_password, raw_password, encoded, outdated.append)
    return correct, bool(outdated)
