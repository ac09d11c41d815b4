"""The shared store of expiring members, in Redis with REDIS_URL and in process memory without.

A key holds members that each expire at their own time (a sorted set scored by expiry in Redis):
presence (one member per open socket, refreshed by a heartbeat, so a process that dies without
cleaning up lets its entries lapse) and sliding-window rate limits (one member per event) are
both this one shape, on every process at once.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings
from redis.exceptions import NoScriptError, RedisError

if TYPE_CHECKING:
    from redis.commands.core import Script

# One script call of a pipeline: the script, its keys and its arguments.
type _ScriptCall = tuple[Script, list[str], list[str | int | float]]

# What a store call raises when its backend is unreachable; callers decide to fail open.
STORE_ERRORS: tuple[type[Exception], ...] = (RedisError, OSError)

# A Redis that hangs must not hang a send: a store call gives up after this long.
STORE_TIMEOUT_SECONDS = 2.0

log = logging.getLogger(__name__)


def lossy[T](default: Callable[[], T]) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """When the store is unreachable, log and answer `default()`: presence and limits are lossy
    by design (a committed send's ack, a socket's join or heartbeat, the `is_online` flags of a
    REST response must not fail because Redis is away)."""

    def decorate(func: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(func)
        def wrapper(*args: object, **kwargs: object) -> T:
            try:
                return func(*args, **kwargs)
            except STORE_ERRORS as exc:
                log.warning("shared store unreachable; %s skipped", func.__name__, extra={"error": type(exc).__name__})
                return default()

        return wrapper

    return decorate


@dataclass(frozen=True, slots=True)
class PopIf:
    """What `Store.pop_if_all` removes, and on what condition (see there)."""

    key: str
    member: str
    empty_key: str
    present_key: str
    present_member: str


@dataclass(frozen=True, slots=True)
class FirstMember:
    """What `Store.add_first_all` changes around a key's members (see there)."""

    cap: int
    clear_key: str
    flag_key: str
    flag_member: str
    flag_ttl: float


class Store(Protocol):
    def add(self, key: str, member: str, ttl: float) -> int:
        """Add or refresh `member`; return how many live members the key then has."""

    def remove(self, key: str, member: str) -> int:
        """Remove `member`; return how many live members are left."""

    def add_first_all(self, entries: list[tuple[str, str, FirstMember]], ttl: float) -> list[tuple[int, bool]]:
        """For each (key, member, first), in order and in one round trip where the store has them:
        `add`, in one atomic step with what a key's first member changes: over `first.cap` live
        members the member is removed again; as the only one, `first.clear_key` is dropped and
        `first.flag_member` added to `first.flag_key`. Returns, per entry, the live count with the
        member and whether that flag was newly raised."""

    def add_all(self, pairs: list[tuple[str, str]], ttl: float) -> list[int]:
        """`add` for each (key, member), in one round trip where the store has them."""

    def remove_all(self, pairs: list[tuple[str, str]]) -> list[int]:
        """`remove` for each (key, member), in one round trip where the store has them."""

    def live_counts(self, keys: list[str]) -> list[int]: ...

    def pop(self, key: str, member: str) -> bool:
        """Remove `member`; whether it was live."""

    def pop_if_all(self, entries: list[PopIf]) -> list[bool]:
        """For each entry, in order and in one round trip where the store has them: remove
        `member` from `key` if `empty_key` has no live member and `present_member` is live in
        `present_key` (which it leaves then); whether a live `member` was removed. Atomic for each
        entry: nothing can change its keys between the checks and the removal."""

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
            return self._remove(key, member, now)

    def _remove(self, key: str, member: str, now: float) -> int:
        members = self._live(key, now)
        members.pop(member, None)
        count = len(members)
        if not count:
            self._data.pop(key, None)
        return count

    def add_first_all(self, entries: list[tuple[str, str, FirstMember]], ttl: float) -> list[tuple[int, bool]]:
        return [self._add_first(key, member, ttl, first) for key, member, first in entries]

    def _add_first(self, key: str, member: str, ttl: float, first: FirstMember) -> tuple[int, bool]:
        now = time.time()
        with self._lock:
            members = self._live(key, now)
            members[member] = now + ttl
            count = len(members)
            if count > first.cap:
                self._remove(key, member, now)
                return count, False
            if count > 1:
                return count, False
            self._data.pop(first.clear_key, None)
            flags = self._live(first.flag_key, now)
            raised = first.flag_member not in flags
            flags[first.flag_member] = now + first.flag_ttl
            return count, raised

    def add_all(self, pairs: list[tuple[str, str]], ttl: float) -> list[int]:
        return [self.add(key, member, ttl) for key, member in pairs]

    def remove_all(self, pairs: list[tuple[str, str]]) -> list[int]:
        return [self.remove(key, member) for key, member in pairs]

    def live_counts(self, keys: list[str]) -> list[int]:
        now = time.time()
        with self._lock:
            return [len(self._live(key, now)) if key in self._data else 0 for key in keys]

    def pop(self, key: str, member: str) -> bool:
        now = time.time()
        with self._lock:
            return self._live(key, now).pop(member, None) is not None

    def pop_if_all(self, entries: list[PopIf]) -> list[bool]:
        now = time.time()
        with self._lock:
            return [self._pop_if(entry, now) for entry in entries]

    def _pop_if(self, entry: PopIf, now: float) -> bool:
        if self._live(entry.empty_key, now):
            return False
        if self._live(entry.present_key, now).pop(entry.present_member, None) is None:
            return False
        return self._live(entry.key, now).pop(entry.member, None) is not None

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
_ADD_FIRST = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local count = redis.call('ZCARD', KEYS[1])
if count > tonumber(ARGV[5]) then
  redis.call('ZREM', KEYS[1], ARGV[3])
  return {count, 0}
end
if count > 1 then return {count, 0} end
redis.call('DEL', KEYS[2])
local score = redis.call('ZSCORE', KEYS[3], ARGV[6])
redis.call('ZADD', KEYS[3], ARGV[7], ARGV[6])
redis.call('PEXPIRE', KEYS[3], ARGV[8])
if score and tonumber(score) > tonumber(ARGV[1]) then return {count, 0} end
return {count, 1}
"""
_POP = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[1], ARGV[2])
if score and tonumber(score) > tonumber(ARGV[1]) then return 1 end
return 0
"""
_POP_IF = """
if redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[1], '+inf') > 0 then return 0 end
local present = redis.call('ZSCORE', KEYS[3], ARGV[3])
if not present or tonumber(present) <= tonumber(ARGV[1]) then return 0 end
redis.call('ZREM', KEYS[3], ARGV[3])
local score = redis.call('ZSCORE', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[1], ARGV[2])
if score and tonumber(score) > tonumber(ARGV[1]) then return 1 end
return 0
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
        self._add_first = self._redis.register_script(_ADD_FIRST)
        self._pop = self._redis.register_script(_POP)
        self._pop_if = self._redis.register_script(_POP_IF)

    def key(self, key: str) -> str:
        """The Redis key behind `key` (for scripts that read it)."""
        return f"{self._prefix}:{key}"

    def add(self, key: str, member: str, ttl: float) -> int:
        now = time.time()
        return int(self._add(keys=[self.key(key)], args=[now, now + ttl, member, int(ttl * 1000) + 1000]))

    def remove(self, key: str, member: str) -> int:
        return int(self._remove(keys=[self.key(key)], args=[time.time(), member]))

    def add_first_all(self, entries: list[tuple[str, str, FirstMember]], ttl: float) -> list[tuple[int, bool]]:
        now = time.time()
        calls: list[_ScriptCall] = []
        for key, member, first in entries:
            keys = [self.key(key), self.key(first.clear_key), self.key(first.flag_key)]
            args: list[str | int | float] = [now, now + ttl, member, int(ttl * 1000) + 1000, first.cap]
            args += [first.flag_member, now + first.flag_ttl, int(first.flag_ttl * 1000) + 1000]
            calls.append((self._add_first, keys, args))
        return [(int(count), bool(raised)) for count, raised in self._run_scripts(calls)]

    def add_all(self, pairs: list[tuple[str, str]], ttl: float) -> list[int]:
        now = time.time()
        calls: list[_ScriptCall] = [
            (self._add, [self.key(key)], [now, now + ttl, member, int(ttl * 1000) + 1000]) for key, member in pairs
        ]
        return [int(n) for n in self._run_scripts(calls)]

    def remove_all(self, pairs: list[tuple[str, str]]) -> list[int]:
        now = time.time()
        return [int(n) for n in self._run_scripts([(self._remove, [self.key(k)], [now, m]) for k, m in pairs])]

    def _run_scripts(self, calls: list[_ScriptCall]) -> list[Any]:
        """Each (script, keys, args) by EVALSHA in one pipeline, one round trip: redis-py's own
        pipelined scripts ask SCRIPT EXISTS before every pipeline, a second one. The calls of a
        script the server no longer has (a restart, SCRIPT FLUSH) load it and run again, once."""
        answers = self._pipelined(calls)
        missing = [i for i, answer in enumerate(answers) if isinstance(answer, NoScriptError)]
        if missing:
            for script in {id(calls[i][0]): calls[i][0] for i in missing}.values():
                script.sha = self._redis.script_load(script.script)
            for i, answer in zip(missing, self._pipelined([calls[i] for i in missing]), strict=True):
                answers[i] = answer
        for answer in answers:
            if isinstance(answer, Exception):
                raise answer
        return answers

    def _pipelined(self, calls: list[_ScriptCall]) -> list[Any]:
        if not calls:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for script, keys, args in calls:
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        return list(pipe.execute(raise_on_error=False))

    def live_counts(self, keys: list[str]) -> list[int]:
        if not keys:
            return []
        now = time.time()
        pipe = self._redis.pipeline(transaction=False)
        for key in keys:
            pipe.zcount(self.key(key), f"({now}", "+inf")
        return [int(n) for n in pipe.execute()]

    def pop(self, key: str, member: str) -> bool:
        return bool(self._pop(keys=[self.key(key)], args=[time.time(), member]))

    def pop_if_all(self, entries: list[PopIf]) -> list[bool]:
        now = time.time()
        calls: list[_ScriptCall] = [
            (
                self._pop_if,
                [self.key(e.key), self.key(e.empty_key), self.key(e.present_key)],
                [now, e.member, e.present_member],
            )
            for e in entries
        ]
        return [bool(popped) for popped in self._run_scripts(calls)]

    def clear(self) -> None:
        keys = list(self._redis.scan_iter(match=self.key("*"), count=1000))
        if keys:
            self._redis.delete(*keys)


@cache
def shared() -> Store:
    """The process's store: Redis with REDIS_URL, else process memory."""
    if settings.REDIS_URL:
        return RedisStore(settings.REDIS_URL, settings.CHANNEL_PREFIX)
    return MemoryStore()


def redis_url() -> str | None:
    """The Redis server the store lives in, or None when it is kept in process memory."""
    s = shared()
    return s.url if isinstance(s, RedisStore) else None
