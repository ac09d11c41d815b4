"""Fixtures of the chat tests."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from chat.services import storage


def _storage_paths() -> list[Any]:
    paths = [pytest.param(storage._store_portable, id="portable")]
    if connection.vendor == "postgresql":
        paths.append(pytest.param(storage._store_postgresql, id="postgresql"))
    return paths


@pytest.fixture(params=_storage_paths())
def storage_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """store_messages forced onto one of its paths: PostgreSQL runs the portable one as well."""
    monkeypatch.setattr(storage, "_store_postgresql", request.param)
    monkeypatch.setattr(storage, "_store_portable", request.param)
