"""MESSAGE_RATE_LIMIT and the typing throttle: exact limits, sliding windows, shared state."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from chat import ratelimit
from chat.models import Message
from chatproject.env import RateLimit
from core import store
from core.errors import RateLimited
from tests.support.api import SEND


def test_exactly_count_messages_pass_in_a_window(settings: Any) -> None:
    settings.MESSAGE_RATE_LIMIT = RateLimit(3, 10)
    for _ in range(3):
        ratelimit.check_message_rate(1)
    with pytest.raises(RateLimited) as refused:
        ratelimit.check_message_rate(1)
    assert 1 <= refused.value.retry_after <= 10
    ratelimit.check_message_rate(2)  # per user


class _Clock:
    """The stores read time.time(); a clock the test moves keeps window tests exact on a busy machine."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr(store, "time", fake)
    return fake


def test_refused_attempts_do_not_extend_the_window(settings: Any, clock: _Clock) -> None:
    settings.MESSAGE_RATE_LIMIT = RateLimit(2, 1)
    ratelimit.check_message_rate(7)
    ratelimit.check_message_rate(7)
    for _ in range(5):
        with pytest.raises(RateLimited):
            ratelimit.check_message_rate(7)
    clock.now += 1.01
    ratelimit.check_message_rate(7)  # the window slid past both accepted sends
    ratelimit.check_message_rate(7)
    with pytest.raises(RateLimited):
        ratelimit.check_message_rate(7)


def test_the_window_slides_rather_than_resetting(settings: Any, clock: _Clock) -> None:
    settings.MESSAGE_RATE_LIMIT = RateLimit(2, 1)
    ratelimit.check_message_rate(8)
    clock.now += 0.6
    ratelimit.check_message_rate(8)
    clock.now += 0.5  # the first send has left the window, the second has not
    ratelimit.check_message_rate(8)
    with pytest.raises(RateLimited):
        ratelimit.check_message_rate(8)


def test_off_never_limits(settings: Any) -> None:
    settings.MESSAGE_RATE_LIMIT = RateLimit(0, 1)
    for _ in range(500):
        ratelimit.check_message_rate(9)


def test_the_limit_holds_under_concurrent_senders(settings: Any) -> None:
    settings.MESSAGE_RATE_LIMIT = RateLimit(10, 30)
    accepted: list[int] = []
    refused: list[int] = []
    start = threading.Barrier(8)

    def burst() -> None:
        start.wait()
        for _ in range(5):
            try:
                ratelimit.check_message_rate(11)
                accepted.append(1)
            except RateLimited:
                refused.append(1)

    threads = [threading.Thread(target=burst) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(accepted), len(refused)) == (10, 30), (len(accepted), len(refused))


def test_typing_is_forwarded_once_per_interval_per_conversation(settings: Any, clock: _Clock) -> None:
    settings.TYPING_INTERVAL_SECONDS = 1
    assert ratelimit.allow_typing(1, 100)
    assert not ratelimit.allow_typing(1, 100)
    assert ratelimit.allow_typing(1, 101)  # another conversation
    assert ratelimit.allow_typing(2, 100)  # another user
    clock.now += 1.01
    assert ratelimit.allow_typing(1, 100)


def test_room_events_asked_together_are_throttled_as_one_after_the_other(settings: Any, clock: _Clock) -> None:
    settings.ROOM_EVENT_INTERVAL_SECONDS = 1
    rooms = [(1, 100), (1, 100), (2, 100), (1, 101)]
    assert ratelimit.allow_room_events(rooms, "joined") == [True, False, True, True]
    assert ratelimit.allow_room_events(rooms, "joined") == [False] * 4
    assert ratelimit.allow_room_events(rooms, "left") == [True, False, True, True]  # each kind its own
    clock.now += 1.01
    assert ratelimit.allow_room_events(rooms, "joined") == [True, False, True, True]


class _DownStore(store.MemoryStore):
    def add(self, key: str, member: str, ttl: float) -> int:
        raise ConnectionError("redis is down")


def test_an_unreachable_store_fails_open(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.MESSAGE_RATE_LIMIT = RateLimit(1, 10)
    monkeypatch.setattr(store, "shared", lambda: _DownStore())
    for _ in range(3):
        ratelimit.check_message_rate(12)
    assert ratelimit.allow_typing(12, 1)
    assert ratelimit.allow_room_events([(12, 1), (12, 1)], "joined") == [True, True]


@pytest.mark.django_db
def test_rest_send_over_the_limit_is_429_and_stores_nothing(
    settings: Any, client_for: Callable[[User], APIClient], alice: User, bob: User
) -> None:
    settings.MESSAGE_RATE_LIMIT = RateLimit(2, 10)
    api = client_for(alice)
    for n in range(2):
        assert api.post(SEND, {"receiverId": bob.pk, "content": f"m{n}"}, format="json").status_code == 201
    response = api.post(SEND, {"receiverId": bob.pk, "content": "one too many"}, format="json")
    assert response.status_code == 429
    body = response.json()
    assert body["success"] is False and "retry" in body["message"]
    assert 1 <= int(response["Retry-After"]) <= 10
    assert Message.objects.count() == 2


@pytest.mark.django_db
def test_an_idempotent_retry_is_answered_even_when_limited(
    settings: Any, client_for: Callable[[User], APIClient], alice: User, bob: User
) -> None:
    settings.MESSAGE_RATE_LIMIT = RateLimit(1, 10)
    api = client_for(alice)
    first = api.post(SEND, {"receiverId": bob.pk, "content": "x", "clientMessageId": "c-1"}, format="json")
    retry = api.post(SEND, {"receiverId": bob.pk, "content": "x", "clientMessageId": "c-1"}, format="json")
    assert first.status_code == 201 and retry.status_code in (200, 201)
    assert retry.json()["data"]["id"] == first.json()["data"]["id"]
    assert Message.objects.count() == 1
