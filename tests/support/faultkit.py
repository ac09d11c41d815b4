"""Private PostgreSQL, Redis and daphne processes for the fault tests, and a ledger-keeping client.

Everything here binds 127.0.0.1 on a free port, lives in a temporary directory and is
stopped by the fixture that started it (also when a test fails). The machine's shared
PostgreSQL and Redis are never touched: the faults are injected into private instances.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path
from typing import Any

from tests.support import ROOT
from tests.support.figures import figure
from tests.support.loopback import free_port, http_json
from tests.support.waiting import wait_until

START_TIMEOUT = 60.0
PRESENCE_TTL = 3


def wait_for(check: Callable[[], object], timeout: float, what: str, interval: float = 0.05) -> float:
    """`wait_until` for processes starting and stopping: an exception from `check()` means "not
    yet"; returns the seconds it took."""

    def quietly() -> object:
        try:
            return check()
        except Exception:
            return False  # anything but success means "not yet"

    start = time.monotonic()
    wait_until(quietly, timeout, f"{what} ready", interval)
    return time.monotonic() - start


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def tools_missing() -> str | None:
    """Why the fault tests cannot run here, or None."""
    if not shutil.which("redis-server"):
        return "redis-server is not installed"
    if not glob("/usr/lib/postgresql/*/bin/initdb"):
        return "PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are not installed"
    if os.geteuid() != 0 or not shutil.which("runuser"):
        return "a private PostgreSQL cluster is started as the postgres OS user, which needs root and runuser"
    return None


# --- Redis ------------------------------------------------------------------------------------


class PrivateRedis:
    """redis-server on a free loopback port, no persistence; kill -9 and start again on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = (self.workdir / "redis.log").open("ab")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            start_new_session=True,
        )
        wait_for(lambda: self._ping(), 10, "redis-server")

    def _ping(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        self.kill()


# --- PostgreSQL -------------------------------------------------------------------------------


def _pg_bin(name: str) -> str:
    return sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"))[-1]


class PrivatePostgres:
    """A throwaway cluster (initdb in a temp dir, run as the postgres OS user, fsync off)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.dir = workdir / "pg"
        self.data = self.dir / "data"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/chat"

    def _as_postgres(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", *args],
            check=check,
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
        )

    def init(self) -> None:
        self.dir.mkdir(mode=0o700)
        shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres(_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        conf = (
            f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
            "fsync = off\nfull_page_writes = off\nmax_connections = 100\n"
        )
        with (self.data / "postgresql.conf").open("a") as handle:
            handle.write(conf)

    def start(self) -> None:
        self._as_postgres(
            _pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"), "-w", "-t", "30", "start"
        )

    def crash(self) -> None:
        """Immediate shutdown: every backend is killed without a checkpoint, as in a crash.

        fsync is off for speed, which is safe here because the OS survives; synchronous_commit
        stays on (the default): with it off, this very test sees acknowledged sends vanish.
        """
        self._as_postgres(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)

    def restart(self) -> None:
        """An operator's restart (fast shutdown): every backend is told "terminating connection
        due to administrator command", so each pooled connection of a client is dead afterwards."""
        self._as_postgres(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        self.start()

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._as_postgres(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)

    def create_database(self, name: str = "chat") -> None:
        self._as_postgres(_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.url.replace("postgres://", "postgresql://"), connect_timeout=5) as conn:
            return list(conn.execute(sql, params).fetchall())


# --- daphne -----------------------------------------------------------------------------------


@dataclass
class Daphne:
    name: str
    env: dict[str, str]
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"daphne-{self.name}.log"

    def start(self) -> float:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return wait_for(self._serving, START_TIMEOUT, f"daphne {self.name}", interval=0.1)

    def _serving(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"daphne {self.name} exited:\n{self.log_tail()}")
        return http_json(self.port, "GET", "/api/chat/unread-count", timeout=2)[0] == 401

    def kill9(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def log_lines(self) -> list[str]:
        try:
            return self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []


def daphne_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DB_SYNC": "true",
        "DB_SEED": "false",
        "DEBUG": "false",
        "JWT_SECRET": "fault-test-secret-" + "x" * 40,
        "MESSAGE_RATE_LIMIT": "off",
        # Tests and benchmarks sign up and log in by the hundred from one address (accounts/limits.py).
        "SIGNUP_RATE_LIMIT": "off",
        "LOGIN_FAILURES_PER_USERNAME": "off",
        "LOGIN_FAILURES_PER_ADDRESS": "off",
        "CHANNEL_PREFIX": f"faults-{uuid.uuid4().hex[:8]}",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        # Short, so the kill -9 test can watch a dead process's users go offline.
        "PRESENCE_TTL_SECONDS": str(PRESENCE_TTL),
        **extra,
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


@dataclass
class Cluster:
    workdir: Path
    postgres: PrivatePostgres
    redis: PrivateRedis
    servers: list[Daphne]


@contextlib.contextmanager
def cluster(workdir: Path, processes: int = 2) -> Iterator[Cluster]:
    """Private PostgreSQL + Redis and `processes` daphne processes sharing them; all stopped on exit."""
    postgres = PrivatePostgres(workdir)
    redis = PrivateRedis(workdir)
    servers: list[Daphne] = []
    try:
        started = time.monotonic()
        postgres.init()
        postgres.start()
        postgres.create_database()
        redis.start()
        env = daphne_env(postgres.url, redis.url)
        first = Daphne("A", env, workdir)
        servers.append(first)
        first.start()  # applies the migrations (DB_SYNC) before the others start
        for index in range(1, processes):
            servers.append(Daphne(chr(ord("A") + index), env, workdir))
        for server in servers[1:]:
            server.start()
        figure(
            f"\ncluster up in {time.monotonic() - started:.1f} s: pg :{postgres.port}, redis :{redis.port}, "
            + ", ".join(f"daphne {s.name} :{s.port}" for s in servers)
        )
        yield Cluster(workdir, postgres, redis, servers)
    finally:
        for server in servers:
            server.stop()
        redis.stop()
        postgres.stop()


# --- Clients ----------------------------------------------------------------------------------


def register(port: int, username: str) -> tuple[int, str]:
    status, body = http_json(
        port, "POST", "/api/auth/register", {"username": username, "password": "fault-test-pass-123"}
    )
    assert status == 201, body
    return int(body["data"]["user"]["id"]), str(body["data"]["access"])


async def sleep_until(deadline: float) -> None:
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))


# --- The ledger: what each client sent, what was acknowledged, what it has seen --------------


class Ledger:
    """Per-client record keyed by clientMessageId; the checks run against the database after the fault."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.created: list[str] = []  # clientMessageIds in the order the client made them
        self.acked: dict[str, tuple[int, int]] = {}  # clientMessageId -> (id, seq)
        self.ack_times: list[float] = []
        self.push_times: list[float] = []
        self.seen: dict[int, int] = {}  # message id -> seq, everything of the conversation this client has
        self.failed_answers: set[str] = set()  # ids whose last attempt was answered with a server error
        # ids with an attempt that was never answered (socket dropped, timed out): the server may
        # still have committed it, so a later "already stored" is no evidence against an error answer.
        self.abandoned: set[str] = set()
        self.errors_after_commit: list[str] = []  # an error answer, then the retry found it stored
        self.server_errors: list[str] = []  # every 503 / `unavailable` answer (nothing stored), for the report
        self.retries = 0
        self.duplicates = 0  # retries answered "already stored" (the earlier attempt had committed)
        self.reconnects = 0

    def see(self, message_id: int, seq: int) -> None:
        self.seen[message_id] = seq

    def cursor(self) -> int:
        """The id of the last message up to which the history has no gap: what `after=` resumes from.

        Not simply the largest id seen: a push of seq 9 may arrive while 7 and 8 are still unknown.
        """
        by_seq = {seq: pk for pk, seq in self.seen.items()}
        seq, pk = 0, 0
        while seq + 1 in by_seq:
            seq += 1
            pk = by_seq[seq]
        return pk

    def acknowledged(self, client_message_id: str, data: dict[str, Any], duplicate: bool) -> None:
        self.acked[client_message_id] = (int(data["id"]), int(data["seq"]))
        self.ack_times.append(time.monotonic())
        self.see(int(data["id"]), int(data["seq"]))
        if duplicate:
            self.duplicates += 1
            if client_message_id in self.failed_answers and client_message_id not in self.abandoned:
                self.errors_after_commit.append(client_message_id)
        self.failed_answers.discard(client_message_id)

    def first_ack_after(self, moment: float) -> float | None:
        later = [t for t in self.ack_times if t >= moment]
        return min(later) - moment if later else None

    def first_push_after(self, moment: float) -> float | None:
        later = [t for t in self.push_times if t >= moment]
        return min(later) - moment if later else None


async def resync(port: int, token: str, conversation_id: int, ledger: Ledger) -> int:
    """GET messages?after=<cursor> until hasMore is false (the first page when it has nothing yet)."""
    added = 0
    base = f"/api/chat/conversations/{conversation_id}/messages?limit=100"
    while True:
        after = ledger.cursor()
        path = f"{base}&after={after}" if after else f"{base}&page=1"
        status, body = await asyncio.to_thread(http_json, port, "GET", path, None, token, 5)
        if status != 200:
            raise OSError(f"resync answered {status}")
        new = [m for m in body["data"]["messages"] if m["id"] not in ledger.seen]
        for message in body["data"]["messages"]:
            ledger.see(message["id"], message["seq"])
        added += len(new)
        if not body["data"].get("hasMore", bool(new)):
            return added


@dataclass
class Peer:
    """One user of a pair: who it is, whom it writes to, where it connects first."""

    name: str
    user_id: int
    token: str
    partner_id: int
    conversation_id: int
    home: int
    ledger: Ledger = field(init=False)

    def __post_init__(self) -> None:
        self.ledger = Ledger(self.name)


class SocketSender:
    """Sends over a WebSocket one message at a time; reconnects (failing over) and resends unacked ids."""

    ACK_TIMEOUT = 5.0

    def __init__(self, peer: Peer, servers: list[Daphne], interval: float) -> None:
        self.peer = peer
        self.servers = servers
        self.interval = interval
        self.server_index = peer.home
        self.pending: str | None = None
        self.sent: set[str] = set()
        self.unanswered: str | None = None
        self.count = 0

    def _next_id(self) -> str:
        if self.pending is None:
            self.count += 1
            self.pending = f"{self.peer.name}-{self.count}-{uuid.uuid4().hex[:6]}"
            self.peer.ledger.created.append(self.pending)
        return self.pending

    async def run(self, stop: asyncio.Event) -> None:
        import websockets

        ledger = self.peer.ledger
        first = True
        while not (stop.is_set() and self.pending is None):
            server = self.servers[self.server_index]
            try:
                async with websockets.connect(
                    f"ws://127.0.0.1:{server.port}/ws/chat/?token={self.peer.token}",
                    open_timeout=3,
                    close_timeout=1,
                    ping_interval=None,
                ) as ws:
                    if not first:
                        ledger.reconnects += 1
                    first = False
                    await self._session(ws, server, stop)
                    return
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException):
                # The process is gone or the socket dropped: try the next process after a moment.
                if self.unanswered is not None:
                    ledger.abandoned.add(self.unanswered)
                    self.unanswered = None
                self.server_index = (self.server_index + 1) % len(self.servers)
                await asyncio.sleep(0.2)

    async def _frame_until(self, ws: Any, ref: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no answer to {ref}")
            frame = json.loads(await asyncio.wait_for(ws.recv(), remaining))
            if frame.get("ref") == ref:
                return frame
            if frame["event"] == "new_message" and frame["data"]["conversationId"] == self.peer.conversation_id:
                self.peer.ledger.push_times.append(time.monotonic())
                self.peer.ledger.see(frame["data"]["id"], frame["data"]["seq"])

    async def _session(self, ws: Any, server: Daphne, stop: asyncio.Event) -> None:
        peer, ledger = self.peer, self.peer.ledger
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame["event"] == "connected", frame
        joined = False
        synced = False
        while not (stop.is_set() and self.pending is None):
            if not joined:
                ref = f"join-{uuid.uuid4().hex[:6]}"
                await ws.send(
                    json.dumps(
                        {"event": "join_conversation", "ref": ref, "data": {"conversationId": peer.conversation_id}}
                    )
                )
                joined = (await self._frame_until(ws, ref, self.ACK_TIMEOUT))["event"] == "ack"
            if not synced:
                with contextlib.suppress(OSError, TimeoutError):
                    await resync(server.port, peer.token, peer.conversation_id, ledger)
                    synced = True
            cmid = self._next_id()
            if cmid in ledger.acked:
                self.pending = None
                continue
            if cmid in self.sent:
                ledger.retries += 1
            self.sent.add(cmid)
            data = {
                "receiverId": peer.partner_id,
                "conversationId": peer.conversation_id,
                "content": f"{cmid} from {peer.name}",
                "clientMessageId": cmid,
            }
            self.unanswered = cmid
            await ws.send(json.dumps({"event": "send_message", "ref": cmid, "data": data}))
            answer = await self._frame_until(ws, cmid, self.ACK_TIMEOUT)
            self.unanswered = None
            if answer["event"] == "ack":
                ledger.acknowledged(cmid, answer["data"], bool(answer["data"].get("duplicate")))
                self.pending = None
                await asyncio.sleep(self.interval)
            else:
                code = answer["data"]["code"]
                # `unavailable` (the database is down, nothing stored) is the only error a retry may meet.
                assert code == "unavailable", answer
                ledger.server_errors.append(code)
                ledger.failed_answers.add(cmid)
                await asyncio.sleep(0.2)


class RestSender:
    """Sends over REST with a clientMessageId, retrying (and failing over) until it is answered 2xx."""

    def __init__(self, peer: Peer, servers: list[Daphne], interval: float) -> None:
        self.peer = peer
        self.servers = servers
        self.interval = interval
        self.server_index = peer.home
        self.statuses: list[tuple[float, int]] = []

    async def run(self, stop: asyncio.Event) -> None:
        peer, ledger = self.peer, self.peer.ledger
        count = 0
        while not stop.is_set():
            count += 1
            cmid = f"{peer.name}-{count}-{uuid.uuid4().hex[:6]}"
            ledger.created.append(cmid)
            body = {"receiverId": peer.partner_id, "content": f"{cmid} over REST", "clientMessageId": cmid}
            attempts = 0
            while True:
                attempts += 1
                if attempts > 1:
                    ledger.retries += 1
                server = self.servers[self.server_index]
                try:
                    status, answer = await asyncio.to_thread(
                        http_json, server.port, "POST", "/api/chat/send", body, peer.token, 5
                    )
                except (OSError, http.client.HTTPException):
                    ledger.abandoned.add(cmid)  # the request may have reached the server
                    self.server_index = (self.server_index + 1) % len(self.servers)
                    await asyncio.sleep(0.2)
                    continue
                self.statuses.append((time.monotonic(), status))
                if status in (200, 201):
                    ledger.acknowledged(cmid, answer["data"], status == 200)
                    break
                assert status == 503, (status, answer)  # never a 500: 503 means nothing was stored
                ledger.server_errors.append(str(status))
                ledger.failed_answers.add(cmid)
                await asyncio.sleep(0.2)
            await asyncio.sleep(self.interval)
