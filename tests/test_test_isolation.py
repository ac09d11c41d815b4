"""The test run itself: its Redis namespace is its own, so parallel runs cannot disturb each other.

A second run is a second process that starts the way pytest does (the root conftest.py picks
its prefix before Django reads its settings), clears the shared store as every test does, and
writes the key this run wrote. On a real Redis this run's entry must survive both; with the
prefix shared (the control) it must not, which is what the first test would then catch.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from django.conf import settings

from core import store as shared
from tests.support import ROOT

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="run isolation is about a shared Redis (CI sets it)")

_OTHER_RUN = """
import conftest  # the project's root conftest: the run's prefix, as under pytest
import django
django.setup()
from django.conf import settings
from core import store
s = store.shared()
s.clear()
s.add({key!r}, "other-run", 60)
print(settings.CHANNEL_PREFIX)
"""


def other_run(key: str, *, prefix: str | None = None, worker: str | None = None) -> str:
    """Run a second test process that clears the store and adds `key`; returns its prefix.
    `worker`: the process is that pytest-xdist worker of its run."""
    env = {k: v for k, v in os.environ.items() if k not in {"CHANNEL_PREFIX", "PYTEST_XDIST_WORKER"}}
    if prefix is not None:
        env["CHANNEL_PREFIX"] = prefix
    if worker is not None:
        env["PYTEST_XDIST_WORKER"] = worker
    result = subprocess.run(
        [sys.executable, "-c", _OTHER_RUN.format(key=key)],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "chatproject.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture
def key() -> str:
    return f"isolation:{uuid.uuid4().hex[:8]}"


def test_another_run_neither_clears_nor_adds_to_this_runs_keys(key: str) -> None:
    store = shared.shared()
    store.add(key, "this-run", 60)
    store.add(f"{key}:ours-only", "this-run", 60)
    theirs = other_run(key)
    assert store.live_counts([f"{key}:ours-only"]) == [1], "another run's clear reached this run's keys"
    assert store.add(key, "this-run", 60) == 1, "another run's member joined this run's key"
    assert theirs != settings.CHANNEL_PREFIX and theirs.startswith("test-")


def test_control_two_runs_with_one_prefix_collide(key: str) -> None:
    """Without a prefix of each run's own, the other run wipes this run's entry and adds its own."""
    store = shared.shared()
    store.add(key, "this-run", 60)
    assert other_run(key, prefix=settings.CHANNEL_PREFIX) == settings.CHANNEL_PREFIX
    assert store.live_counts([key]) == [1]  # only the other run's member is left
    assert store.add(key, "this-run", 60) == 2  # ...so adding ours back makes two


def test_each_xdist_worker_of_a_run_takes_a_prefix_of_its_own(key: str) -> None:
    """The controller picks the run's prefix and its workers inherit it: each adds its id."""
    store = shared.shared()
    store.add(key, "this-run", 60)
    assert other_run(key, prefix="test-run", worker="gw7") == "test-run-gw7"
    assert other_run(key, prefix="test-run-gw7", worker="gw7") == "test-run-gw7"  # not twice
    assert store.add(key, "this-run", 60) == 1, "a worker's clear or member reached this run's key"


def test_the_run_prefix_reaches_the_settings_the_layers_and_the_store() -> None:
    prefix = os.environ["CHANNEL_PREFIX"]
    assert prefix == settings.CHANNEL_PREFIX != "chat"
    for layer in settings.CHANNEL_LAYERS.values():
        assert layer["CONFIG"]["prefix"] == prefix
    store = shared.shared()
    assert isinstance(store, shared.RedisStore) and store.key("k") == f"{prefix}:k"
