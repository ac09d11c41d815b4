"""List endpoints run a fixed number of queries whatever the page size.

Each endpoint is called with limit=1 and limit=50 over enough rows to fill both pages; the
counts must be equal and equal to the pinned number, so an N+1 (a lazy participant, sender
or unread count per row) fails here at once.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import User
from chat.models import Message, Reaction
from chat.services.attachments import Upload, upload_attachment
from tests.support.api import CONVERSATIONS, UNREAD, UNREAD_COUNT, data_of, messages_url, search_url, send

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rate_limit")]

ROWS = 55


@pytest.fixture
def partners(alice: User, make_user: Callable[..., User]) -> list[User]:
    """ROWS users who each sent alice one unread message: ROWS conversations, ROWS unread rows."""
    users = [make_user() for _ in range(ROWS)]
    for user in users:
        send(user, alice, f"hello from {user.username}")
    return users


def _upload(user: User, i: int) -> int:
    data = f"file {i}\n".encode()
    return upload_attachment(uploader=user, upload=Upload(f"{i}.txt", len(data), io.BytesIO(data))).pk


@pytest.fixture
def long_history(alice: User, bob: User) -> Message:
    """ROWS messages between alice and bob, both directions, each with two reactions, each but the
    first a reply to the one before, and every third with two attachments (their signed links are
    made per response); returns the first."""
    sent = [send(bob, alice, "needle 0", attachment_ids=(_upload(bob, 0), _upload(bob, 100)))]
    for i in range(1, ROWS):
        sender, receiver = (alice, bob) if i % 2 else (bob, alice)
        ids = (_upload(sender, i), _upload(sender, -i)) if i % 3 == 0 else ()
        sent.append(send(sender, receiver, f"needle {i}", reply_to_id=sent[-1].pk, attachment_ids=ids))
    Reaction.objects.bulk_create(
        Reaction(message=m, user=user, emoji=emoji) for m in sent for user, emoji in ((alice, "👍"), (bob, "🎉"))
    )
    return sent[0]


def queries_for(api: APIClient, path: str, params: dict[str, Any], items: str) -> tuple[int, int]:
    """(queries, items returned) of one GET; messages must show what was seeded on them."""
    with CaptureQueriesContext(connection) as captured:
        data = data_of(api.get(path, params))
    if items == "messages":
        assert all([r["emoji"] for r in m["reactions"]] == ["👍", "🎉"] for m in data[items])
        assert all((m["reply_to"] is None) == (m["seq"] == 1) for m in data[items])
        assert all(m["reply_to"]["content"].startswith("needle") for m in data[items] if m["seq"] > 1)
    return len(captured.captured_queries), len(data[items]) if items else 0


def assert_flat(api: APIClient, path: str, params: dict[str, Any], items: str, expected: int) -> None:
    small = queries_for(api, path, {**params, "limit": 1}, items)
    large = queries_for(api, path, {**params, "limit": 50}, items)
    assert (small[1], large[1]) == (1, 50), "the seed data did not fill both pages"
    assert (small[0], large[0]) == (expected, expected)


# Every authenticated request costs one query: the bearer token's user. Every response that shows
# other people costs one for whose presence the caller may not see (blocks), and a message page
# one for its receivers' delivery pointers. A list of messages costs one more for the reactions of
# all its messages and one for their attachments (prefetches); the messages replied to are joined.


def test_conversation_list_runs_four_queries_at_any_page_size(as_alice: APIClient, partners: list[User]) -> None:
    assert_flat(as_alice, CONVERSATIONS, {}, "conversations", expected=4)


def test_message_page_with_reactions_runs_eight_queries_at_any_page_size(
    as_alice: APIClient, long_history: Message
) -> None:
    assert_flat(as_alice, messages_url(long_history.conversation_id), {}, "messages", expected=8)


def test_message_cursor_with_reactions_runs_seven_queries_at_any_page_size(
    as_alice: APIClient, long_history: Message
) -> None:
    params = {"after": long_history.pk}
    assert_flat(as_alice, messages_url(long_history.conversation_id), params, "messages", expected=7)


def test_search_page_with_reactions_runs_eight_queries_at_any_page_size(
    as_alice: APIClient, long_history: Message
) -> None:
    params = {"q": "NEEDLE"}
    assert_flat(as_alice, search_url(long_history.conversation_id), params, "messages", expected=8)


def test_search_cursor_with_reactions_runs_seven_queries_at_any_page_size(
    as_alice: APIClient, long_history: Message
) -> None:
    params = {"q": "needle", "before": long_history.pk + ROWS}
    assert_flat(as_alice, search_url(long_history.conversation_id), params, "messages", expected=7)


def test_search_everywhere_with_reactions_runs_six_queries_at_any_page_size(
    as_alice: APIClient, long_history: Message
) -> None:
    assert_flat(as_alice, "/api/chat/search", {"q": "needle"}, "messages", expected=6)


def test_a_page_of_messages_shows_their_attachments(as_alice: APIClient, long_history: Message) -> None:
    messages = data_of(as_alice.get(messages_url(long_history.conversation_id), {"limit": 50}))["messages"]
    assert [len(m["attachments"]) for m in messages[:4]] == [2, 0, 0, 2]


def test_users_list_runs_four_queries_at_any_page_size(as_alice: APIClient, partners: list[User]) -> None:
    """The caller, the count, the page, and whose presence of them the caller may see
    (chat.selectors.people.presence_hidden_from)."""
    assert_flat(as_alice, "/api/auth/users", {"search": "user"}, "users", expected=4)


def test_unread_runs_four_queries_however_many_conversations(
    as_alice: APIClient, alice: User, make_user: Callable[..., User]
) -> None:
    send(make_user(), alice)
    one = queries_for(as_alice, UNREAD, {}, "conversations")
    for _ in range(ROWS):
        send(make_user(), alice)
    many = queries_for(as_alice, UNREAD, {}, "conversations")
    assert (one, many) == ((4, 1), (4, ROWS + 1))


def test_unread_count_runs_two_queries_however_many_conversations(
    as_alice: APIClient, alice: User, partners: list[User]
) -> None:
    with CaptureQueriesContext(connection) as captured:
        assert data_of(as_alice.get(UNREAD_COUNT)) == {"unreadCount": ROWS}
    assert len(captured.captured_queries) == 2
