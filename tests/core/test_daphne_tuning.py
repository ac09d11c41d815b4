"""autobahn's debug-line arguments are formatted only when the line is written (core.daphne_tuning)."""

from __future__ import annotations

import importlib
from pprint import pformat
from typing import Any

import pytest

from core import daphne_tuning


def test_a_lazy_argument_formats_only_when_written() -> None:
    calls: list[Any] = []

    def counted(obj: Any) -> str:
        calls.append(obj)
        return pformat(obj)

    options = [("openHandshakeTimeout", 5, "Factory"), ("failByDrop", False, "Factory")]
    lazy = daphne_tuning._lazy(counted)(options)
    assert calls == []  # creating the log argument costs nothing
    assert f"\n{lazy}" == "\n" + pformat(options)
    assert str(lazy) == repr(lazy) == pformat(options)
    assert f"{lazy:>5}" == f"{pformat(options):>5}"
    assert len(calls) == 4


@pytest.mark.parametrize("module_name", ["autobahn.websocket.protocol", "autobahn.twisted.websocket"])
def test_serve_installs_it_in_autobahn_once(monkeypatch: Any, module_name: str) -> None:
    from autobahn import util

    module = importlib.import_module(module_name)
    for name in ("hltype", "hlval"):
        monkeypatch.setattr(module, name, getattr(util, name))
    if hasattr(module, "pformat"):
        monkeypatch.setattr(module, "pformat", pformat)
    daphne_tuning.lazy_debug_arguments()
    daphne_tuning.lazy_debug_arguments()  # idempotent: one layer of laziness

    hltype, hlval = vars(module)["hltype"], vars(module)["hlval"]
    assert hltype.__wrapped__ is util.hltype and hlval.__wrapped__ is util.hlval
    described = hltype(test_serve_installs_it_in_autobahn_once)
    assert isinstance(described, daphne_tuning._Lazy)
    assert str(described) == util.hltype(test_serve_installs_it_in_autobahn_once)  # the same text when written
    assert f"{hlval(42)}" == util.hlval(42)
    if hasattr(module, "pformat"):
        assert vars(module)["pformat"].__wrapped__ is pformat
