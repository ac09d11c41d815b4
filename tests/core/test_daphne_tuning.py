"""autobahn's per-connection debug line is formatted only when it is written (core.daphne_tuning)."""

from __future__ import annotations

from pprint import pformat
from typing import Any

from core import daphne_tuning


def test_lazy_pformat_formats_only_when_written(monkeypatch: Any) -> None:
    calls: list[Any] = []

    def counted(obj: Any) -> str:
        calls.append(obj)
        return pformat(obj)

    monkeypatch.setattr(daphne_tuning, "pformat", counted)
    options = [("openHandshakeTimeout", 5, "Factory"), ("failByDrop", False, "Factory")]
    lazy = daphne_tuning._LazyPformat(options)
    assert calls == []  # creating the log argument costs nothing
    assert f"\n{lazy}" == "\n" + pformat(options)
    assert str(lazy) == repr(lazy) == pformat(options)


def test_serve_installs_it_in_autobahn(monkeypatch: Any) -> None:
    import autobahn.websocket.protocol as autobahn_protocol

    monkeypatch.setattr(autobahn_protocol, "pformat", pformat)
    daphne_tuning.lazy_connection_logging()
    assert vars(autobahn_protocol)["pformat"] is daphne_tuning._LazyPformat
