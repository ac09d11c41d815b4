"""Per-frame and per-connection costs of daphne's WebSocket stack (autobahn) that `make bench`
measured.

Applied by `manage.py serve` once its factory is configured; they change nothing a client can see.
autobahn builds the arguments of its debug log lines eagerly, whether debug logging is on or not:
it pretty-prints its protocol options on every new connection, and colours (click.style) the
names of its own methods and values on every frame it reads or writes. Made lazy, each argument is
formatted only if its line is written, and then reads the same (docs/benchmarks.md, "per-frame
costs").

And a socket's upgrade request outlived its upgrade: `release_upgraded_channel`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# The formatters autobahn's modules import by name and call for their debug lines' arguments.
_FORMATTERS = ("pformat", "hltype", "hlval")
_MODULES = ("autobahn.websocket.protocol", "autobahn.twisted.websocket")


class _Lazy:
    """`format(*args)`, computed only if a log line is actually written."""

    __slots__ = ("_args", "_format")

    def __init__(self, format_: Callable[..., str], *args: Any) -> None:
        self._format = format_
        self._args = args

    def __str__(self) -> str:
        return self._format(*self._args)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    __repr__ = __str__


def _lazy(format_: Callable[..., str]) -> Callable[..., _Lazy]:
    def deferred(*args: Any) -> _Lazy:
        return _Lazy(format_, *args)

    deferred.__wrapped__ = format_  # type: ignore[attr-defined]  # installing twice keeps one layer
    return deferred


def lazy_debug_arguments() -> None:
    """Make autobahn's debug-line arguments lazy in the modules that build them (idempotent)."""
    import importlib

    for name in _MODULES:
        module = vars(importlib.import_module(name))
        for formatter in _FORMATTERS:
            current = module.get(formatter)
            if current is None or hasattr(current, "__wrapped__"):
                continue
            module[formatter] = _lazy(current)


def release_upgraded_channel(channel: Any) -> None:
    """Free the HTTP channel whose request daphne just upgraded to a WebSocket.

    The TCP transport still names the channel its producer, which keeps the channel, the upgrade
    request, its headers and its body buffer alive as long as the socket is open (~22 objects
    each; docs/benchmarks.md, "upgraded channel"). As a producer it does nothing for the socket:
    the request is never done, so the channel neither pauses nor resumes reading. Unregistering it
    changes nothing the socket does."""
    transport = getattr(channel, "transport", None)
    if transport is not None and getattr(transport, "producer", None) is channel:
        transport.unregisterProducer()
