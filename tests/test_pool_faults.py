"""The database connection pool against real processes: a fresh server's first readiness probe,
the first socket after a PostgreSQL restart, and a burst of sign-ups and logins on a small pool.

Each fault lives in a real `manage.py serve` process (its pool is opened lazily, its pooled
connections die with PostgreSQL, its request threads hold them), so each test starts one against
the private PostgreSQL and Redis of tests/faultkit.py; the machine's shared servers are not touched.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from tests.faultkit import Cluster, Daphne, cluster, daphne_env, http_json, register, tools_missing, wait_for
from tests.figures import figure

pytestmark = [pytest.mark.faults]

_missing = tools_missing()
if _missing and not os.environ.get("CI"):  # CI must run them; a laptop without the binaries skips, saying why
    pytestmark.append(pytest.mark.skip(reason=f"pool fault tests need private servers: {_missing}"))


@pytest.fixture(scope="module")
def stack() -> Iterator[Cluster]:
    """Private PostgreSQL and Redis, migrated by one server (DB_SYNC); the tests start their own too."""
    # Not pytest's tmp_path: its parents are private to root, and PostgreSQL runs as `postgres`.
    with tempfile.TemporaryDirectory(prefix="chat-pool-") as name:
        workdir = Path(name)
        workdir.chmod(0o755)
        with cluster(workdir, processes=1) as running:
            yield running


def fresh_server(stack: Cluster, name: str, **env: str) -> Daphne:
    """A new `manage.py serve` on the stack's database, without DB_SYNC: nothing has touched its
    pool yet (its start-up wait asks a route that needs no database)."""
    server = Daphne(name, daphne_env(stack.postgres.url, stack.redis.url, DB_SYNC="false", **env), stack.workdir)
    server.start()
    return server


async def first_socket_frame(port: int, token: str) -> tuple[dict[str, object] | None, int | None]:
    """The first frame of a new socket, or the close code it got instead."""
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/chat/?token={token}", open_timeout=10) as ws:
        try:
            return json.loads(await asyncio.wait_for(ws.recv(), 15)), None
        except websockets.ConnectionClosed as closed:
            return None, closed.rcvd.code if closed.rcvd else None


def test_a_fresh_server_is_ready_on_its_first_probe(stack: Cluster) -> None:
    server = fresh_server(stack, "fresh")
    try:
        status, body = http_json(server.port, "GET", "/readyz", timeout=5)
        assert (status, body) == (200, {"status": "ok", "checks": {"database": "ok", "channel_layer": "ok"}})
    finally:
        server.stop()


def client_connections(stack: Cluster) -> int:
    """Connections from clients to the stack's database, not counting the one asking."""
    rows = stack.postgres.query(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = 'chat' AND backend_type = 'client backend' "
        "AND pid <> pg_backend_pid()"
    )
    return int(rows[0][0])


def test_the_first_socket_after_a_postgres_restart_connects(stack: Cluster) -> None:
    """Every pooled connection is dead after the restart. The pool holds 8, as one grown under
    traffic would: handed out one by one to the same request, that many would outlast its 10 s."""
    before = client_connections(stack)
    server = fresh_server(stack, "restart", DB_POOL_MIN="8")
    try:
        _, token = register(server.port, f"restart-{uuid.uuid4().hex[:6]}")
        wait_for(lambda: client_connections(stack) >= before + 8, 20, "the server's pool to fill")
        frame, code = asyncio.run(first_socket_frame(server.port, token))
        assert frame is not None and frame["event"] == "connected", (frame, code)

        stack.postgres.restart()
        wait_for(lambda: stack.postgres.query("SELECT 1") == [(1,)], 30, "PostgreSQL after the restart")
        started = time.monotonic()
        frame, code = asyncio.run(first_socket_frame(server.port, token))
        connect_s = time.monotonic() - started
        assert frame is not None and frame["event"] == "connected", f"closed with {code}:\n{server.log_tail()}"
        # REST shares the pool: its first request after the restart answers too.
        status, body = http_json(server.port, "GET", "/api/chat/unread-count", token=token)
        assert status == 200, body
        assert not [line for line in server.log_lines() if "Exception inside application" in line]
        figure(f"\n[pool] first socket after a PostgreSQL restart (8 dead pooled connections): {connect_s:.2f} s")
    finally:
        server.stop()
