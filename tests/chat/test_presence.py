"""Presence bookkeeping on both stores: the in-process one (embedded mode) and Redis (production).

A socket's close removes its user entry and its room entries in one call (one round trip on
Redis); the heartbeat refreshes all of them in one call. Both must answer exactly as the
one-by-one calls did: who went offline, who is still in a room.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from accounts.presence import online_among
from chat import presence
from core import store as shared_store
from tests.core.test_publisher import _redis_reachable

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    if request.param == "redis":
        if not _redis_reachable():
            pytest.skip("needs Redis (CI has it)")
        chosen: Any = shared_store.RedisStore(REDIS_URL, f"test-presence-{uuid.uuid4().hex[:8]}")
    else:
        chosen = shared_store.MemoryStore()
    monkeypatch.setattr(shared_store, "shared", lambda: chosen)
    yield chosen
    chosen.clear()


def test_closing_the_last_socket_takes_the_user_offline_and_out_of_its_rooms(store: Any) -> None:
    assert presence.socket_connected(1, "a") == (1, True)  # the first live socket, and news
    presence.room_joined(10, 1, "a")
    presence.room_joined(11, 1, "a")
    assert presence.socket_closed(1, "a", [10, 11]) is True
    assert online_among([1]) == set()
    assert not presence.user_in_room(10, 1) and not presence.user_in_room(11, 1)


def test_closing_one_of_two_sockets_keeps_the_user_online_and_the_other_socket_in_its_room(store: Any) -> None:
    presence.socket_connected(1, "a")
    presence.socket_connected(1, "b")
    presence.room_joined(10, 1, "a")
    presence.room_joined(10, 1, "b")
    presence.room_joined(11, 1, "a")
    assert presence.socket_closed(1, "a", [10, 11]) is False
    assert online_among([1]) == {1}
    assert presence.user_in_room(10, 1) is True  # b is still there
    assert presence.user_in_room(11, 1) is False


def test_closing_a_socket_without_rooms(store: Any) -> None:
    presence.socket_connected(2, "a")
    assert presence.socket_closed(2, "a", []) is True
    assert online_among([2]) == set()


def test_sockets_closing_together_answer_as_one_after_the_other(store: Any) -> None:
    """One round trip for the sockets that close together on a process: of a user's two, only the
    second was the last, and each socket's rooms are left."""
    for user_id, channel in ((1, "a"), (1, "b"), (2, "c"), (3, "d")):
        presence.socket_connected(user_id, channel)
    presence.room_joined(10, 1, "a")
    presence.room_joined(10, 2, "c")
    closings = [(1, "a", [10]), (2, "c", [10]), (1, "b", []), (3, "x", [])]  # "x" was never open
    assert presence.sockets_closed(closings) == [False, True, True, False]
    assert online_among([1, 2, 3]) == {3}
    assert not presence.user_in_room(10, 1) and not presence.user_in_room(10, 2)


def test_closes_are_lost_not_raised_when_the_store_is_unreachable(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import redis

    def unreachable(pairs: list[tuple[str, str]]) -> list[int]:
        raise redis.ConnectionError("Redis is away")

    presence.socket_connected(1, "a")
    monkeypatch.setattr(store, "remove_all", unreachable)
    assert presence.sockets_closed([(1, "a", [10]), (2, "b", [])]) == [False, False]


def test_the_heartbeat_refreshes_the_user_and_every_room_entry(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import time as real_time
    from types import SimpleNamespace

    start = real_time.time()
    presence.socket_connected(3, "a")
    presence.room_joined(20, 3, "a")
    presence.room_joined(21, 3, "a")
    later = start + presence.PRESENCE_TTL_SECONDS * 0.9
    monkeypatch.setattr(shared_store, "time", SimpleNamespace(time=lambda: later))
    presence.heartbeat(3, "a", [20, 21])
    # Past the first TTL, only the refreshed entries are alive.
    monkeypatch.setattr(shared_store, "time", SimpleNamespace(time=lambda: start + presence.PRESENCE_TTL_SECONDS * 1.5))
    assert online_among([3]) == {3}
    assert presence.user_in_room(20, 3) and presence.user_in_room(21, 3)
    monkeypatch.setattr(shared_store, "time", SimpleNamespace(time=lambda: later + presence.PRESENCE_TTL_SECONDS + 1))
    assert online_among([3]) == set()
    assert not presence.user_in_room(20, 3)


def test_a_socket_is_recorded_with_its_count_and_whether_coming_online_is_news(store: Any, settings: Any) -> None:
    """One round trip answers both: the first socket is news, a second is not, and one over
    MAX_SOCKETS_PER_USER is counted but not kept."""
    settings.MAX_SOCKETS_PER_USER = 2
    assert presence.socket_connected(4, "a") == (1, True)
    assert presence.socket_connected(4, "b") == (2, False)
    assert presence.socket_connected(4, "c") == (3, False)  # over the cap: refused ...
    assert presence.socket_closed(4, "a", []) is False
    assert presence.socket_closed(4, "b", []) is True  # ... so "c" was never kept


def test_a_user_back_within_the_grace_is_not_news_and_their_offline_is_called_off(store: Any) -> None:
    """The last socket closed and its offline is pending (`went_away`); a socket that comes
    back is no announcement, and the pending offline no longer applies."""
    assert presence.socket_connected(5, "a") == (1, True)
    assert presence.socket_closed(5, "a", []) is True
    presence.went_away([5], "1.0")
    assert presence.socket_connected(5, "b") == (1, False)  # still announced online
    assert presence.socket_closed(5, "b", []) is True
    assert presence.announce_offline([5], "1.0") == [False]  # the close it came back from was forgotten


def test_a_user_announced_offline_is_news_again(store: Any) -> None:
    assert presence.socket_connected(6, "a") == (1, True)
    assert presence.socket_closed(6, "a", []) is True
    presence.went_away([6], "2.0")
    assert presence.announce_offline([6], "2.0") == [True]
    assert presence.socket_connected(6, "b") == (1, True)


def test_offlines_asked_together_are_each_decided_on_their_own(store: Any) -> None:
    """One round trip for a close batch's users: gone and announced online (7), back on another
    socket (8), never announced (9), and 7 asked twice (announced once)."""
    for user_id in (7, 8):
        presence.socket_connected(user_id, "a")
        presence.sockets_closed([(user_id, "a", [])])
    presence.socket_connected(8, "b")
    presence.went_away([7, 8, 9], "3.0")
    assert presence.announce_offline([7, 8, 9, 7], "3.0") == [True, False, False, False]
