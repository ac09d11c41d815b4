"""core.store.RedisStore's pipelines of scripts: one round trip each, and a script the server
lost is loaded again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from django.conf import settings

from core.store import FirstMember, RedisStore

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="RedisStore needs REDIS_URL (CI sets it)")


@pytest.fixture
def store() -> Iterator[RedisStore]:
    made = RedisStore(settings.REDIS_URL, f"test-store-{uuid.uuid4().hex}")
    yield made
    made.clear()


def _first(name: str) -> FirstMember:
    return FirstMember(cap=2, clear_key=f"gone:{name}", flag_key=f"flag:{name}", flag_member="on", flag_ttl=30)


def _script_exists_calls() -> int:
    stats = redis.Redis.from_url(settings.REDIS_URL).info("commandstats")
    return int(stats.get("cmdstat_script|exists", {}).get("calls", 0))


def test_a_pipeline_of_scripts_asks_nothing_before_it_runs(store: RedisStore) -> None:
    store.add("warm", "x", 30)  # every script the store has is loaded by now (its plain calls load them)
    store.add_first_all([("u", "a", _first("u"))], 30)
    store.remove_all([("u", "a")])
    before = _script_exists_calls()
    answers = store.add_first_all([("w", "a", _first("w")), ("w", "b", _first("w")), ("w", "c", _first("w"))], 30)
    store.add_all([("room", "a"), ("room", "b")], 30)
    assert store.remove_all([("room", "a"), ("room", "b")]) == [1, 0]
    assert answers == [(1, True), (2, False), (3, False)]  # in order; the third over the cap of 2
    assert _script_exists_calls() == before  # redis-py's pipelined scripts ask SCRIPT EXISTS each time


def test_a_script_the_server_lost_is_loaded_and_its_calls_run_once(store: RedisStore) -> None:
    store._add_first.sha = "0" * 40  # as after a Redis restart: the server knows no such script
    answers = store.add_first_all([("v", "a", _first("v")), ("v", "b", _first("v"))], 30)
    assert answers == [(1, True), (2, False)]  # each ran once: not (1, True), (3, ...) after a retry
    assert store.live_counts(["v"]) == [2]
    assert store._add_first.sha != "0" * 40
