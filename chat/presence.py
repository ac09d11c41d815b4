"""Who is online and which sockets sit in which conversation room, shared by all processes.

Each open socket is an entry with an expiry time (a sorted-set score in Redis). A socket
refreshes its entries with a heartbeat; a process that dies without running `disconnect`
stops refreshing, so its entries lapse after PRESENCE_TTL_SECONDS instead of leaving the
user online forever. Without REDIS_URL the same logic runs on an in-process store (the
embedded one-process mode).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from functools import cache
from typing import Protocol

from django.conf import settings
from redis.exceptions import RedisError

# What a store call raises when its backend is unreachable; callers decide to fail open.
STORE_ERRORS: tuple[type[Exception], ...] = (RedisError, OSError)

PRESENCE_TTL_SECONDS = float(settings.PRESENCE_TTL_SECONDS)
HEARTBEAT_SECONDS = PRESENCE_TTL_SECONDS / 3
# A Redis that hangs must not hang a send: a store call gives up after this long.
STORE_TIMEOUT_SECONDS = 2.0

log = logging.getLogger(__name__)


def lossy[T](default: Callable[[], T]) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Presence is lossy by design: when the store is unreachable, log and answer `default()`.

    The callers are a committed send (its ack must not turn into an error), a socket's join or
    heartbeat (the socket must stay up) and the `is_online` flags of REST responses.
    """

    def decorate(func: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(func)
        def wrapper(*args: object, **kwargs: object) -> T:
            try:
                return func(*args, **kwargs)
            except STORE_ERRORS as exc:
                log.warning(
                    "presence store unreachable; %s skipped", func.__name__, extra={"error": type(exc).__name__}
                )
                return default()

        return wrapper

    return decorate


def _user_key(user_id: int) -> str:
    return f"presence:user:{user_id}"


def _room_key(conversation_id: int, user_id: int) -> str:
    return f"presence:room:{conversation_id}:{user_id}"


class Store(Protocol):
    def add(self, key: str, member: str, ttl: float) -> int:
        """Add or refresh `member`; return how many live members the key then has."""

    def remove(self, key: str, member: str) -> int:
        """Remove `member`; return how many live members are left."""

    def add_all(self, pairs: list[tuple[str, str]], ttl: float) -> None:
        """`add` for each (key, member), in one round trip where the store has them."""

    def remove_all(self, pairs: list[tuple[str, str]]) -> list[int]:
        """`remove` for each (key, member), in one round trip where the store has them."""

    def live_counts(self, keys: list[str]) -> list[int]: ...

    def clear(self) -> None: ...


class MemoryStore:
    """One process only: the embedded default and the unit tests without Redis."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    def _live(self, key: str, now: float) -> dict[str, float]:
        members = self._data.setdefault(key, {})
        for member in [m for m, expiry in members.items() if expiry <= now]:
            del members[member]
        return members

    def add(self, key: str, member: str, ttl: float) -> int:
        now = time.time()
        with self._lock:
            members = self._live(key, now)
            members[member] = now + ttl
            return len(members)

    def remove(self, key: str, member: str) -> int:
        now = time.time()
        with self._lock:
            members = self._live(key, now)
            members.pop(member, None)
            count = len(members)
            if not count:
                self._data.pop(key, None)
            return count

    def add_all(self, pairs: list[tuple[str, str]], ttl: float) -> None:
        for key, member in pairs:
            self.add(key, member, ttl)

    def remove_all(self, pairs: list[tuple[str, str]]) -> list[int]:
        return [self.remove(key, member) for key, member in pairs]

    def live_counts(self, keys: list[str]) -> list[int]:
        now = time.time()
        with self._lock:
            return [len(self._live(key, now)) if key in self._data else 0 for key in keys]

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


# Add/remove and count in one round trip, atomically, so two processes racing on a
# user's first and last socket agree on who came online and who went offline.
_ADD = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return redis.call('ZCARD', KEYS[1])
"""
_REMOVE = """
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return redis.call('ZCARD', KEYS[1])
"""


class RedisStore:
    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(
            url,
            max_connections=settings.REDIS_MAX_CONNECTIONS,
            socket_timeout=STORE_TIMEOUT_SECONDS,
            socket_connect_timeout=STORE_TIMEOUT_SECONDS,
        )
        self._prefix = prefix
        self.url = url
        self._add = self._redis.register_script(_ADD)
        self._remove = self._redis.register_script(_REMOVE)

    def _k(self, key: str) -> str:
        return f"{self._prefix}:{key}"

    def add(self, key: str, member: str, ttl: float) -> int:
        now = time.time()
        return int(self._add(keys=[self._k(key)], args=[now, now + ttl, member, int(ttl * 1000) + 1000]))

    def remove(self, key: str, member: str) -> int:
        return int(self._remove(keys=[self._k(key)], args=[time.time(), member]))

    def add_all(self, pairs: list[tuple[str, str]], ttl: float) -> None:
        now = time.time()
        pipe = self._redis.pipeline(transaction=False)
        for key, member in pairs:
            self._add(keys=[self._k(key)], args=[now, now + ttl, member, int(ttl * 1000) + 1000], client=pipe)
        pipe.execute()

    def remove_all(self, pairs: list[tuple[str, str]]) -> list[int]:
        now = time.time()
        pipe = self._redis.pipeline(transaction=False)
        for key, member in pairs:
            self._remove(keys=[self._k(key)], args=[now, member], client=pipe)
        return [int(n) for n in pipe.execute()]

    def live_counts(self, keys: list[str]) -> list[int]:
        if not keys:
            return []
        now = time.time()
        pipe = self._redis.pipeline(transaction=False)
        for key in keys:
            pipe.zcount(self._k(key), f"({now}", "+inf")
        return [int(n) for n in pipe.execute()]

    def clear(self) -> None:
        keys = list(self._redis.scan_iter(match=self._k("presence:*"), count=1000))
        if keys:
            self._redis.delete(*keys)


@cache
def store() -> Store:
    if settings.REDIS_URL:
        return RedisStore(settings.REDIS_URL, settings.CHANNEL_PREFIX)
    return MemoryStore()


# --- Sockets and users ---------------------------------------------------------------------


@lossy(bool)
def socket_connected(user_id: int, channel_name: str) -> bool:
    """Record a socket; True when it is the user's first live one (the user came online)."""
    return store().add(_user_key(user_id), channel_name, PRESENCE_TTL_SECONDS) == 1


@lossy(bool)
def socket_closed(user_id: int, channel_name: str, conversation_ids: Iterable[int]) -> bool:
    """Forget a socket and its room entries in one round trip; True when it was the user's last."""
    pairs = [(_room_key(conversation_id, user_id), channel_name) for conversation_id in conversation_ids]
    pairs.append((_user_key(user_id), channel_name))
    return store().remove_all(pairs)[-1] == 0


@lossy(lambda: None)
def heartbeat(user_id: int, channel_name: str, conversation_ids: Iterable[int]) -> None:
    """Refresh a live socket's entries so they outlast the TTL while it stays open."""
    pairs = [(_user_key(user_id), channel_name)]
    pairs += [(_room_key(conversation_id, user_id), channel_name) for conversation_id in conversation_ids]
    store().add_all(pairs, PRESENCE_TTL_SECONDS)


@lossy(set[int])
def online_among(user_ids: Iterable[int]) -> set[int]:
    ids = list(dict.fromkeys(user_ids))
    counts = store().live_counts([_user_key(uid) for uid in ids])
    return {uid for uid, count in zip(ids, counts, strict=True) if count}


def is_online(user_id: int) -> bool:
    return bool(online_among([user_id]))


# --- Conversation rooms --------------------------------------------------------------------


@lossy(lambda: None)
def room_joined(conversation_id: int, user_id: int, channel_name: str) -> None:
    store().add(_room_key(conversation_id, user_id), channel_name, PRESENCE_TTL_SECONDS)


@lossy(lambda: None)
def room_left(conversation_id: int, user_id: int, channel_name: str) -> None:
    store().remove(_room_key(conversation_id, user_id), channel_name)


@lossy(lambda: (False, False))
def online_and_in_room(user_id: int, conversation_id: int, room_user_id: int) -> tuple[bool, bool]:
    """Whether `user_id` is online and whether `room_user_id` sits in the room: one store round trip."""
    online, in_room = store().live_counts([_user_key(user_id), _room_key(conversation_id, room_user_id)])
    return bool(online), bool(in_room)


def redis_url() -> str | None:
    """The Redis server presence lives in, or None when it is kept in process memory."""
    s = store()
    return s.url if isinstance(s, RedisStore) else None


def redis_room_key(conversation_id: int, user_id: int) -> str | None:
    """The Redis key of a user's sockets in a room (for scripts that check it), or None without Redis."""
    s = store()
    return s._k(_room_key(conversation_id, user_id)) if isinstance(s, RedisStore) else None


@lossy(bool)
def user_in_room(conversation_id: int, user_id: int) -> bool:
    """Whether any of the user's sockets, on any process, sits in the conversation room."""
    return bool(store().live_counts([_room_key(conversation_id, user_id)])[0])
