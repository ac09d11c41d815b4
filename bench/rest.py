"""REST reads at 1e3, 1e5 and 1e6 messages: bulk history in SQL, latency over HTTP, queries in-process.

Each scale has its own user with 50 conversations; one of them holds the scale's messages
(both directions, the newest 1% of those sent to the user still unread). Rows are made by
`INSERT ... SELECT generate_series` in one statement, so a million load in seconds.
Latency is measured against a running daphne with a few keep-alive clients; queries per
request are counted by calling the same URLs through Django's test client in this process.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from bench.stats import Latency

PARTNERS = 50
PAGE = 50
MAX_ID = 9223372036854775807


@dataclass(frozen=True)
class History:
    scale: int
    user_id: int
    token: str
    conversation_id: int
    oldest_id: int
    newest_id: int
    load_seconds: float


def load_history(scale: int, make_users: Any) -> History:
    """Create the scale's user, partners and conversations, and `scale` messages in one of them."""
    from django.db import connection

    users = make_users(f"rest{scale}", PARTNERS + 1)
    me, partners = users[0], users[1:]
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # Skip per-row foreign-key triggers during the bulk load: the ids are valid by construction.
        cursor.execute("SET session_replication_role = replica")
        try:
            conversation_ids: list[int] = []
            for k, (partner_id, _token) in enumerate(partners):
                p1, p2 = sorted((me[0], partner_id))
                cursor.execute(
                    """
                    INSERT INTO chat_conversation
                        (participant_1_id, participant_2_id, last_message, last_message_at, last_seq, created_at,
                         updated_at)
                    VALUES (%s, %s, NULL, now() - make_interval(mins => %s), 0, now(), now())
                    RETURNING id
                    """,
                    [p1, p2, k + 1],
                )
                conversation_ids.append(int(cursor.fetchone()[0]))
            big, other = conversation_ids[0], partners[0][0]
            counts = [(big, other, scale)] + [
                (cid, pid, 2) for cid, (pid, _) in zip(conversation_ids[1:], partners[1:], strict=True)
            ]
            for conversation_id, partner_id, count in counts:
                unread_from = count - max(1, count // 100)
                cursor.execute(
                    """
                    INSERT INTO chat_message
                        (conversation_id, sender_id, receiver_id, seq, content, attachment_url, is_read, read_at,
                         client_message_id, "deletedAt", created_at, updated_at)
                    SELECT %(c)s,
                           CASE WHEN g %% 2 = 0 THEN %(me)s ELSE %(other)s END,
                           CASE WHEN g %% 2 = 0 THEN %(other)s ELSE %(me)s END,
                           g, 'history message ' || g, NULL,
                           g <= %(unread_from)s, CASE WHEN g <= %(unread_from)s THEN t END, NULL, NULL, t, t
                      FROM generate_series(1, %(n)s) AS g,
                           LATERAL (SELECT now() - make_interval(secs => %(n)s - g) AS t) AS at
                    """,
                    {"c": conversation_id, "me": me[0], "other": partner_id, "n": count, "unread_from": unread_from},
                )
                cursor.execute(
                    """
                    UPDATE chat_conversation
                       SET last_seq = %(n)s, last_message = 'history message ' || %(n)s,
                           last_message_at = now() - make_interval(mins => CASE WHEN id = %(big)s THEN 0 ELSE 1 END)
                     WHERE id = %(c)s
                    """,
                    {"n": count, "c": conversation_id, "big": big},
                )
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute("ANALYZE chat_message")
        cursor.execute("ANALYZE chat_conversation")
        cursor.execute("SELECT min(id), max(id) FROM chat_message WHERE conversation_id = %s", [big])
        oldest, newest = cursor.fetchone()
    return History(scale, me[0], me[1], big, int(oldest), int(newest), time.perf_counter() - started)


def endpoints(history: History) -> dict[str, str]:
    """The reads measured, by name: what a client does when it opens the app and scrolls."""
    c = history.conversation_id
    last_page = -(-history.scale // PAGE)
    deep_cursor = history.oldest_id + 2 * PAGE  # scrolled back to the very beginning
    return {
        "conversation list": "/api/chat/conversations?page=1&limit=20",
        "history first page": f"/api/chat/conversations/{c}/messages?page=1&limit={PAGE}",
        "history deep page": f"/api/chat/conversations/{c}/messages?page={max(1, last_page - 1)}&limit={PAGE}",
        "cursor newest": f"/api/chat/conversations/{c}/messages?before={MAX_ID}&limit={PAGE}",
        "cursor deep": f"/api/chat/conversations/{c}/messages?before={deep_cursor}&limit={PAGE}",
        "unread-count": "/api/chat/unread-count",
        "unread": "/api/chat/unread",
    }


def page_size_variants(history: History) -> dict[str, tuple[str, str]]:
    """The same read at two page sizes: its query count must not change."""
    c = history.conversation_id
    return {
        "conversation list": ("/api/chat/conversations?limit=5", "/api/chat/conversations?limit=50"),
        "history first page": (
            f"/api/chat/conversations/{c}/messages?limit=10",
            f"/api/chat/conversations/{c}/messages?limit=100",
        ),
        "cursor newest": (
            f"/api/chat/conversations/{c}/messages?before={MAX_ID}&limit=10",
            f"/api/chat/conversations/{c}/messages?before={MAX_ID}&limit=100",
        ),
    }


def count_queries(path: str, token: str) -> int:
    """Queries one request runs, through Django's test client in this process (200 expected)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} answered {response.status_code}: {response.content[:200]!r}")
    return len(captured)


async def measure_latency(base_url: str, path: str, token: str, requests: int, concurrency: int = 1) -> Latency:
    """`requests` GETs with `concurrency` keep-alive clients; every answer must be a 200.

    One client by default: the figure is a request's latency on an otherwise idle server,
    not a queue (each daphne process runs sync views one at a time on its one thread).
    """
    import httpx

    timings: list[float] = []
    remaining = iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=30
    ) as client:
        await client.get(path)  # warm: connection, plan cache

        async def worker() -> None:
            for _ in remaining:
                started = time.perf_counter()
                response = await client.get(path)
                timings.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"GET {path} answered {response.status_code}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Latency.of(timings)
