"""What every test that starts a real server needs: a free port, a JSON call, a log tail.

Shared by the browser test, the e2e cluster, the fault kit and the serve test, which each start
`manage.py serve` processes on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_json(
    port: int, method: str, path: str, body: Any = None, token: str | None = None, timeout: float = 10
) -> tuple[int, Any]:
    """(status, parsed JSON or None) of one request on loopback; raises OSError when nobody answers."""
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, data, headers)
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, None


def log_tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
