"""A real `manage.py serve` (daphne) on a free loopback port, for the browser test and screenshots.

The server runs in its own process on its own SQLite file, exactly as `make run` starts
it, so the browser exercises the real HTTP, static-file and WebSocket stack. It shares
REDIS_URL when one is set (with its own CHANNEL_PREFIX), so CI covers the Redis layer too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.loopback import free_port, http_json, log_tail

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


@dataclass
class LiveServer:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    db_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        """One REST call; returns the envelope's data, raises AssertionError on a failure envelope."""
        status, payload = http_json(self.port, method, path, body, token)
        assert status < 400 and payload and payload["success"], f"{method} {path} -> {status}: {payload!r}"[:600]
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
            if http_json(server.port, "GET", "/", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"manage.py serve did not answer within {START_TIMEOUT_SECONDS:.0f} s:\n{server.log_tail()}")


@contextmanager
def live_server(workdir: Path, *, seed: bool = False, env: dict[str, str] | None = None) -> Iterator[LiveServer]:
    """Serve on a fresh SQLite file in `workdir` (DEBUG off, so WhiteNoise serves /static/).

    `env` overrides the settings below (a test that needs a real rate limit, say).
    """
    port = free_port()
    db_path = workdir / "chat.sqlite3"
    overrides = env or {}
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{db_path}",
        "DB_SYNC": "true",
        "DB_SEED": "true" if seed else "false",
        "DEBUG": "false",
        "JWT_SECRET": "browser-test-secret-" + "x" * 40,
        "MESSAGE_RATE_LIMIT": "off",
        "PRESENCE_GRACE_SECONDS": "1",  # offline announcements come within a frame's wait
        # Tests and benchmarks sign up and log in by the hundred from one address (accounts/limits.py).
        "SIGNUP_RATE_LIMIT": "off",
        "LOGIN_FAILURES_PER_USERNAME": "off",
        "LOGIN_FAILURES_PER_ADDRESS": "off",
        "CHANNEL_PREFIX": f"browser-{uuid.uuid4().hex[:8]}",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **overrides,
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
    server = LiveServer(port=port, process=process, log_path=log_path, db_path=db_path)
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
