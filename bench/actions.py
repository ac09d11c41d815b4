"""Message actions (issue 14) at scale: the history page with reactions and replies, and global search.

Both reuse the REST phase's seeding (bench/rest.py `load_history`): the top scale's user and its
big conversation, loaded here only when the REST phase did not run first. On top of it:
- the newest DECORATED messages of that conversation each get reactions from both people and
  quote the message before them; the page of them is timed against a plain page of the same
  conversation further back, interleaved request by request on one client, so the box's drift
  hits both alike;
- one message in RARE_EVERY of the whole table (every user's) gets the word RARE, which global
  search (`GET /api/chat/search?q=`) then looks for as the big conversation's user, in the same
  turns as the two pages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bench.rest import MAX_ID, PAGE, History, load_history
from bench.stats import Latency

DECORATED = 300  # newest messages with reactions and a reply: more than the largest page counted
PLAIN_DEPTH = 1000  # the plain page ends this many messages below the newest one
RARE = "zanzibar"
RARE_EVERY = 1000  # 0.1% of messages
# Two from each person, as a lively DM has them; the first is shared (count 2).
REACTIONS = (("me", "\U0001f44d"), ("me", "\u2764\ufe0f"), ("other", "\U0001f44d"), ("other", "\U0001f602"))


@dataclass(frozen=True)
class Seeded:
    history: History
    other_id: int
    rare_messages: int  # of the caller's
    rare_total: int  # in the whole table
    total_messages: int
    seconds: float


def history_for(scale: int, make_users: Any) -> History:
    """The REST phase's user at `scale` and its big conversation; loaded now if that phase did not run."""
    from django.db.models import Q
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import User
    from chat.models import Conversation, Message

    user = User.objects.filter(username=f"rest{scale}_0").first()
    if user is None:
        return load_history(scale, make_users)
    big = Conversation.objects.get(Q(participant_1=user) | Q(participant_2=user), last_seq=scale)
    ids = Message.all_objects.filter(conversation=big).order_by("id").values_list("id", flat=True)
    oldest, newest = ids.first(), ids.last()
    assert oldest is not None and newest is not None
    return History(scale, user.pk, str(AccessToken.for_user(user)), big.pk, oldest, newest, 0.0)


def decorate(history: History) -> Seeded:
    """Reactions and replies on the newest DECORATED messages; RARE in 0.1% of all messages."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT CASE WHEN participant_1_id = %s THEN participant_2_id ELSE participant_1_id END, last_seq "
            "FROM chat_conversation WHERE id = %s",
            [history.user_id, history.conversation_id],
        )
        other_id, last_seq = cursor.fetchone()
        first_seq = last_seq - DECORATED + 1
        cursor.execute(
            """
            UPDATE chat_message m SET reply_to_id = p.id
              FROM chat_message p
             WHERE m.conversation_id = %(c)s AND m.seq >= %(first)s
               AND p.conversation_id = m.conversation_id AND p.seq = m.seq - 1
            """,
            {"c": history.conversation_id, "first": first_seq},
        )
        people = {"me": history.user_id, "other": other_id}
        values = ", ".join(["(%s, %s)"] * len(REACTIONS))
        cursor.execute(
            f"""
            INSERT INTO chat_reaction (message_id, user_id, emoji, created_at)
            SELECT m.id, r.user_id, r.emoji, now()
              FROM chat_message m CROSS JOIN (VALUES {values}) AS r(user_id, emoji)
             WHERE m.conversation_id = %s AND m.seq >= %s
             ORDER BY m.id
            """,  # noqa: S608 - only placeholders are formatted in
            [x for who, emoji in REACTIONS for x in (people[who], emoji)] + [history.conversation_id, first_seq],
        )
        cursor.execute("UPDATE chat_message SET content = content || ' ' || %s WHERE id %% %s = 0", [RARE, RARE_EVERY])
        # What autovacuum would do before anyone searched: merge the trigram index's pending list,
        # drop the updated rows' old versions, and gather statistics.
        cursor.execute("VACUUM ANALYZE chat_message")
        cursor.execute("ANALYZE chat_reaction")
        cursor.execute(
            """
            SELECT count(*) FILTER (WHERE sender_id = %(u)s OR receiver_id = %(u)s), count(*)
              FROM chat_message WHERE id %% %(every)s = 0
            """,
            {"u": history.user_id, "every": RARE_EVERY},
        )
        mine, rare_total = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM chat_message")
        (total,) = cursor.fetchone()
    return Seeded(history, other_id, int(mine), int(rare_total), int(total), time.perf_counter() - started)


def history_paths(seeded: Seeded) -> dict[str, str]:
    """The decorated newest page and a plain page of the same conversation, by cursor, PAGE each."""
    h = seeded.history
    c = h.conversation_id
    plain_before = h.newest_id - PLAIN_DEPTH
    return {
        "plain": f"/api/chat/conversations/{c}/messages?before={plain_before}&limit={PAGE}",
        "reactions + replies": f"/api/chat/conversations/{c}/messages?before={MAX_ID}&limit={PAGE}",
    }


def page_size_paths(seeded: Seeded) -> tuple[str, str]:
    c = seeded.history.conversation_id
    return (
        f"/api/chat/conversations/{c}/messages?before={MAX_ID}&limit=10",
        f"/api/chat/conversations/{c}/messages?before={MAX_ID}&limit=100",
    )


def search_path() -> str:
    return f"/api/chat/search?q={RARE}&limit={PAGE}"


def check_decorated(seeded: Seeded) -> None:
    """The decorated page really carries what it is meant to (else its timing means nothing)."""
    body = _get_json(history_paths(seeded)["reactions + replies"], seeded.history.token)
    messages = body["data"]["messages"]
    if len(messages) != PAGE or not all(m["reactions"] and m["reply_to_id"] for m in messages):
        raise RuntimeError("the decorated page lacks reactions or replies")
    found = _get_json(search_path(), seeded.history.token)["data"]["messages"]
    if len(found) != min(PAGE, seeded.rare_messages) or not all(RARE in m["content"] for m in found):
        raise RuntimeError(f"search found {len(found)} messages, expected {min(PAGE, seeded.rare_messages)}")


def _get_json(path: str, token: str) -> dict[str, Any]:
    from django.test import Client

    response = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}").get(path)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} answered {response.status_code}: {response.content[:200]!r}")
    body: dict[str, Any] = response.json()
    return body


def explain_search(seeded: Seeded) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the message query global search runs (captured from a request)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        _get_json(search_path(), seeded.history.token)
    sql = next(q["sql"] for q in captured.captured_queries if " LIKE " in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


async def measure_interleaved(base_url: str, paths: dict[str, str], token: str, rounds: int) -> dict[str, Latency]:
    """`rounds` GETs of each path, taken in turn on one keep-alive client; every answer a 200."""
    import httpx

    timings: dict[str, list[float]] = {name: [] for name in paths}
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        for path in paths.values():
            await client.get(path)  # warm: connection, plan cache
        for turn in range(rounds):
            # Alternate which goes first, so neither always follows the other's cache misses.
            order = list(paths.items()) if turn % 2 == 0 else list(reversed(paths.items()))
            for name, path in order:
                started = time.perf_counter()
                response = await client.get(path)
                timings[name].append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"GET {path} answered {response.status_code}")
    return {name: Latency.of(values) for name, values in timings.items()}
