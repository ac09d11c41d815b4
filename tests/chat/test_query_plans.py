"""On PostgreSQL, the hot queries use the indexes built for them (EXPLAIN over seeded, analysed data).

The queries are the ones the endpoints really run (captured from a request), so a selector change
that loses its index fails here. docs/rest.md shows how to run the same EXPLAINs by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.auth import tokens_for
from accounts.models import User
from chat.models import Conversation, Message
from tests.support.api import CONVERSATIONS, UNREAD, UNREAD_COUNT, data_of, messages_url, search_url

pytestmark = pytest.mark.django_db

OTHERS = 400  # users besides alice and bob
PAIR_SHARE = 0.25  # share of all pairs of them that have a conversation: about 20,000
ALICE_PARTNERS = 40
HISTORY = 500  # messages between alice and bob
PER_CONVERSATION = 5  # messages in every other conversation: about 100,000, so alice and bob hold 0.5%
RARE = "zanzibar"  # in HISTORY / 100 messages only


@dataclass(frozen=True)
class Seeded:
    alice: User
    conversation: Conversation  # alice <-> bob, HISTORY messages
    api: APIClient  # as alice


@pytest.fixture(scope="module")
def seeded(django_db_setup: None, django_db_blocker: Any) -> Iterator[Seeded]:
    """Seeded once for the module inside a transaction that is rolled back at its end (each test
    nests its own transaction in it)."""
    if connection.vendor != "postgresql":
        pytest.skip("query plans are checked on PostgreSQL")
    with django_db_blocker.unblock(), transaction.atomic():
        yield _seed()
        transaction.set_rollback(True)


# Rows are made by PostgreSQL itself (generate_series): seeding this much through the ORM takes
# several seconds. Messages are inserted in a shuffled order so that, as in real traffic, no
# conversation owns a contiguous run of ids; seq still grows with id inside each conversation.
_SEED_CONVERSATIONS = """
INSERT INTO chat_conversation (participant_1_id, participant_2_id, last_message, last_message_at,
                               last_seq, created_at, updated_at)
SELECT a.id, b.id, 'seeded', now() - random() * interval '100 days', %(per)s, now(), now()
  FROM accounts_user a JOIN accounts_user b ON a.id < b.id
 WHERE a.username LIKE 'seed%%' AND b.username LIKE 'seed%%' AND random() < %(share)s
"""
_SEED_MESSAGES = """
INSERT INTO chat_message (conversation_id, sender_id, receiver_id, seq, content, is_read, created_at, updated_at)
SELECT conversation_id, sender_id, receiver_id,
       row_number() OVER (PARTITION BY conversation_id ORDER BY turn),
       content, is_read, now(), now()
  FROM (
    SELECT c.id AS conversation_id,
           CASE WHEN (c.id = %(main)s AND n %% 2 = 1) OR (c.id <> %(main)s AND flip)
                THEN c.participant_1_id ELSE c.participant_2_id END AS sender_id,
           CASE WHEN (c.id = %(main)s AND n %% 2 = 1) OR (c.id <> %(main)s AND flip)
                THEN c.participant_2_id ELSE c.participant_1_id END AS receiver_id,
           CASE WHEN c.id <> %(main)s THEN 'seeded chatter'
                WHEN n %% 100 = 0 THEN md5(random()::text) || ' ' || %(rare)s
                ELSE md5(random()::text) END AS content,
           CASE WHEN c.id = %(main)s THEN n <= %(history)s - 30 ELSE random() < 0.95 END AS is_read,
           random() AS turn
      FROM chat_conversation c
     CROSS JOIN LATERAL generate_series(1, CASE WHEN c.id = %(main)s THEN %(history)s ELSE %(per)s END) AS n
     CROSS JOIN LATERAL (SELECT random() < 0.5 AS flip) AS coin
  ) AS turns
 ORDER BY turn
"""


def _seed() -> Seeded:
    alice = User.objects.create(username="explain_alice", password="!")
    bob = User.objects.create(username="explain_bob", password="!")
    others = User.objects.bulk_create(User(username=f"seed{i}", password="!") for i in range(OTHERS))
    main = Conversation.objects.create(participant_1=alice, participant_2=bob, last_message_at=timezone.now())
    Conversation.objects.bulk_create(
        Conversation(participant_1=alice, participant_2=u, last_message_at=timezone.now())
        for u in others[:ALICE_PARTNERS]
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(_SEED_CONVERSATIONS, {"per": PER_CONVERSATION, "share": PAIR_SHARE})
        cursor.execute(
            _SEED_MESSAGES,
            {"main": main.pk, "history": HISTORY, "per": PER_CONVERSATION, "rare": RARE.upper()},
        )
        # What autovacuum does in production: merge the trigram index's pending list (a fresh bulk
        # insert leaves it long, and the planner rightly prices scanning it), then gather statistics.
        cursor.execute("SELECT gin_clean_pending_list('msg_content_upper_trgm')")
        cursor.execute("ANALYZE accounts_user, chat_conversation, chat_message")
    # Check the deferred foreign keys of the seed now, once. Left pending, every test's teardown
    # (which checks constraints inside its savepoint, then rolls the savepoint back) redoes them all.
    connection.check_constraints()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for(alice)['access']}")
    return Seeded(alice, main, api)


def plans_of(api: APIClient, path: str, params: dict[str, Any]) -> dict[str, str]:
    """EXPLAIN of every chat query one GET runs, keyed by the query's SQL."""
    with CaptureQueriesContext(connection) as captured:
        data_of(api.get(path, params))
    plans = {}
    for query in captured.captured_queries:
        sql = query["sql"]
        if "chat_" not in sql:
            continue
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {sql}")
            plans[sql] = "\n".join(row[0] for row in cursor.fetchall())
    return plans


def plan_where(plans: dict[str, str], is_it: Callable[[str], bool]) -> str:
    matching = [plan for sql, plan in plans.items() if is_it(sql)]
    assert len(matching) == 1, list(plans)
    return matching[0]


def conversation_listing(sql: str) -> bool:
    return '"unread_count"' in sql


def message_listing(sql: str) -> bool:
    return sql.split(" FROM ", 1)[-1].startswith('"chat_message"') and "__count" not in sql


def test_conversation_list_reads_the_participant_recency_indexes(seeded: Seeded) -> None:
    plan = plan_where(plans_of(seeded.api, CONVERSATIONS, {"limit": 20}), conversation_listing)
    assert "conv_p1_recent" in plan and "conv_p2_recent" in plan, plan
    assert "Seq Scan on chat_conversation" not in plan, plan


def test_conversation_list_counts_unread_through_the_partial_index(seeded: Seeded) -> None:
    plan = plan_where(plans_of(seeded.api, CONVERSATIONS, {"limit": 20}), conversation_listing)
    assert "msg_unread_by_receiver" in plan, plan


def test_history_page_reads_the_conversation_id_index(seeded: Seeded) -> None:
    plan = plan_where(plans_of(seeded.api, messages_url(seeded.conversation.pk), {"page": 3}), message_listing)
    assert "msg_conversation_id" in plan, plan
    assert "Seq Scan on chat_message" not in plan, plan


def nth_newest_id(seeded: Seeded, n: int) -> int:
    """A realistic cursor: the id of the conversation's n-th newest message."""
    return Message.objects.filter(conversation=seeded.conversation).order_by("-id").values_list("id", flat=True)[n]


def test_history_before_cursor_reads_the_conversation_id_index_in_order(seeded: Seeded) -> None:
    params = {"before": nth_newest_id(seeded, 100)}
    plan = plan_where(plans_of(seeded.api, messages_url(seeded.conversation.pk), params), message_listing)
    assert "msg_conversation_id" in plan, plan
    assert "Sort" not in plan, plan


def test_history_after_cursor_reads_the_conversation_id_index_in_order(seeded: Seeded) -> None:
    params = {"after": nth_newest_id(seeded, 100)}
    plan = plan_where(plans_of(seeded.api, messages_url(seeded.conversation.pk), params), message_listing)
    assert "msg_conversation_id" in plan, plan
    assert "Sort" not in plan, plan


def test_unread_count_reads_the_partial_unread_index(seeded: Seeded) -> None:
    plan = plan_where(plans_of(seeded.api, UNREAD_COUNT, {}), lambda sql: "chat_message" in sql)
    assert "msg_unread_by_receiver" in plan, plan


def test_unread_per_conversation_reads_the_partial_unread_index(seeded: Seeded) -> None:
    plan = plan_where(plans_of(seeded.api, UNREAD, {}), lambda sql: "GROUP BY" in sql)
    assert "msg_unread_by_receiver" in plan, plan


def test_search_reads_the_trigram_index(seeded: Seeded) -> None:
    plan = plan_where(plans_of(seeded.api, search_url(seeded.conversation.pk), {"q": RARE}), message_listing)
    assert "msg_content_upper_trgm" in plan, plan


def test_search_everywhere_reads_the_trigram_index(seeded: Seeded) -> None:
    plan = plan_where(plans_of(seeded.api, "/api/chat/search", {"q": RARE}), message_listing)
    assert "msg_content_upper_trgm" in plan, plan
    assert "Seq Scan on chat_message" not in plan, plan


def test_search_everywhere_pages_back_through_the_trigram_index(seeded: Seeded) -> None:
    params = {"q": RARE, "before": nth_newest_id(seeded, 100), "limit": 2}
    plan = plan_where(plans_of(seeded.api, "/api/chat/search", params), message_listing)
    assert "msg_content_upper_trgm" in plan, plan
