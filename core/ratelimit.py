"""Sliding-window limits in the shared store, so they hold across every server process.

Each event is a member that expires after the window: the live count is the number of events
in the last window, on every process at once. When the store cannot be reached the limits fail
open (a message is worth more than the limit), and the failure is logged.
"""

from __future__ import annotations

import logging
import uuid

from core import store
from core.errors import RateLimited
from core.store import STORE_ERRORS

log = logging.getLogger(__name__)


def _store_error(exc: Exception, what: str) -> None:
    log.warning("rate limit store unreachable; %s not limited", what, extra={"error": type(exc).__name__})


def take(key: str, *, count: int, seconds: int, what: str = "event", message: str | None = None) -> None:
    """Count one event against `count` per `seconds` under `key`, or raise RateLimited.

    A refused event does not count against the next window.
    """
    member = uuid.uuid4().hex
    try:
        if store.shared().add(key, member, float(seconds)) <= count:
            return
        store.shared().remove(key, member)
    except STORE_ERRORS as exc:
        _store_error(exc, what)
        return
    raise RateLimited(seconds, message)


def first_in(key: str, *, seconds: float, what: str = "event") -> bool:
    """Whether this is the first event under `key` in the last `seconds` (a throttle)."""
    return first_in_all([key], seconds=seconds, what=what)[0]


def first_in_all(keys: list[str], *, seconds: float, what: str = "event") -> list[bool]:
    """`first_in` for each key, in order (a key twice: only its first can be), in one round trip
    and one more for the events that were not first. True for each when the store is unreachable."""
    members = [(key, uuid.uuid4().hex) for key in keys]
    try:
        firsts = [count == 1 for count in store.shared().add_all(members, seconds)]
        refused = [member for member, first in zip(members, firsts, strict=True) if not first]
        if refused:
            store.shared().remove_all(refused)
    except STORE_ERRORS as exc:
        _store_error(exc, what)
        return [True] * len(keys)
    return firsts


def raise_flag(key: str, *, seconds: float, what: str = "flag") -> None:
    """Mark `key` for `seconds` (a state a later `lower_flag` asks about)."""
    try:
        store.shared().add(key, "on", seconds)
    except STORE_ERRORS as exc:
        _store_error(exc, what)


def lower_flag(key: str, *, what: str = "flag") -> bool:
    """Clear the mark of `raise_flag`; whether it was set (True when the store is unreachable)."""
    try:
        return store.shared().pop(key, "on")
    except STORE_ERRORS as exc:
        _store_error(exc, what)
        return True


class Taken:
    """Events counted by `take_all`; `give_back` un-counts them (a login that turned out right)."""

    __slots__ = ("_members",)

    def __init__(self, members: list[tuple[str, str]]) -> None:
        self._members = members

    def give_back(self) -> None:
        members, self._members = self._members, []
        if not members:
            return
        try:
            store.shared().remove_all(members)
        except STORE_ERRORS as exc:
            _store_error(exc, "giving back")


def take_all(limits: list[tuple[str, int, int]], *, what: str, message: str) -> Taken:
    """Count one event under each `(key, count, seconds)`, all of them or none, or raise
    RateLimited(`message`, with `{seconds}` filled in) for the first limit that is full.

    Counted before the work it guards, so that parallel attempts cannot all pass a check made
    before any of them is recorded; the caller gives the events back when they should not count.
    """
    taken: list[tuple[str, str]] = []
    for key, count, seconds in limits:
        member = uuid.uuid4().hex
        try:
            live = store.shared().add(key, member, float(seconds))
        except STORE_ERRORS as exc:
            _store_error(exc, what)
            return Taken(taken)
        taken.append((key, member))
        if live > count:
            Taken(taken).give_back()
            raise RateLimited(seconds, message.format(seconds=seconds))
    return Taken(taken)
