"""A real `manage.py serve`: graceful shutdown closes sockets with 1001, and the server's own
output (access log included) never shows a token or a message body."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from tests.support import ROOT
from tests.support.loopback import free_port, http_json

pytestmark = pytest.mark.e2e

EXIT_WITHIN_SECONDS = 5.0
BODY = "serve-test-body-93ab"


class Served:
    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.db = tmp_path / "serve.sqlite3"
        self.log = tmp_path / "serve.log"
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{self.db}",
            "DB_SYNC": "true",
            "DB_SEED": "true",
            "DEBUG": "false",
            "JWT_SECRET": "serve-test-secret-" + "x" * 40,
            "MESSAGE_RATE_LIMIT": "off",
            # Tests and benchmarks sign up and log in by the hundred from one address (accounts/limits.py).
            "SIGNUP_RATE_LIMIT": "off",
            "LOGIN_FAILURES_PER_USERNAME": "off",
            "LOGIN_FAILURES_PER_ADDRESS": "off",
            "CHANNEL_PREFIX": f"serve-{uuid.uuid4().hex[:8]}",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("DJANGO_SETTINGS_MODULE", None)
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"serve did not start:\n{self.output()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    server = Served(tmp_path)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_sigterm_closes_sockets_with_1001_and_exits_promptly(served: Served) -> None:
    status, body = http_json(
        served.port, "POST", "/api/auth/token", {"username": "alice", "password": "chat-demo-2026"}
    )
    assert status == 200, body
    access, refresh = body["data"]["access"], body["data"]["refresh"]
    _, bob = http_json(served.port, "GET", "/api/auth/users?search=bob", token=access)
    bob_id = bob["data"]["users"][0]["id"]
    status, _ = http_json(served.port, "POST", "/api/chat/send", {"receiverId": bob_id, "content": BODY}, access)
    assert status == 201
    # A token in a plain HTTP query string (a client's mistake) must not reach the access log either.
    status, _ = http_json(served.port, "GET", f"/api/chat/unread-count?token={access}&page=1", token=access)
    assert status == 200

    async def scenario() -> tuple[int | None, float]:
        async with websockets.connect(f"ws://127.0.0.1:{served.port}/ws/chat/?token={access}") as ws:
            assert json.loads(await ws.recv())["event"] == "connected"
            sent_at = time.monotonic()
            served.process.send_signal(signal.SIGTERM)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), timeout=EXIT_WITHIN_SECONDS)
            frame = closed.value.rcvd
            return (frame.code if frame else None), sent_at

    code, sent_at = asyncio.run(scenario())
    assert code == 1001, served.output()[-3000:]
    served.process.wait(timeout=EXIT_WITHIN_SECONDS)
    assert time.monotonic() - sent_at < EXIT_WITHIN_SECONDS
    assert served.process.returncode == 0, served.output()[-3000:]

    # The consumer's disconnect ran before exit: alice's last socket closed, so last_seen_at is stored.
    with sqlite3.connect(served.db) as db:
        (last_seen,) = db.execute("SELECT last_seen_at FROM accounts_user WHERE username = 'alice'").fetchone()
    assert last_seen is not None

    output = served.output()
    access_lines = [json.loads(line) for line in output.splitlines() if '"chat.access"' in line]
    paths = {line["path"] for line in access_lines}
    assert "/api/chat/unread-count?token=[REDACTED]&page=1" in paths
    assert any(line.get("ws") == "connected" for line in access_lines)
    for secret in (access, refresh, BODY):
        assert secret not in output


def test_the_start_up_heap_is_frozen_out_of_full_collections() -> None:
    """A full collection scans every tracked object and pauses every socket of the process:
    the start-up heap (Django, the apps: >100,000 objects) is frozen before serving."""
    import gc

    from core.management.commands.serve import freeze_startup_heap

    try:
        frozen = freeze_startup_heap()
        assert frozen == gc.get_freeze_count() > 10_000
        assert len(gc.get_objects()) < frozen  # what a full collection still scans
    finally:
        gc.unfreeze()
