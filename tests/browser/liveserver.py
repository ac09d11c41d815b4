"""A real `manage.py serve` (daphne) on a free loopback port, for the browser test and screenshots.

The server runs in its own process on its own SQLite file, exactly as `make run` starts
it, so the browser exercises the real HTTP, static-file and WebSocket stack. It shares
REDIS_URL when one is set (with its own CHANNEL_PREFIX), so CI covers the Redis layer too.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _request(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None, *, timeout: int
) -> tuple[int, bytes]:
    """(status, body) of one request to the live server on loopback."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body, headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@dataclass
class LiveServer:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        """One REST call; returns the envelope's data, raises AssertionError on a failure envelope."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        status, raw = _request(self.port, method, path, data, headers, timeout=10)
        payload = json.loads(raw)
        assert status < 400 and payload["success"], f"{method} {path} -> {status}: {raw[:500]!r}"
        return payload["data"]

    def register(self, username: str, password: str, **fields: str) -> dict[str, Any]:
        """A new user; returns {"user", "access", "refresh"}."""
        return dict(self.api("POST", "/api/auth/register", {"username": username, "password": password, **fields}))

    def login(self, username: str, password: str) -> str:
        return str(self.api("POST", "/api/auth/token", {"username": username, "password": password})["access"])

    def send(self, token: str, receiver_id: int, content: str) -> dict[str, Any]:
        return dict(self.api("POST", "/api/chat/send", {"receiverId": receiver_id, "content": content}, token))


def _wait_until_serving(server: LiveServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"manage.py serve exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            if _request(server.port, "GET", "/", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"manage.py serve did not answer within {START_TIMEOUT_SECONDS:.0f} s:\n{server.log_tail()}")


@contextmanager
def live_server(workdir: Path, *, seed: bool = False) -> Iterator[LiveServer]:
    """Serve on a fresh SQLite file in `workdir` (DEBUG off, so WhiteNoise serves /static/)."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'chat.sqlite3'}",
        "DB_SYNC": "true",
        "DB_SEED": "true" if seed else "false",
        "DEBUG": "false",
        "JWT_SECRET": "browser-test-secret-" + "x" * 40,
        "MESSAGE_RATE_LIMIT": "off",
        "CHANNEL_PREFIX": f"browser-{uuid.uuid4().hex[:8]}",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LiveServer(port=port, process=process, log_path=log_path)
    try:
        _wait_until_serving(server)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
