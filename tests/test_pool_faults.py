"""The database connection pool against real processes: a fresh server's first readiness probe,
the first socket after a PostgreSQL restart, and a burst of sign-ups and logins on a small pool.

Each fault lives in a real `manage.py serve` process (its pool is opened lazily, its pooled
connections die with PostgreSQL, its request threads hold them), so each test starts one against
the private PostgreSQL and Redis of tests/faultkit.py; the machine's shared servers are not touched.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faultkit import Cluster, Daphne, cluster, daphne_env, http_json, tools_missing

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


def test_a_fresh_server_is_ready_on_its_first_probe(stack: Cluster) -> None:
    server = fresh_server(stack, "fresh")
    try:
        status, body = http_json(server.port, "GET", "/readyz", timeout=5)
        assert (status, body) == (200, {"status": "ok", "checks": {"database": "ok", "channel_layer": "ok"}})
    finally:
        server.stop()
