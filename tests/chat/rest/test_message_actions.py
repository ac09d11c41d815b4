"""The contract's "Message actions" over REST: edits and their history (more below as they land).

Each action has its owner's success path, the other participant's and an outsider's refusals
(403 / 404), and its bad input (400, nothing changed).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from chat.models import Conversation, Message, MessageVersion, Reaction
from chat.payloads import iso
from tests.support.api import (
    CONVERSATIONS,
    UNREAD_COUNT,
    assert_failure,
    data_of,
    history_url,
    message_url,
    search_url,
    send,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rate_limit")]


def patch(api: APIClient, message: Message | int, body: Any) -> Any:
    return api.patch(message_url(message if isinstance(message, int) else message.pk), body, format="json")


def sent_ago(message: Message, seconds: float) -> Message:
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(seconds=seconds))
    return Message.objects.get(pk=message.pk)


# --- edit ------------------------------------------------------------------------------------


def test_the_sender_edits_and_the_history_keeps_every_text(as_alice: APIClient, alice: User, bob: User) -> None:
    message = send(alice, bob, "frist")
    first = data_of(patch(as_alice, message, {"content": "first"}))
    assert first["content"] == "first" and first["edited_at"] is not None and first["id"] == message.pk
    second = data_of(patch(as_alice, message, {"content": "first!"}))
    stored = Message.objects.get(pk=message.pk)
    assert stored.content == "first!" and iso(stored.edited_at) == second["edited_at"]
    versions = data_of(as_alice.get(history_url(message.pk)))["versions"]
    assert versions == [
        {"content": "frist", "at": iso(message.created_at)},
        {"content": "first", "at": first["edited_at"]},
        {"content": "first!", "at": second["edited_at"]},
    ]


def test_an_unedited_message_has_its_original_as_its_only_version(as_bob: APIClient, alice: User, bob: User) -> None:
    message = send(alice, bob, "never edited")
    assert data_of(as_bob.get(history_url(message.pk))) == {
        "versions": [{"content": "never edited", "at": iso(message.created_at)}]
    }
    assert data_of(as_bob.get(CONVERSATIONS))["conversations"][0]["last_message"] == "never edited"


def test_the_receiver_may_read_the_history_but_not_edit(as_bob: APIClient, alice: User, bob: User) -> None:
    message = send(alice, bob, "mine")
    assert_failure(patch(as_bob, message, {"content": "yours now"}), 403)
    assert Message.objects.get(pk=message.pk).content == "mine"
    assert [v["content"] for v in data_of(as_bob.get(history_url(message.pk)))["versions"]] == ["mine"]


def test_an_outsider_gets_404_for_edit_and_history(
    client_for: Callable[[User], APIClient], alice: User, bob: User, carol: User
) -> None:
    message = send(alice, bob, "private")
    as_carol = client_for(carol)
    for response in (patch(as_carol, message, {"content": "hacked"}), as_carol.get(history_url(message.pk))):
        body = assert_failure(response, 404)
        assert "private" not in str(body)
    assert_failure(patch(as_carol, message.pk + 1000, {"content": "x"}), 404)
    assert_failure(as_carol.get(history_url(message.pk + 1000)), 404)
    assert Message.objects.get(pk=message.pk).content == "private"


def test_a_deleted_message_cannot_be_edited_nor_its_history_read(as_alice: APIClient, alice: User, bob: User) -> None:
    message = send(alice, bob, "gone soon")
    data_of(as_alice.delete(message_url(message.pk)))
    assert_failure(patch(as_alice, message, {"content": "back"}), 404)
    assert_failure(as_alice.get(history_url(message.pk)), 404)
    assert not MessageVersion.objects.exists()


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("{}", "content"),
        ('{"content": "   \\n"}', "content"),
        ('{"content": "' + "x" * 10_001 + '"}', "content"),
        ('{"content": 5}', "content"),
        ('{"content": "nul\\u0000"}', "content"),
        ('{"content": "\\ud800"}', "content"),
        ('["content"]', "non_field_errors"),
    ],
    ids=["missing", "blank", "too-long", "not-a-string", "nul", "lone-surrogate", "not-an-object"],
)
def test_bad_edits_are_400_and_change_nothing(
    as_alice: APIClient, alice: User, bob: User, raw: str, field: str
) -> None:
    message = send(alice, bob, "as it was")
    response = as_alice.generic("PATCH", message_url(message.pk), raw, "application/json")
    assert field in assert_failure(response, 400)["errors"]
    stored = Message.objects.get(pk=message.pk)
    assert (stored.content, stored.edited_at) == ("as it was", None)
    assert not MessageVersion.objects.exists()


def test_the_longest_content_is_accepted(as_alice: APIClient, alice: User, bob: User) -> None:
    message = send(alice, bob, "short")
    assert data_of(patch(as_alice, message, {"content": "y" * 10_000}))["content"] == "y" * 10_000


def test_an_unchanged_text_is_200_with_nothing_stored_or_published(
    as_alice: APIClient, alice: User, bob: User, django_capture_on_commit_callbacks: Any
) -> None:
    message = send(alice, bob, "same")
    with django_capture_on_commit_callbacks() as published:
        response = patch(as_alice, message, {"content": "same"})
    assert data_of(response)["edited_at"] is None and response.json()["message"] == "Message unchanged"
    assert published == [] and not MessageVersion.objects.exists()
    with django_capture_on_commit_callbacks() as published:
        data_of(patch(as_alice, message, {"content": "different"}))
    assert len(published) == 1


# --- the edit window ---------------------------------------------------------------------------


def test_the_default_window_is_900_seconds(settings: Any) -> None:
    from chatproject.env import parse_window

    assert parse_window("MESSAGE_EDIT_WINDOW_SECONDS", "900") == settings.MESSAGE_EDIT_WINDOW_SECONDS == 900


def test_an_edit_just_inside_the_window_passes_and_just_after_it_is_403(
    as_alice: APIClient, alice: User, bob: User, settings: Any
) -> None:
    settings.MESSAGE_EDIT_WINDOW_SECONDS = 60
    inside = sent_ago(send(alice, bob, "inside"), 55)
    assert data_of(patch(as_alice, inside, {"content": "inside, edited"}))["content"] == "inside, edited"
    outside = sent_ago(send(alice, bob, "outside"), 61)
    assert "60 seconds" in assert_failure(patch(as_alice, outside, {"content": "too late"}), 403)["message"]
    assert Message.objects.get(pk=outside.pk).content == "outside"


def test_window_off_refuses_every_edit(as_alice: APIClient, alice: User, bob: User, settings: Any) -> None:
    settings.MESSAGE_EDIT_WINDOW_SECONDS = 0
    message = send(alice, bob, "fresh")
    assert_failure(patch(as_alice, message, {"content": "no"}), 403)
    assert Message.objects.get(pk=message.pk).edited_at is None


def test_window_unlimited_allows_an_edit_years_later(
    as_alice: APIClient, alice: User, bob: User, settings: Any
) -> None:
    settings.MESSAGE_EDIT_WINDOW_SECONDS = None
    message = sent_ago(send(alice, bob, "old"), 3 * 365 * 86400)
    assert data_of(patch(as_alice, message, {"content": "old, fixed"}))["content"] == "old, fixed"


# --- what an edit changes, and what it does not ----------------------------------------------------


def conversation(message: Message) -> Conversation:
    return Conversation.objects.get(pk=message.conversation_id)


def test_editing_the_newest_message_updates_the_preview_only(
    as_alice: APIClient, as_bob: APIClient, alice: User, bob: User
) -> None:
    send(alice, bob, "older")
    newest = send(alice, bob, "newest")
    before = conversation(newest)
    unread_before = data_of(as_bob.get(UNREAD_COUNT))
    data_of(patch(as_alice, newest, {"content": "newest, edited"}))
    after = conversation(newest)
    assert after.last_message == "newest, edited"
    assert (after.last_message_at, after.last_seq) == (before.last_message_at, before.last_seq)
    assert Message.objects.get(pk=newest.pk).seq == newest.seq
    assert data_of(as_bob.get(UNREAD_COUNT)) == unread_before == {"unreadCount": 2}
    listed = data_of(as_bob.get(CONVERSATIONS))["conversations"][0]
    assert listed["last_message"] == "newest, edited"


def test_editing_an_older_message_leaves_the_preview(as_alice: APIClient, alice: User, bob: User) -> None:
    older = send(alice, bob, "older")
    send(bob, alice, "newest")
    data_of(patch(as_alice, older, {"content": "older, edited"}))
    assert conversation(older).last_message == "newest"


def test_the_preview_of_a_long_edit_is_cut_to_255(as_alice: APIClient, alice: User, bob: User) -> None:
    message = send(alice, bob, "short")
    data_of(patch(as_alice, message, {"content": "z" * 300}))
    assert conversation(message).last_message == "z" * 255


def test_search_finds_the_current_text_only(as_alice: APIClient, alice: User, bob: User) -> None:
    message = send(alice, bob, "meet at the aardvark")
    data_of(patch(as_alice, message, {"content": "meet at the bandicoot"}))
    url = search_url(message.conversation_id)
    assert data_of(as_alice.get(url, {"q": "aardvark"}))["messages"] == []
    assert [m["id"] for m in data_of(as_alice.get(url, {"q": "bandicoot"}))["messages"]] == [message.pk]


# --- reactions -----------------------------------------------------------------------------------


def reaction_url(message: Message | int, emoji: str) -> str:
    message_id = message if isinstance(message, int) else message.pk
    return f"{message_url(message_id)}/reactions/{quote(emoji, safe='')}"


def react(api: APIClient, message: Message | int, emoji: str) -> Any:
    return api.put(reaction_url(message, emoji))


def unreact(api: APIClient, message: Message | int, emoji: str) -> Any:
    return api.delete(reaction_url(message, emoji))


def test_reactions_are_counted_per_emoji_with_who_in_order_of_first_use(
    as_alice: APIClient, as_bob: APIClient, alice: User, bob: User
) -> None:
    message = send(alice, bob, "party?")
    assert data_of(react(as_bob, message, "👍")) == {
        "message_id": message.pk,
        "reactions": [{"emoji": "👍", "count": 1, "userIds": [bob.pk]}],
    }
    data_of(react(as_alice, message, "🎉"))
    after = data_of(react(as_alice, message, "👍"))["reactions"]
    assert after == [
        {"emoji": "👍", "count": 2, "userIds": [bob.pk, alice.pk]},
        {"emoji": "🎉", "count": 1, "userIds": [alice.pk]},
    ]
    listed = data_of(as_alice.get(f"/api/chat/conversations/{message.conversation_id}/messages"))["messages"]
    assert listed[0]["reactions"] == after


def test_reacting_twice_is_one_reaction_and_one_event(
    as_bob: APIClient, alice: User, bob: User, django_capture_on_commit_callbacks: Any
) -> None:
    message = send(alice, bob, "hi")
    with django_capture_on_commit_callbacks() as published:
        first = data_of(react(as_bob, message, "❤️"))
        again = data_of(react(as_bob, message, "❤️"))
    assert first == again and Reaction.objects.count() == 1 and len(published) == 1


def test_removing_is_idempotent_and_publishes_only_a_removal(
    as_bob: APIClient, alice: User, bob: User, django_capture_on_commit_callbacks: Any
) -> None:
    message = send(alice, bob, "hi")
    data_of(react(as_bob, message, "👍"))
    with django_capture_on_commit_callbacks() as published:
        assert data_of(unreact(as_bob, message, "👍"))["reactions"] == []
        assert data_of(unreact(as_bob, message, "👍"))["reactions"] == []
        assert data_of(unreact(as_bob, message, "🙈"))["reactions"] == []
    assert len(published) == 1 and not Reaction.objects.exists()


def test_a_removed_and_readded_emoji_moves_to_the_end(as_bob: APIClient, alice: User, bob: User) -> None:
    message = send(alice, bob, "hi")
    for emoji in ("👍", "😂"):
        data_of(react(as_bob, message, emoji))
    data_of(unreact(as_bob, message, "👍"))
    assert [r["emoji"] for r in data_of(react(as_bob, message, "👍"))["reactions"]] == ["😂", "👍"]


def test_an_outsider_gets_404_and_changes_nothing(
    client_for: Callable[[User], APIClient], as_bob: APIClient, alice: User, bob: User, carol: User
) -> None:
    message = send(alice, bob, "private")
    data_of(react(as_bob, message, "👍"))
    as_carol = client_for(carol)
    for response in (react(as_carol, message, "👍"), unreact(as_carol, message, "👍"), react(as_carol, 10**9, "👍")):
        assert "private" not in str(assert_failure(response, 404))
    assert list(Reaction.objects.values_list("user_id", flat=True)) == [bob.pk]


def test_a_deleted_message_takes_no_reactions(as_alice: APIClient, alice: User, bob: User) -> None:
    message = send(alice, bob, "gone")
    data_of(as_alice.delete(message_url(message.pk)))
    assert_failure(react(as_alice, message, "👍"), 404)
    assert_failure(unreact(as_alice, message, "👍"), 404)


@pytest.mark.parametrize(
    "emoji",
    [
        "👍",
        "👍🏽",  # a skin tone modifier
        "👨\u200d👩\u200d👧",  # a ZWJ family
        "🏳️\u200d🌈",  # a ZWJ flag
        "🇫🇷",  # a regional indicator pair
        "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",  # a tag sequence (England)
        "#️⃣",  # a keycap
        "❤️",
    ],
)
def test_any_single_emoji_is_accepted(as_bob: APIClient, alice: User, bob: User, emoji: str) -> None:
    message = send(alice, bob, "hi")
    assert data_of(react(as_bob, message, emoji))["reactions"] == [{"emoji": emoji, "count": 1, "userIds": [bob.pk]}]


def test_an_emoji_without_its_presentation_selector_counts_as_the_same_one(
    as_alice: APIClient, as_bob: APIClient, alice: User, bob: User
) -> None:
    message = send(alice, bob, "hi")
    data_of(react(as_alice, message, "❤️"))
    reactions = data_of(react(as_bob, message, "❤"))["reactions"]  # U+2764 alone
    assert reactions == [{"emoji": "❤️", "count": 2, "userIds": [alice.pk, bob.pk]}]
    assert data_of(unreact(as_bob, message, "❤"))["reactions"][0]["count"] == 1


@pytest.mark.parametrize(
    "segment",
    [
        "a",
        "ok",
        "%F0%9F%91%8D%F0%9F%91%8D",  # two emoji
        "%F0%9F%91%8Da",  # an emoji and a letter
        "%E2%98%85",  # ★, a symbol that is not an emoji
        "%E2%86%92",  # →
        "%F0%9F%8F%BD",  # a skin tone modifier alone
        "%F0%9F%87%AB",  # one regional indicator
        "%ED%A0%80",  # a lone surrogate, as UTF-8 would spell it
        "%FF",  # not UTF-8
        "%20",
        "%00",
        "1",
        "%F0%9F%91%8D" * 20,
    ],
)
def test_anything_but_one_emoji_is_a_400(as_bob: APIClient, alice: User, bob: User, segment: str) -> None:
    message = send(alice, bob, "hi")
    for method in ("put", "delete"):
        response = getattr(as_bob, method)(f"{message_url(message.pk)}/reactions/{segment}")
        assert "emoji" in assert_failure(response, 400)["errors"], segment
    assert not Reaction.objects.exists()


def test_at_most_twenty_distinct_reactions_per_message(
    as_alice: APIClient, as_bob: APIClient, alice: User, bob: User
) -> None:
    message = send(alice, bob, "react to me")
    twenty = [chr(0x1F600 + i) for i in range(20)]  # 😀 ... 😓
    for i, emoji in enumerate(twenty):
        data_of(react(as_alice if i % 2 else as_bob, message, emoji))
    body = assert_failure(react(as_bob, message, "🐙"), 400)
    assert "20" in body["errors"]["emoji"][0]
    assert data_of(react(as_alice, message, twenty[0]))["reactions"][0]["count"] == 2  # an existing one still may
    assert Reaction.objects.filter(message=message).values("emoji").distinct().count() == 20
    data_of(unreact(as_bob, message, twenty[0]))
    data_of(unreact(as_alice, message, twenty[0]))
    assert len(data_of(react(as_bob, message, "🐙"))["reactions"]) == 20


def test_every_message_shape_carries_reactions(as_alice: APIClient, as_bob: APIClient, alice: User, bob: User) -> None:
    message = send(alice, bob, "findable")
    data_of(react(as_bob, message, "👀"))
    expected = [{"emoji": "👀", "count": 1, "userIds": [bob.pk]}]
    cid = message.conversation_id
    assert (
        data_of(as_alice.get(f"/api/chat/conversations/{cid}/messages", {"after": 0}))["messages"][0]["reactions"]
        == expected
    )
    assert data_of(as_alice.get(search_url(cid), {"q": "findable"}))["messages"][0]["reactions"] == expected
    assert data_of(patch(as_alice, message, {"content": "findable!"}))["reactions"] == expected
    sent = data_of(as_alice.post("/api/chat/send", {"receiverId": bob.pk, "content": "new"}, format="json"), 201)
    assert sent["reactions"] == []


# --- replies -------------------------------------------------------------------------------------


def post_send(api: APIClient, receiver: User, content: str, **fields: Any) -> Any:
    return api.post("/api/chat/send", {"receiverId": receiver.pk, "content": content, **fields}, format="json")


def test_a_reply_quotes_its_parent_in_every_shape(
    as_alice: APIClient, as_bob: APIClient, alice: User, bob: User
) -> None:
    parent = send(alice, bob, "p" * 250)
    reply = data_of(post_send(as_bob, alice, "agreed", replyToId=parent.pk), 201)
    quote = {"id": parent.pk, "sender_id": alice.pk, "content": "p" * 200, "deleted": False}
    assert (reply["reply_to_id"], reply["reply_to"]) == (parent.pk, quote)
    listed = data_of(as_alice.get(f"/api/chat/conversations/{parent.conversation_id}/messages"))["messages"]
    assert [(m["reply_to_id"], m["reply_to"]) for m in listed] == [(None, None), (parent.pk, quote)]
    found = data_of(as_alice.get(search_url(parent.conversation_id), {"q": "agreed"}))["messages"]
    assert found[0]["reply_to"] == quote
    assert data_of(patch(as_bob, reply["id"], {"content": "agreed!"}))["reply_to"] == quote


def test_a_deleted_parent_leaves_its_replies_showing_deleted_and_no_text(
    as_alice: APIClient, as_bob: APIClient, alice: User, bob: User
) -> None:
    parent = send(alice, bob, "soon gone")
    reply = send(bob, alice, "what was that?", reply_to_id=parent.pk)
    data_of(as_alice.delete(message_url(parent.pk)))
    listed = data_of(as_bob.get(f"/api/chat/conversations/{parent.conversation_id}/messages"))["messages"]
    assert [(m["id"], m["reply_to"]) for m in listed] == [
        (reply.pk, {"id": parent.pk, "sender_id": alice.pk, "content": None, "deleted": True})
    ]
    assert "soon gone" not in str(listed)


def test_a_retried_reply_answers_the_same_quote(as_bob: APIClient, alice: User, bob: User) -> None:
    parent = send(alice, bob, "question")
    first = data_of(post_send(as_bob, alice, "answer", replyToId=parent.pk, clientMessageId="r-1"), 201)
    again = data_of(post_send(as_bob, alice, "answer", replyToId=parent.pk, clientMessageId="r-1"), 200)
    assert again == first


@pytest.mark.parametrize("case", ["other-conversation", "deleted", "absent", "string", "zero", "boolean"])
def test_a_reply_to_anything_but_a_visible_message_of_this_conversation_is_a_400(
    as_bob: APIClient, alice: User, bob: User, carol: User, case: str
) -> None:
    elsewhere = send(carol, bob, "carol and bob")  # bob can see it, but it is not his chat with alice
    gone = send(alice, bob, "deleted one")
    Message.objects.filter(pk=gone.pk).update(deleted_at=timezone.now())
    value: Any = {
        "other-conversation": elsewhere.pk,
        "deleted": gone.pk,
        "absent": gone.pk + 1000,
        "string": str(elsewhere.pk),
        "zero": 0,
        "boolean": True,
    }[case]
    before = Message.all_objects.count()
    body = assert_failure(post_send(as_bob, alice, "reply", replyToId=value), 400)
    assert "replyToId" in body["errors"]
    assert Message.all_objects.count() == before


def test_an_outsiders_message_cannot_be_quoted(
    client_for: Callable[[User], APIClient], alice: User, bob: User, carol: User
) -> None:
    secret = send(alice, bob, "alice and bob only")
    body = assert_failure(post_send(client_for(carol), alice, "quoting", replyToId=secret.pk), 400)
    assert "alice and bob only" not in str(body)
    assert not Message.objects.filter(sender=carol).exists()


def test_a_first_message_cannot_reply(as_alice: APIClient, alice: User, bob: User, carol: User) -> None:
    unrelated = send(bob, carol, "bob and carol")
    assert "replyToId" in assert_failure(post_send(as_alice, carol, "hi", replyToId=unrelated.pk), 400)["errors"]
    assert (
        not Conversation.objects.filter(participant_1=alice).exists()
        and not Conversation.objects.filter(participant_2=alice).exists()
    )


def test_replies_never_change_the_parent(as_bob: APIClient, alice: User, bob: User) -> None:
    parent = send(alice, bob, "parent")
    data_of(post_send(as_bob, alice, "reply", replyToId=parent.pk), 201)
    assert Message.objects.get(pk=parent.pk).content == "parent"
    assert data_of(as_bob.get(history_url(parent.pk)))["versions"] == [
        {"content": "parent", "at": iso(parent.created_at)}
    ]


# --- search everywhere -----------------------------------------------------------------------------

EVERYWHERE = "/api/chat/search"


def test_search_everywhere_spans_conversations_newest_first_with_a_cursor(
    as_alice: APIClient, alice: User, bob: User, carol: User, make_user: Callable[..., User]
) -> None:
    dave = make_user("dave")
    hits = [
        send(alice, bob, "needle one"),
        send(carol, alice, "a NEEDLE two"),
        send(alice, bob, "no match here"),
        send(bob, alice, "needles three"),
        send(alice, carol, "four needle"),
    ]
    send(bob, carol, "needle of others")  # not alice's conversation
    send(dave, bob, "needle of others too")
    expected = [m.pk for m in reversed(hits) if "needle" in m.content.lower()]
    first = data_of(as_alice.get(EVERYWHERE, {"q": "needle", "limit": "3"}))
    assert [m["id"] for m in first["messages"]] == expected[:3] and first["hasMore"] is True
    assert first["limit"] == 3
    rest = data_of(as_alice.get(EVERYWHERE, {"q": "needle", "limit": "3", "before": str(expected[2])}))
    assert [m["id"] for m in rest["messages"]] == expected[3:] and rest["hasMore"] is False
    assert "others" not in str(first) + str(rest)
    assert {m["conversation_id"] for m in first["messages"] + rest["messages"]} == {
        hits[0].conversation_id,
        hits[1].conversation_id,
    }


def test_search_everywhere_never_shows_another_persons_conversation(
    client_for: Callable[[User], APIClient], alice: User, bob: User, carol: User
) -> None:
    send(alice, bob, "the launch codes")
    assert data_of(client_for(carol).get(EVERYWHERE, {"q": "launch"})) == {
        "messages": [],
        "limit": 50,
        "hasMore": False,
    }


def test_search_everywhere_skips_deleted_and_sees_only_the_current_text(
    as_alice: APIClient, alice: User, bob: User
) -> None:
    gone = send(alice, bob, "walrus deleted")
    data_of(as_alice.delete(message_url(gone.pk)))
    edited = send(alice, bob, "walrus before")
    data_of(patch(as_alice, edited, {"content": "seal after"}))
    assert data_of(as_alice.get(EVERYWHERE, {"q": "walrus"}))["messages"] == []
    found = data_of(as_alice.get(EVERYWHERE, {"q": "SEAL"}))["messages"]
    assert [(m["id"], m["content"]) for m in found] == [(edited.pk, "seal after")]


def test_search_everywhere_matches_percent_and_underscore_literally(
    as_alice: APIClient, alice: User, bob: User
) -> None:
    send(alice, bob, "100% sure")
    send(alice, bob, "1000 sure")
    assert [m["content"] for m in data_of(as_alice.get(EVERYWHERE, {"q": "100%"}))["messages"]] == ["100% sure"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"q": "nul\x00"}, "q"),
        ({"q": "a", "before": "0"}, "before"),
        ({"q": "a", "before": "abc"}, "before"),
        ({"q": "a", "after": "1"}, "after"),
        ({"q": "a", "page": "1"}, "page"),
        ({"q": "a", "limit": "101"}, "limit"),
        ({"q": "a", "limit": "0"}, "limit"),
    ],
)
def test_bad_search_everywhere_queries_are_400(
    as_alice: APIClient, alice: User, bob: User, params: dict[str, str], field: str
) -> None:
    send(alice, bob, "a message")
    assert field in assert_failure(as_alice.get(EVERYWHERE, params), 400)["errors"]


def test_a_search_term_of_200_characters_after_trimming_is_accepted(
    as_alice: APIClient, alice: User, bob: User
) -> None:
    send(alice, bob, "y" * 200)
    found = data_of(as_alice.get(EVERYWHERE, {"q": "  " + "y" * 200 + "  "}))["messages"]
    assert len(found) == 1
