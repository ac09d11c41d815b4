"""The /api/chat endpoints: every success path and rule of the contract's Chat section."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from chat.models import Conversation, Message
from tests.support.api import (
    CONVERSATION_KEYS,
    CONVERSATIONS,
    MESSAGE_KEYS,
    SEND,
    SUMMARY_KEYS,
    UNREAD,
    UNREAD_COUNT,
    assert_failure,
    data_of,
    message_url,
    messages_url,
    read_url,
    search_url,
    send,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rate_limit")]


def post_send(api: APIClient, receiver: User, content: str = "hello", **fields: Any) -> Any:
    return api.post(SEND, {"receiverId": receiver.pk, "content": content, **fields}, format="json")


def conversation_of(a: User, b: User) -> Conversation:
    p1, p2 = sorted((a.pk, b.pk))
    return Conversation.objects.get(participant_1_id=p1, participant_2_id=p2)


# --- send ----------------------------------------------------------------------------------


def test_send_returns_201_with_the_stored_message(as_alice: APIClient, alice: User, bob: User) -> None:
    response = post_send(as_alice, bob, "hi bob")
    assert response.status_code == 201
    assert response.json()["message"] == "Message sent"
    data = data_of(response, 201)
    assert set(data) == MESSAGE_KEYS
    stored = Message.objects.get()
    assert data["id"] == stored.pk
    assert (data["sender_id"], data["receiver_id"], data["conversation_id"]) == (
        alice.pk,
        bob.pk,
        stored.conversation_id,
    )
    assert data["content"] == "hi bob"
    assert data["is_read"] is False and data["read_at"] is None
    assert data["createdAt"].endswith("Z")


def test_send_shows_sender_and_receiver_as_user_summaries_only(as_alice: APIClient, bob: User) -> None:
    data = data_of(post_send(as_alice, bob), 201)
    assert set(data["sender"]) == SUMMARY_KEYS
    assert set(data["receiver"]) == SUMMARY_KEYS
    assert data["sender"]["username"] == "alice"
    assert "alice@example.com" not in str(data)


def test_first_send_creates_the_conversation_and_later_sends_reuse_it(
    as_alice: APIClient, as_bob: APIClient, alice: User, bob: User
) -> None:
    first = data_of(post_send(as_alice, bob, "one"), 201)
    reply = data_of(post_send(as_bob, alice, "two"), 201)
    assert Conversation.objects.count() == 1
    assert first["conversation_id"] == reply["conversation_id"]


def test_conversation_participants_are_stored_in_id_order_whoever_sends_first(
    make_user: Callable[..., User], client_for: Callable[[User], APIClient]
) -> None:
    low, high = make_user(), make_user()
    data_of(post_send(client_for(high), low), 201)
    conversation = Conversation.objects.get()
    assert (conversation.participant_1_id, conversation.participant_2_id) == (low.pk, high.pk)


def test_sends_number_messages_1_2_3_in_their_conversation(
    as_alice: APIClient, as_bob: APIClient, alice: User, bob: User
) -> None:
    seqs = [
        data_of(post_send(as_alice, bob), 201)["seq"],
        data_of(post_send(as_bob, alice), 201)["seq"],
        data_of(post_send(as_alice, bob), 201)["seq"],
    ]
    assert seqs == [1, 2, 3]


def test_seq_restarts_at_1_in_each_conversation(alice: User, bob: User, carol: User) -> None:
    send(alice, bob)
    send(alice, bob)
    assert send(alice, carol).seq == 1


@pytest.mark.parametrize(
    "content",
    [
        "<script>alert('x')</script>",
        "  leading and trailing spaces  ",
        "line one\nline two\r\n\ttabbed",
        "emoji 👋🏽 and ünïcødé and 漢字",
        "&lt;already escaped&gt; & \"quotes\" 'single'",
        "x" * 10_000,
    ],
)
def test_send_stores_content_exactly_as_sent(as_alice: APIClient, bob: User, content: str) -> None:
    data = data_of(post_send(as_alice, bob, content), 201)
    assert data["content"] == content
    assert Message.objects.get().content == content


def test_send_sets_the_conversation_preview_and_time(as_alice: APIClient, alice: User, bob: User) -> None:
    data = data_of(post_send(as_alice, bob, "latest words"), 201)
    conversation = conversation_of(alice, bob)
    assert conversation.last_message == "latest words"
    assert conversation.last_message_at == Message.objects.get(pk=data["id"]).created_at


def test_preview_is_cut_to_255_characters(as_alice: APIClient, alice: User, bob: User) -> None:
    content = "a" * 250 + "bcdefghijk" * 100
    data_of(post_send(as_alice, bob, content), 201)
    assert conversation_of(alice, bob).last_message == content[:255]


def test_send_stores_an_https_attachment_url(as_alice: APIClient, bob: User) -> None:
    url = "https://cdn.example.com/a/b.png?size=large#frag"
    data = data_of(post_send(as_alice, bob, "see this", attachmentUrl=url), 201)
    assert data["attachment_url"] == url


def test_send_accepts_a_null_attachment_url(as_alice: APIClient, bob: User) -> None:
    data = data_of(post_send(as_alice, bob, "plain", attachmentUrl=None), 201)
    assert data["attachment_url"] is None


def test_repeated_client_message_id_returns_the_first_message_with_200(as_alice: APIClient, bob: User) -> None:
    first = data_of(post_send(as_alice, bob, "once", clientMessageId="c-1"), 201)
    again = post_send(as_alice, bob, "once", clientMessageId="c-1")
    assert again.status_code == 200
    assert again.json()["message"] == "Message already sent"
    assert again.json()["data"] == first


def test_repeated_client_message_id_stores_nothing_new(as_alice: APIClient, alice: User, bob: User) -> None:
    data_of(post_send(as_alice, bob, "once", clientMessageId="c-1"), 201)
    data_of(post_send(as_alice, bob, "once", clientMessageId="c-1"), 200)
    assert Message.objects.count() == 1
    assert conversation_of(alice, bob).last_seq == 1


def test_client_message_id_is_scoped_to_its_sender(
    as_alice: APIClient, as_bob: APIClient, alice: User, bob: User
) -> None:
    data_of(post_send(as_alice, bob, "from alice", clientMessageId="same"), 201)
    reply = data_of(post_send(as_bob, alice, "from bob", clientMessageId="same"), 201)
    assert reply["content"] == "from bob"
    assert Message.objects.count() == 2


def test_send_echoes_the_client_message_id(as_alice: APIClient, bob: User) -> None:
    assert data_of(post_send(as_alice, bob, clientMessageId="abc-123"), 201)["client_message_id"] == "abc-123"


def test_send_to_yourself_is_400(as_alice: APIClient, alice: User) -> None:
    body = assert_failure(post_send(as_alice, alice), 400)
    assert "receiverId" in body["errors"]
    assert not Conversation.objects.exists()


def test_send_to_an_unknown_user_is_404(as_alice: APIClient, alice: User) -> None:
    response = as_alice.post(SEND, {"receiverId": alice.pk + 1000, "content": "hi"}, format="json")
    assert_failure(response, 404)
    assert not Message.objects.exists()


def test_send_to_a_deactivated_user_is_404(as_alice: APIClient, bob: User) -> None:
    bob.is_active = False
    bob.save()
    assert_failure(post_send(as_alice, bob), 404)
    assert not Message.objects.exists()


def test_send_into_a_conversation_of_other_people_is_404(
    as_alice: APIClient, alice: User, bob: User, carol: User
) -> None:
    other = send(bob, carol).conversation_id
    assert_failure(post_send(as_alice, bob, conversationId=other), 404)
    assert not Message.objects.filter(sender=alice).exists()


def test_send_with_a_conversation_id_not_matching_the_receiver_is_400(
    as_alice: APIClient, alice: User, bob: User, carol: User
) -> None:
    with_carol = send(alice, carol).conversation_id
    assert "conversationId" in assert_failure(post_send(as_alice, bob, conversationId=with_carol), 400)["errors"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sender_id", "OTHER"),
        ("senderId", "OTHER"),
        ("seq", 999),
        ("is_read", True),
        ("isRead", True),
        ("read_at", "2020-01-01T00:00:00Z"),
        ("deletedAt", "2020-01-01T00:00:00Z"),
        ("deleted_at", "2020-01-01T00:00:00Z"),
        ("createdAt", "2000-01-01T00:00:00Z"),
        ("id", 424242),
        ("is_staff", True),
    ],
)
def test_send_ignores_fields_the_client_may_not_set(
    as_alice: APIClient, alice: User, bob: User, carol: User, field: str, value: Any
) -> None:
    if value == "OTHER":
        value = carol.pk
    data = data_of(post_send(as_alice, bob, "plain", **{field: value}), 201)
    stored = Message.all_objects.get()
    assert (stored.sender_id, stored.seq, stored.is_read, stored.read_at, stored.deleted_at) == (
        alice.pk,
        1,
        False,
        None,
        None,
    )
    assert stored.pk == data["id"] and stored.pk != 424242
    assert stored.created_at.year > 2000
    alice.refresh_from_db()
    assert not alice.is_staff


def test_anonymous_callers_get_401_on_every_chat_endpoint(anon: APIClient, alice: User, bob: User) -> None:
    message = send(alice, bob)
    calls = [
        anon.post(SEND, {"receiverId": bob.pk, "content": "x"}, format="json"),
        anon.get(CONVERSATIONS),
        anon.get(messages_url(message.conversation_id)),
        anon.put(read_url(message.conversation_id)),
        anon.get(UNREAD_COUNT),
        anon.get(UNREAD),
        anon.get(search_url(message.conversation_id), {"q": "hello"}),
        anon.delete(message_url(message.pk)),
    ]
    for response in calls:
        assert_failure(response, 401)


# --- conversations ---------------------------------------------------------------------------


def test_conversations_list_the_callers_conversations_newest_first(
    as_alice: APIClient, alice: User, bob: User, carol: User, make_user: Callable[..., User]
) -> None:
    dave = make_user("dave")
    send(alice, bob)
    send(carol, alice)
    send(alice, dave)
    send(bob, alice)  # bob's conversation becomes the newest
    data = data_of(as_alice.get(CONVERSATIONS))
    others = [
        c["participant2"]["username"] if c["participant1"]["id"] == alice.pk else c["participant1"]["username"]
        for c in data["conversations"]
    ]
    assert others == ["bob", "dave", "carol"]


def test_conversations_leave_out_conversations_of_other_people(
    as_alice: APIClient, alice: User, bob: User, carol: User
) -> None:
    send(bob, carol)
    mine = send(alice, carol).conversation_id
    assert [c["id"] for c in data_of(as_alice.get(CONVERSATIONS))["conversations"]] == [mine]


def test_conversation_has_the_contract_shape(as_alice: APIClient, alice: User, bob: User) -> None:
    message = send(alice, bob, "last words")
    conversation = data_of(as_alice.get(CONVERSATIONS))["conversations"][0]
    assert set(conversation) == CONVERSATION_KEYS
    assert conversation["id"] == message.conversation_id
    assert conversation["participant_1_id"] < conversation["participant_2_id"]
    assert conversation["participant1"]["id"] == conversation["participant_1_id"]
    assert conversation["participant2"]["id"] == conversation["participant_2_id"]
    assert conversation["last_message"] == "last words"
    assert conversation["last_message_at"].endswith("Z")


def test_conversation_participants_are_user_summaries_without_email(as_bob: APIClient, alice: User, bob: User) -> None:
    send(alice, bob)
    conversation = data_of(as_bob.get(CONVERSATIONS))["conversations"][0]
    assert set(conversation["participant1"]) == SUMMARY_KEYS
    assert set(conversation["participant2"]) == SUMMARY_KEYS
    assert "alice@example.com" not in str(conversation)


def test_conversation_unread_count_is_the_callers_own(
    as_alice: APIClient, as_bob: APIClient, alice: User, bob: User
) -> None:
    send(alice, bob)
    send(alice, bob)
    send(bob, alice)
    assert data_of(as_alice.get(CONVERSATIONS))["conversations"][0]["unread_count"] == 1
    assert data_of(as_bob.get(CONVERSATIONS))["conversations"][0]["unread_count"] == 2


def test_conversations_are_paginated(as_alice: APIClient, alice: User, make_user: Callable[..., User]) -> None:
    for _ in range(5):
        send(make_user(), alice)
    data = data_of(as_alice.get(CONVERSATIONS, {"page": 2, "limit": 2}))
    assert (data["total"], data["page"], data["limit"], data["totalPages"]) == (5, 2, 2, 3)
    assert len(data["conversations"]) == 2


def test_conversations_default_to_20_per_page(as_alice: APIClient) -> None:
    data = data_of(as_alice.get(CONVERSATIONS))
    assert (data["conversations"], data["total"], data["page"], data["limit"], data["totalPages"]) == ([], 0, 1, 20, 0)


# --- messages --------------------------------------------------------------------------------


def history(alice: User, bob: User, n: int) -> list[Message]:
    return [send(alice if i % 2 == 0 else bob, bob if i % 2 == 0 else alice, f"m{i}") for i in range(n)]


def contents(data: dict[str, Any], key: str = "messages") -> list[str]:
    return [m["content"] for m in data[key]]


def test_messages_are_listed_oldest_first(as_alice: APIClient, alice: User, bob: User) -> None:
    sent = history(alice, bob, 3)
    data = data_of(as_alice.get(messages_url(sent[0].conversation_id)))
    assert contents(data) == ["m0", "m1", "m2"]
    assert [m["seq"] for m in data["messages"]] == [1, 2, 3]
    assert set(data["messages"][0]) == MESSAGE_KEYS


def test_messages_page_mode_counts_and_slices(as_bob: APIClient, alice: User, bob: User) -> None:
    sent = history(alice, bob, 5)
    data = data_of(as_bob.get(messages_url(sent[0].conversation_id), {"page": 2, "limit": 2}))
    assert contents(data) == ["m2", "m3"]
    assert (data["total"], data["page"], data["limit"], data["totalPages"]) == (5, 2, 2, 3)


def test_messages_default_to_50_per_page(as_alice: APIClient, alice: User, bob: User) -> None:
    sent = history(alice, bob, 1)
    assert data_of(as_alice.get(messages_url(sent[0].conversation_id)))["limit"] == 50


def test_messages_before_cursor_gives_the_older_ones_oldest_first(as_alice: APIClient, alice: User, bob: User) -> None:
    sent = history(alice, bob, 6)
    data = data_of(as_alice.get(messages_url(sent[0].conversation_id), {"before": sent[4].pk, "limit": 2}))
    assert contents(data) == ["m2", "m3"]
    assert data["hasMore"] is True
    assert set(data) == {"messages", "limit", "hasMore"}


def test_messages_before_cursor_reports_no_more_at_the_start(as_alice: APIClient, alice: User, bob: User) -> None:
    sent = history(alice, bob, 4)
    data = data_of(as_alice.get(messages_url(sent[0].conversation_id), {"before": sent[2].pk, "limit": 2}))
    assert contents(data) == ["m0", "m1"]
    assert data["hasMore"] is False


def test_messages_after_cursor_gives_the_newer_ones_oldest_first(as_alice: APIClient, alice: User, bob: User) -> None:
    sent = history(alice, bob, 6)
    data = data_of(as_alice.get(messages_url(sent[0].conversation_id), {"after": sent[1].pk, "limit": 2}))
    assert contents(data) == ["m2", "m3"]
    assert data["hasMore"] is True


def test_messages_after_0_read_from_the_very_first_message(as_alice: APIClient, alice: User, bob: User) -> None:
    """A client with no messages yet asks for everything after 0 (docs/rest.md)."""
    sent = history(alice, bob, 3)
    data = data_of(as_alice.get(messages_url(sent[0].conversation_id), {"after": "0", "limit": "2"}))
    assert contents(data) == ["m0", "m1"]
    assert data["hasMore"] is True


def test_search_after_0_reads_from_the_very_first_match(as_alice: APIClient, alice: User, bob: User) -> None:
    sent = history(alice, bob, 3)
    data = data_of(search(as_alice, sent[0].conversation_id, "m", after="0"))
    assert contents(data) == ["m0", "m1", "m2"]
    assert data["hasMore"] is False


def test_messages_after_the_newest_is_empty_without_more(as_alice: APIClient, alice: User, bob: User) -> None:
    sent = history(alice, bob, 3)
    data = data_of(as_alice.get(messages_url(sent[0].conversation_id), {"after": sent[2].pk}))
    assert data["messages"] == []
    assert data["hasMore"] is False


def test_messages_after_cursor_reaches_exactly_the_end(as_alice: APIClient, alice: User, bob: User) -> None:
    sent = history(alice, bob, 4)
    data = data_of(as_alice.get(messages_url(sent[0].conversation_id), {"after": sent[1].pk, "limit": 2}))
    assert contents(data) == ["m2", "m3"]
    assert data["hasMore"] is False


def test_messages_cursor_stays_inside_the_conversation(
    as_alice: APIClient, alice: User, bob: User, carol: User
) -> None:
    mine = send(alice, bob, "mine")
    theirs = send(bob, carol, "not mine")
    data = data_of(as_alice.get(messages_url(mine.conversation_id), {"before": theirs.pk + 1}))
    assert contents(data) == ["mine"]


def test_messages_show_read_state_after_reading(as_alice: APIClient, as_bob: APIClient, alice: User, bob: User) -> None:
    message = send(alice, bob)
    data_of(as_bob.put(read_url(message.conversation_id)))
    shown = data_of(as_alice.get(messages_url(message.conversation_id)))["messages"][0]
    assert shown["is_read"] is True
    assert shown["read_at"].endswith("Z")


# --- read ------------------------------------------------------------------------------------


def test_read_marks_messages_sent_to_the_caller_and_returns_the_count(
    as_bob: APIClient, alice: User, bob: User
) -> None:
    first = send(alice, bob)
    send(alice, bob)
    assert data_of(as_bob.put(read_url(first.conversation_id))) == {"updated": 2}
    assert not Message.objects.filter(receiver=bob, is_read=False).exists()


def test_read_leaves_messages_the_caller_sent_unread(as_bob: APIClient, alice: User, bob: User) -> None:
    first = send(alice, bob)
    send(bob, alice)
    assert data_of(as_bob.put(read_url(first.conversation_id))) == {"updated": 1}
    assert Message.objects.get(sender=bob).is_read is False


def test_read_twice_updates_nothing_the_second_time(as_bob: APIClient, alice: User, bob: User) -> None:
    message = send(alice, bob)
    data_of(as_bob.put(read_url(message.conversation_id)))
    assert data_of(as_bob.put(read_url(message.conversation_id))) == {"updated": 0}


def test_read_touches_only_that_conversation(as_bob: APIClient, alice: User, bob: User, carol: User) -> None:
    message = send(alice, bob)
    send(carol, bob)
    data_of(as_bob.put(read_url(message.conversation_id)))
    assert Message.objects.get(sender=carol).is_read is False


# --- unread ----------------------------------------------------------------------------------


def test_unread_count_sums_the_callers_unread_messages_over_all_conversations(
    as_bob: APIClient, alice: User, bob: User, carol: User
) -> None:
    send(alice, bob)
    send(alice, bob)
    send(carol, bob)
    send(bob, alice)
    assert data_of(as_bob.get(UNREAD_COUNT)) == {"unreadCount": 3}


def test_unread_count_drops_after_reading(as_bob: APIClient, alice: User, bob: User, carol: User) -> None:
    message = send(alice, bob)
    send(carol, bob)
    data_of(as_bob.put(read_url(message.conversation_id)))
    assert data_of(as_bob.get(UNREAD_COUNT)) == {"unreadCount": 1}


def test_unread_lists_each_conversation_with_unread_messages(
    as_bob: APIClient, alice: User, bob: User, carol: User
) -> None:
    from_alice = send(alice, bob, "a1")
    send(alice, bob, "a2")
    from_carol = send(carol, bob, "c1")
    data = data_of(as_bob.get(UNREAD))
    assert data["conversations"] == [
        {
            "conversation_id": from_carol.conversation_id,
            "unread_count": 1,
            "other_participant": data["conversations"][0]["other_participant"],
            "last_message": "c1",
            "last_message_at": data["conversations"][0]["last_message_at"],
        },
        {
            "conversation_id": from_alice.conversation_id,
            "unread_count": 2,
            "other_participant": data["conversations"][1]["other_participant"],
            "last_message": "a2",
            "last_message_at": data["conversations"][1]["last_message_at"],
        },
    ]
    assert [c["other_participant"]["username"] for c in data["conversations"]] == ["carol", "alice"]
    assert set(data["conversations"][0]["other_participant"]) == SUMMARY_KEYS


def test_unread_leaves_out_conversations_read_or_only_sent_to(
    as_bob: APIClient, alice: User, bob: User, carol: User
) -> None:
    message = send(alice, bob)
    send(bob, carol)
    data_of(as_bob.put(read_url(message.conversation_id)))
    assert data_of(as_bob.get(UNREAD)) == {"conversations": []}


# --- search ----------------------------------------------------------------------------------


def search(api: APIClient, conversation_id: int, q: str, **params: Any) -> Any:
    return api.get(search_url(conversation_id), {"q": q, **params})


def test_search_is_a_case_insensitive_substring_match_oldest_first(as_alice: APIClient, alice: User, bob: User) -> None:
    first = send(alice, bob, "Lunch at NOON?")
    send(bob, alice, "no thanks")
    send(bob, alice, "afternoon then")
    data = data_of(search(as_alice, first.conversation_id, "noon"))
    assert contents(data) == ["Lunch at NOON?", "afternoon then"]
    assert (data["total"], data["page"], data["limit"], data["totalPages"]) == (2, 1, 50, 1)


@pytest.mark.parametrize(("term", "expected"), [("%", ["100% sure"]), ("_", ["snake_case"]), ("\\", ["back\\slash"])])
def test_search_treats_wildcards_as_literal_characters(
    as_alice: APIClient, alice: User, bob: User, term: str, expected: list[str]
) -> None:
    first = send(alice, bob, "100% sure")
    send(alice, bob, "snake_case")
    send(alice, bob, "back\\slash")
    send(alice, bob, "plain words")
    assert contents(data_of(search(as_alice, first.conversation_id, term))) == expected


def test_search_stays_inside_the_conversation(as_alice: APIClient, alice: User, bob: User, carol: User) -> None:
    mine = send(alice, bob, "apple pie")
    send(alice, carol, "apple tart")
    assert contents(data_of(search(as_alice, mine.conversation_id, "apple"))) == ["apple pie"]


def test_search_pages_results(as_alice: APIClient, alice: User, bob: User) -> None:
    sent = [send(alice, bob, f"match {i}") for i in range(5)]
    data = data_of(search(as_alice, sent[0].conversation_id, "match", page=3, limit=2))
    assert contents(data) == ["match 4"]
    assert (data["total"], data["totalPages"]) == (5, 3)


def test_search_supports_a_before_cursor(as_alice: APIClient, alice: User, bob: User) -> None:
    sent = [send(alice, bob, f"match {i}") for i in range(5)]
    data = data_of(search(as_alice, sent[0].conversation_id, "match", before=sent[3].pk, limit=2))
    assert contents(data) == ["match 1", "match 2"]
    assert data["hasMore"] is True


def test_search_supports_an_after_cursor(as_alice: APIClient, alice: User, bob: User) -> None:
    sent = [send(alice, bob, f"match {i}") for i in range(5)]
    data = data_of(search(as_alice, sent[0].conversation_id, "match", after=sent[2].pk, limit=2))
    assert contents(data) == ["match 3", "match 4"]
    assert data["hasMore"] is False


def test_search_trims_surrounding_spaces_from_the_term(as_alice: APIClient, alice: User, bob: User) -> None:
    first = send(alice, bob, "findme")
    assert contents(data_of(search(as_alice, first.conversation_id, "  findme "))) == ["findme"]


@pytest.mark.parametrize("q", ["", "   ", "x" * 201, "nul\x00byte"])
def test_search_refuses_a_missing_blank_long_or_nul_term_with_400(
    as_alice: APIClient, alice: User, bob: User, q: str
) -> None:
    first = send(alice, bob)
    assert "q" in assert_failure(search(as_alice, first.conversation_id, q), 400)["errors"]


def test_search_without_q_is_400(as_alice: APIClient, alice: User, bob: User) -> None:
    first = send(alice, bob)
    assert "q" in assert_failure(as_alice.get(search_url(first.conversation_id)), 400)["errors"]


def test_search_accepts_a_200_character_term(as_alice: APIClient, alice: User, bob: User) -> None:
    term = "y" * 200
    first = send(alice, bob, f"<{term}>")
    assert contents(data_of(search(as_alice, first.conversation_id, term))) == [f"<{term}>"]


# --- delete ----------------------------------------------------------------------------------


def test_sender_deletes_a_message_with_200(as_alice: APIClient, alice: User, bob: User) -> None:
    message = send(alice, bob)
    response = as_alice.delete(message_url(message.pk))
    assert data_of(response) == {"id": message.pk, "conversation_id": message.conversation_id}
    assert response.json()["message"] == "Message deleted"
    assert Message.all_objects.get(pk=message.pk).deleted_at is not None


def test_receiver_cannot_delete_a_message_and_gets_403(as_bob: APIClient, alice: User, bob: User) -> None:
    message = send(alice, bob)
    assert_failure(as_bob.delete(message_url(message.pk)), 403)
    assert Message.objects.filter(pk=message.pk).exists()


def test_deleting_an_already_deleted_message_is_404(as_alice: APIClient, alice: User, bob: User) -> None:
    message = send(alice, bob)
    data_of(as_alice.delete(message_url(message.pk)))
    assert_failure(as_alice.delete(message_url(message.pk)), 404)


def test_deleting_an_unknown_message_is_404(as_alice: APIClient, alice: User, bob: User) -> None:
    message = send(alice, bob)
    assert_failure(as_alice.delete(message_url(message.pk + 1000)), 404)


def test_deleted_message_is_gone_from_the_history(as_alice: APIClient, alice: User, bob: User) -> None:
    keep = send(alice, bob, "keep")
    gone = send(alice, bob, "gone")
    data_of(as_alice.delete(message_url(gone.pk)))
    data = data_of(as_alice.get(messages_url(keep.conversation_id)))
    assert contents(data) == ["keep"]
    assert data["total"] == 1


def test_deleted_message_is_gone_from_cursor_reads(as_alice: APIClient, alice: User, bob: User) -> None:
    first = send(alice, bob, "first")
    gone = send(alice, bob, "gone")
    data_of(as_alice.delete(message_url(gone.pk)))
    assert contents(data_of(as_alice.get(messages_url(first.conversation_id), {"after": first.pk}))) == []


def test_deleted_message_is_gone_from_search(as_alice: APIClient, alice: User, bob: User) -> None:
    keep = send(alice, bob, "secret one")
    gone = send(alice, bob, "secret two")
    data_of(as_alice.delete(message_url(gone.pk)))
    data = data_of(search(as_alice, keep.conversation_id, "secret"))
    assert contents(data) == ["secret one"]
    assert data["total"] == 1


def test_deleted_message_no_longer_counts_as_unread(
    as_alice: APIClient, as_bob: APIClient, alice: User, bob: User
) -> None:
    gone = send(alice, bob)
    data_of(as_alice.delete(message_url(gone.pk)))
    assert data_of(as_bob.get(UNREAD_COUNT)) == {"unreadCount": 0}
    assert data_of(as_bob.get(UNREAD)) == {"conversations": []}
    assert data_of(as_bob.get(CONVERSATIONS))["conversations"][0]["unread_count"] == 0


def test_deleted_message_is_not_counted_by_read(as_alice: APIClient, as_bob: APIClient, alice: User, bob: User) -> None:
    gone = send(alice, bob)
    send(alice, bob)
    data_of(as_alice.delete(message_url(gone.pk)))
    assert data_of(as_bob.put(read_url(gone.conversation_id))) == {"updated": 1}


def test_deleting_the_last_message_falls_back_to_the_newest_left(as_alice: APIClient, alice: User, bob: User) -> None:
    send(alice, bob, "older")
    newer = send(bob, alice, "newer")
    last = send(alice, bob, "last")
    data_of(as_alice.delete(message_url(last.pk)))
    conversation = conversation_of(alice, bob)
    assert conversation.last_message == "newer"
    assert conversation.last_message_at == newer.created_at


def test_deleting_an_older_message_keeps_the_preview(as_alice: APIClient, alice: User, bob: User) -> None:
    older = send(alice, bob, "older")
    last = send(alice, bob, "last")
    data_of(as_alice.delete(message_url(older.pk)))
    conversation = conversation_of(alice, bob)
    assert conversation.last_message == "last"
    assert conversation.last_message_at == last.created_at


def test_deleting_every_message_empties_the_preview_and_falls_back_to_creation_time(
    as_alice: APIClient, alice: User, bob: User
) -> None:
    only = send(alice, bob, "only")
    data_of(as_alice.delete(message_url(only.pk)))
    conversation = conversation_of(alice, bob)
    assert conversation.last_message is None
    assert conversation.last_message_at == conversation.created_at
    assert data_of(as_alice.get(CONVERSATIONS))["conversations"][0]["last_message"] is None


def test_deleted_messages_keep_their_seq_and_the_next_send_continues(
    as_alice: APIClient, alice: User, bob: User
) -> None:
    send(alice, bob)
    second = send(alice, bob)
    data_of(as_alice.delete(message_url(second.pk)))
    assert send(alice, bob).seq == 3


# --- outsiders -------------------------------------------------------------------------------


@pytest.fixture
def private(alice: User, bob: User) -> Message:
    """A conversation between alice and bob with content no outsider may learn."""
    send(bob, alice, "bob's private words")
    return send(alice, bob, "alice's private words", client_message_id="private-1")


@pytest.fixture
def as_carol(client_for: Callable[[User], APIClient], carol: User) -> APIClient:
    return client_for(carol)


OUTSIDER_CALLS: list[tuple[str, Callable[[APIClient, Message], Any]]] = [
    ("messages", lambda api, m: api.get(messages_url(m.conversation_id))),
    ("messages before", lambda api, m: api.get(messages_url(m.conversation_id), {"before": m.pk})),
    ("messages after", lambda api, m: api.get(messages_url(m.conversation_id), {"after": 1})),
    ("read", lambda api, m: api.put(read_url(m.conversation_id))),
    ("search", lambda api, m: api.get(search_url(m.conversation_id), {"q": "private"})),
    ("search cursor", lambda api, m: api.get(search_url(m.conversation_id), {"q": "private", "after": "1"})),
    ("delete", lambda api, m: api.delete(message_url(m.pk))),
    (
        "send into it",
        lambda api, m: api.post(
            SEND, {"receiverId": m.receiver_id, "content": "x", "conversationId": m.conversation_id}, format="json"
        ),
    ),
]


@pytest.mark.parametrize("call", [c for _, c in OUTSIDER_CALLS], ids=[name for name, _ in OUTSIDER_CALLS])
def test_outsider_gets_404_that_leaks_nothing(
    as_carol: APIClient, private: Message, call: Callable[[APIClient, Message], Any]
) -> None:
    body = assert_failure(call(as_carol, private), 404)
    text = str(body)
    for secret in ("private words", "alice", "bob", "private-1"):
        assert secret not in text


def test_outsider_404_reads_like_a_missing_conversation(as_carol: APIClient, private: Message) -> None:
    real = as_carol.get(messages_url(private.conversation_id))
    missing = as_carol.get(messages_url(private.conversation_id + 1000))
    assert (real.status_code, real.json()) == (missing.status_code, missing.json())


def test_outsider_404_reads_like_a_missing_message(as_carol: APIClient, private: Message) -> None:
    real = as_carol.delete(message_url(private.pk))
    missing = as_carol.delete(message_url(private.pk + 1000))
    assert (real.status_code, real.json()) == (missing.status_code, missing.json())


def test_outsider_changes_nothing(as_carol: APIClient, private: Message) -> None:
    for _, call in OUTSIDER_CALLS:
        call(as_carol, private)
    assert Message.objects.filter(is_read=False).count() == 2
    assert Message.objects.count() == 2
    assert Conversation.objects.get().last_message == "alice's private words"


def test_outsider_sees_none_of_it_in_lists_and_counts(as_carol: APIClient, private: Message) -> None:
    assert data_of(as_carol.get(CONVERSATIONS))["conversations"] == []
    assert data_of(as_carol.get(UNREAD_COUNT)) == {"unreadCount": 0}
    assert data_of(as_carol.get(UNREAD)) == {"conversations": []}
