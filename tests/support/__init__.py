"""What many tests share: the project root, API helpers, real processes on loopback, reliability figures."""

import runpy
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def settings_with(monkeypatch: pytest.MonkeyPatch, **env: str | None) -> dict[str, Any]:
    """The settings module evaluated afresh under the given environment (None unsets)."""
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "chatproject" / "settings.py"))
