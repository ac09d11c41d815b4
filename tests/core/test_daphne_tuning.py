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


_SERVE_AND_COUNT = """
import gc, json, socket, sys, threading, time
import django
django.setup()
from core.management.commands.serve import graceful_server_class
Server = graceful_server_class()  # installs Twisted's asyncio reactor, as serve does
from daphne.endpoints import build_endpoint_description_strings
from twisted.internet import reactor
from twisted.web.http import HTTPChannel
from websockets.sync.client import connect
from chatproject.asgi import application

with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
result = {}

def check(replies):
    gc.collect()
    result["channels"] = sum(isinstance(o, HTTPChannel) for o in gc.get_objects())
    sockets = [p for p in server.connections if hasattr(p, "sendCloseFrame")]  # the WebSocket protocols
    result["producers"] = [type(p.transport.producer).__name__ for p in sockets]
    result["queues"] = [type(p.application_queue).__name__ for p in sockets]
    result["replies"] = replies
    reactor.stop()

def reaped(replies, deadline):
    # daphne forgets an upgraded request within a second (its application checker); then count.
    if any(type(p).__name__ == "BodyLimitedRequest" for p in server.connections) and time.monotonic() < deadline:
        reactor.callLater(0.05, reaped, replies, deadline)
        return
    check(replies)

def clients():
    try:
        sockets = [connect(f"ws://127.0.0.1:{port}/ws/chat/", origin=f"http://127.0.0.1:{port}") for _ in range(20)]
        replies = []
        for s in sockets:  # each socket still reads and writes: a frame before authenticating is refused
            s.send('{"event": "typing", "data": {"conversationId": 1}, "ref": "r"}')
            replies.append(json.loads(s.recv(5))["data"]["code"])
        reactor.callFromThread(reaped, replies, time.monotonic() + 10)
    except BaseException as exc:
        result["error"] = repr(exc)
        reactor.callFromThread(reactor.stop)

server = Server(application=application, endpoints=build_endpoint_description_strings(host="127.0.0.1", port=port),
                signal_handlers=False)
server.on_listening = lambda: threading.Thread(target=clients, daemon=True).start()
server.run()
print(json.dumps(result))
"""


def test_an_upgraded_socket_leaves_no_http_channel_behind(tmp_path: Any) -> None:
    """Under serve's daphne, 20 open sockets keep none of their upgrade requests' HTTP channels
    (the transport's producer was the channel), wait for frames in an Inbox rather than an
    asyncio.Queue, and still answer frames."""
    import json
    import os
    import subprocess
    import sys

    from tests.support import ROOT

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatproject.settings",
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": "",
    }
    done = subprocess.run(
        [sys.executable, "-c", _SERVE_AND_COUNT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "error" not in result, result
    assert result["replies"] == ["unauthenticated"] * 20
    assert result["producers"] == ["NoneType"] * 20
    assert result["queues"] == ["Inbox"] * 20
    assert result["channels"] == 0
