"""Per-connection costs of daphne's WebSocket stack (autobahn) that `make bench` measured.

Both are applied by `manage.py serve` once its factory is configured, and change nothing a
client can see:

- autobahn pretty-prints its protocol options for a debug log line on every new connection,
  whether debug logging is on or not (docs/benchmarks.md): formatted lazily, the line reads the same.
"""

from __future__ import annotations

from pprint import pformat
from typing import Any


class _LazyPformat:
    """Formats its object only if a log line is actually written."""

    __slots__ = ("_obj",)

    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def __str__(self) -> str:
        return pformat(self._obj)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    __repr__ = __str__


def lazy_connection_logging() -> None:
    """Make autobahn's per-connection debug formatting lazy (idempotent)."""
    import autobahn.websocket.protocol as autobahn_protocol

    vars(autobahn_protocol)["pformat"] = _LazyPformat  # the module's global, which its logging calls
