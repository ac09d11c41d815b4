"""Real `manage.py serve` (daphne) processes for the end-to-end tests, and a small socket client.

With DATABASE_URL (PostgreSQL) and REDIS_URL set, as in CI, the cluster is two daphne
processes on a database of its own (created, migrated and dropped here: the servers cannot
see a test transaction) and one Redis, sharing a random CHANNEL_PREFIX. Without them it is
one process on an SQLite file with the in-memory channel layer, the embedded default.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench import servers
from tests.support.loopback import free_port, http_json, log_tail

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
MIGRATE_TIMEOUT = 120.0
SERVER_LIFETIME = 600  # seconds; the whole e2e package takes well under a minute
FRAME_TIMEOUT = 5.0  # one expected frame; generous for a loaded CI machine
JWT_SECRET = "e2e-test-secret-" + "x" * 40


class ApiError(AssertionError):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body!r}"[:600])
        self.status = status
        self.body = body


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/chat/"

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)

    @property
    def daphne_pid(self) -> int:
        """The server's own process: `timeout` runs it as its one child."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return int(children[0]) if children else self.process.pid

    def memory_kib(self, field: str = "VmRSS") -> int:
        """VmRSS (resident now) or VmHWM (the most it ever was) of the server process, in KiB."""
        return servers.memory_kib(self.daphne_pid, field)

    def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        return http_json(self.port, method, path, body, token)

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        """The envelope's data of a successful call; ApiError otherwise."""
        status, payload = self.request(method, path, body, token)
        if status >= 400 or not payload or not payload.get("success"):
            raise ApiError(status, payload)
        return payload["data"]


@dataclass
class Cluster:
    servers: list[Server]
    database: str
    env: dict[str, str] = field(default_factory=dict)

    def shell(self, code: str, timeout: float = 60) -> str:
        """Run Python in `manage.py shell` against the cluster's database and Redis (an operator's
        change, such as a password set from the admin); its output."""
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode:
            raise RuntimeError(f"manage.py shell failed:\n{result.stderr.decode(errors='replace')[-3000:]}")
        return result.stdout.decode()

    @property
    def cross_process(self) -> bool:
        return len(self.servers) > 1

    @property
    def a(self) -> Server:
        return self.servers[0]

    @property
    def b(self) -> Server:
        """The second process; the same one when only one runs (the embedded subset)."""
        return self.servers[-1]


@dataclass
class User:
    id: int
    username: str
    token: str


def register(server: Server, prefix: str) -> User:
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    data = server.api("POST", "/api/auth/register", {"username": name, "password": "e2e-Pass-2026!x"})
    return User(id=int(data["user"]["id"]), username=name, token=str(data["access"]))


# --- Processes -------------------------------------------------------------------------------


def _server_env(database_url: str, redis_url: str | None, prefix: str, media_root: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(media_root),  # uploads of this cluster only, shared by its processes
        "ATTACHMENT_UPLOAD_RATE_LIMIT": "off",
        "DEBUG": "false",
        "JWT_SECRET": JWT_SECRET,
        "MESSAGE_RATE_LIMIT": "off",
        "PRESENCE_GRACE_SECONDS": "1",  # offline announcements come within a frame's wait
        # Tests and benchmarks sign up and log in by the hundred from one address (accounts/limits.py).
        "SIGNUP_RATE_LIMIT": "off",
        "LOGIN_FAILURES_PER_USERNAME": "off",
        "LOGIN_FAILURES_PER_ADDRESS": "off",
        "CHANNEL_PREFIX": prefix,
        "DB_SYNC": "false",
        "DB_SEED": "false",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def _serve_command(port: int) -> list[str]:
    return [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)]


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to all at once (each closes its sockets gracefully), SIGKILL to any still there after 8 s."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 8
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_serving(servers: list[Server]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    waiting = list(servers)
    while waiting:
        server = waiting[0]
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}")
        with suppress(OSError):
            if server.request("GET", "/api/auth/me")[0] == 401:
                waiting.pop(0)
                continue
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name} did not answer within {START_TIMEOUT:.0f} s:\n{server.log_tail()}")
        time.sleep(0.1)


def _migrate(env: dict[str, str], log_path: Path) -> None:
    with log_path.open("wb") as log:
        result = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=MIGRATE_TIMEOUT,
            check=False,
        )
    if result.returncode:
        raise RuntimeError(f"migrate failed:\n{log_path.read_text(errors='replace')[-3000:]}")


@contextmanager
def _postgres_database(url: str) -> Iterator[str]:
    """A fresh database `<name>_e2e_<random>` on the server of `url`; dropped afterwards."""
    parts = urlsplit(url)
    base = parts.path.lstrip("/") or "chat"
    name = f"{base[:40]}_e2e_{uuid.uuid4().hex[:8]}"
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def _database(workdir: Path) -> Iterator[str]:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        with _postgres_database(url) as database_url:
            yield database_url
    else:
        yield f"sqlite:///{workdir / 'e2e.sqlite3'}"


@contextmanager
def run_cluster(workdir: Path, overrides: dict[str, str] | None = None) -> Iterator[Cluster]:
    """Two processes with REDIS_URL (they need Redis to share rooms), else one; `overrides` are
    settings of the environment (limits a test wants on)."""
    redis_url = os.environ.get("REDIS_URL") or None
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    with _database(workdir) as database_url:
        env = {**_server_env(database_url, redis_url, prefix, workdir / "media"), **(overrides or {})}
        _migrate(env, workdir / "migrate.log")
        servers: list[Server] = []
        try:
            for index in range(2 if redis_url else 1):
                name = "ab"[index]
                port = free_port()
                log_path = workdir / f"server-{name}.log"
                with log_path.open("wb") as log:
                    process = subprocess.Popen(
                        # `timeout` bounds a server's life even if this test process is killed
                        # outright; it passes our SIGTERM on to daphne.
                        ["timeout", "-k", "5", str(SERVER_LIFETIME), *_serve_command(port)],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                servers.append(Server(name=name, port=port, process=process, log_path=log_path))
            _wait_serving(servers)
            yield Cluster(servers=servers, database=database_url, env=env)
        finally:
            _stop([server.process for server in servers])


# --- Sockets ---------------------------------------------------------------------------------

Frame = dict[str, Any]


@dataclass
class Socket:
    """One real WebSocket speaking the contract's frames; frames read past are kept in `seen`."""

    ws: ClientConnection
    user: User | None = None
    seen: list[Frame] = field(default_factory=list)
    _ref: int = 0

    async def send(self, event: str, data: Any = None, *, ref: bool = True) -> str | None:
        frame: Frame = {"event": event}
        if data is not None:
            frame["data"] = data
        ref_value = None
        if ref:
            self._ref += 1
            ref_value = f"r{self._ref}"
            frame["ref"] = ref_value
        await self.ws.send(json.dumps(frame))
        return ref_value

    async def recv(self, timeout: float = FRAME_TIMEOUT) -> Frame:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        frame: Frame = json.loads(raw)
        self.seen.append(frame)
        return frame

    async def wait_for(self, match: str | Callable[[Frame], bool], timeout: float = FRAME_TIMEOUT) -> Frame:
        """The first frame (from now on) that is event `match` or satisfies it."""
        test = (lambda f: f["event"] == match) if isinstance(match, str) else match
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"no frame matching {match!r} within {timeout} s; saw {self.seen[-8:]}")
            try:
                frame = await self.recv(left)
            except TimeoutError:
                continue
            if test(frame):
                return frame

    async def request(self, event: str, data: Any = None) -> Frame:
        ref = await self.send(event, data)
        return await self.wait_for(lambda f: f.get("ref") == ref)

    async def call(self, event: str, data: Any = None) -> Any:
        frame = await self.request(event, data)
        assert frame["event"] == "ack", frame
        return frame["data"]

    async def drain(self, seconds: float) -> list[Frame]:
        """Every frame that arrives within `seconds`."""
        frames: list[Frame] = []
        deadline = asyncio.get_running_loop().time() + seconds
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                frames.append(await self.recv(left))
            except TimeoutError:
                break
        return frames

    async def close_code(self, timeout: float = FRAME_TIMEOUT) -> int | None:
        """Read until the server closes; the close code it sent."""
        try:
            while True:
                await self.recv(timeout)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None

    async def close(self) -> None:
        await self.ws.close()


async def open_socket(server: Server, user: User | None, *, timeout: float = FRAME_TIMEOUT) -> Socket:
    """Connect with the token in the query string and wait for `connected`."""
    url = server.ws_url + (f"?token={user.token}" if user else "")
    ws = await connect(url, open_timeout=timeout, close_timeout=2, max_size=2**22)
    sock = Socket(ws=ws, user=user)
    if user is not None:
        frame = await sock.wait_for("connected", timeout)
        assert frame["data"]["userId"] == user.id
    return sock
