"""The bench database: created fresh, migrated, filled with users and conversations directly.

Users are inserted in bulk with unusable passwords and get access tokens minted in this
process (no login round trips), so setting up thousands of sockets costs seconds.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from glob import glob
from typing import Any

from bench.chat_load import Pair

_NAME = re.compile(r"chat_bench[a-z0-9_]*")


async def in_thread[R](func: Callable[..., R], *args: Any) -> R:
    """`func(*args)` on a worker thread, handing that thread's pooled connection back after it:
    every phase's event loop (`asyncio.run`) ends its worker threads with it, and a connection
    left in a dead thread's slot is never returned, so the later phases' pool ran dry (a full
    run failed in its last phase with PoolTimeout)."""

    def call() -> R:
        from django.db import connection

        try:
            return func(*args)
        finally:
            connection.close()

    return await asyncio.to_thread(call)


def recreate_database(server_url: str, name: str) -> None:
    """DROP (forcing out stale sessions of an aborted run) and CREATE the bench database."""
    import psycopg

    if not _NAME.fullmatch(name):
        raise ValueError(f"bench database names start with chat_bench, got {name!r}")
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(server_url: str, name: str) -> None:
    import psycopg

    if not _NAME.fullmatch(name):
        raise ValueError(f"bench database names start with chat_bench, got {name!r}")
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def make_users(prefix: str, count: int) -> list[tuple[int, str]]:
    """`count` active users named `<prefix>_<n>`, as (id, access token)."""
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import User

    users = User.objects.bulk_create(
        [User(username=f"{prefix}_{n}", password="!bench-unusable") for n in range(count)], batch_size=2000
    )
    return [(u.pk, str(AccessToken.for_user(u))) for u in users]


def make_pairs(prefix: str, count: int) -> list[Pair]:
    """`count` pairs of fresh users, each with its conversation already created."""
    from django.utils import timezone

    from chat.models import Conversation

    users = make_users(prefix, 2 * count)
    now = timezone.now()
    rows = []
    for j in range(count):
        (a, _), (b, _) = users[2 * j], users[2 * j + 1]
        rows.append(Conversation(participant_1_id=min(a, b), participant_2_id=max(a, b), last_message_at=now))
    conversations = Conversation.objects.bulk_create(rows, batch_size=2000)
    return [
        Pair(users[2 * j][0], users[2 * j][1], users[2 * j + 1][0], users[2 * j + 1][1], conversations[j].pk)
        for j in range(count)
    ]


def stored_counts(tag: str) -> Counter[str]:
    """Rows per clientMessageId for one load step (ids look like `<tag>-<pair>-<n>`)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT client_message_id, count(*) FROM chat_message WHERE client_message_id LIKE %s GROUP BY 1",
            [f"{tag}-%"],
        )
        return Counter({str(cid): int(n) for cid, n in cursor.fetchall()})


def pgbench_binary() -> str | None:
    found = shutil.which("pgbench")
    if found:
        return found
    candidates = sorted(glob("/usr/lib/postgresql/*/bin/pgbench"))
    return candidates[-1] if candidates else None


PGBENCH_SCRIPT = """\
\\set cid :cbase + :client_id
BEGIN;
UPDATE chat_conversation SET last_seq = last_seq + 1, last_message = 'pgbench message',
       last_message_at = now(), updated_at = now()
 WHERE id = :cid RETURNING last_seq, participant_1_id AS p1, participant_2_id AS p2 \\gset
INSERT INTO chat_message (conversation_id, sender_id, receiver_id, seq, content, is_read, client_message_id,
                          created_at, updated_at)
VALUES (:cid, :p1, :p2, :last_seq, 'pgbench message', false, gen_random_uuid()::text, now(), now())
RETURNING id;
END;
"""


def run_pgbench(
    host: str,
    port: int,
    user: str,
    password: str | None,
    database: str,
    first_conversation: int,
    clients: int,
    seconds: int,
    script: str,
) -> float:
    """tps of the send transaction (row-locking UPDATE ... RETURNING, then INSERT) at `clients` clients.

    Each client works on its own conversation, as each bench sender does, so the figure is
    the database's ceiling for this transaction here, not a lock queue.
    """
    binary = pgbench_binary()
    if binary is None:
        raise RuntimeError("pgbench not found (Debian: apt-get install postgresql-contrib)")
    with open(script, "w") as out:
        out.write(PGBENCH_SCRIPT)
    args = [
        binary, "-n", "-h", host, "-p", str(port), "-U", user, "-c", str(clients), "-j", str(min(clients, 2)),
        "-T", str(seconds), "-D", f"cbase={first_conversation}", "-f", script, database,
    ]  # fmt: skip
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = password
    done = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60, check=False, env=env)
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"pgbench failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return float(match.group(1))
