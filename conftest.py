"""Test-wide environment: a Redis key and channel namespace of this run's own.

pytest-django configures Django's settings before this file is imported, so setting the
environment variable alone came too late: every run on the machine used the default prefix
`chat`, and parallel runs wiped each other's rate-limit and presence keys (user ids start at 1
in every test database). The settings are patched here as well; the environment variable
reaches the daphne processes that tests start.
"""

import os
import uuid
from typing import Any

os.environ.setdefault("CHANNEL_PREFIX", f"test-{uuid.uuid4().hex[:8]}")
# pytest-xdist's workers inherit the run's prefix from the controller: each takes its own.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER and not os.environ["CHANNEL_PREFIX"].endswith(f"-{_WORKER}"):
    os.environ["CHANNEL_PREFIX"] += f"-{_WORKER}"


def _use_run_prefix() -> None:
    from django.conf import settings

    if not settings.configured:
        return
    prefix = os.environ["CHANNEL_PREFIX"]
    settings.CHANNEL_PREFIX = prefix
    layers: dict[str, dict[str, Any]] = settings.CHANNEL_LAYERS
    for layer in layers.values():
        config = layer.get("CONFIG", {})
        if "prefix" in config:
            config["prefix"] = prefix


_use_run_prefix()
