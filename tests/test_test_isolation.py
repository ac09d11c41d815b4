"""The test run itself: its Redis namespace is its own, so parallel runs cannot disturb each other."""

from __future__ import annotations

import os

from django.conf import settings

from core import store as shared


def test_each_run_uses_its_own_redis_prefix_everywhere() -> None:
    prefix = os.environ["CHANNEL_PREFIX"]
    assert prefix != "chat", "the default prefix is shared by every run on the machine"
    assert prefix == settings.CHANNEL_PREFIX
    for layer in settings.CHANNEL_LAYERS.values():
        assert layer.get("CONFIG", {}).get("prefix", prefix) == prefix
    store = shared.shared()
    assert getattr(store, "_prefix", prefix) == prefix
