"""Conversation state and safety over REST: blocks, mute, archive, mark unread, delivery receipts, reports."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.auth import tokens_for
from accounts.models import User
from chat.models import ConversationState, Message, Report
from tests.support.api import (
    CHAT,
    CONVERSATIONS,
    SEND,
    UNREAD,
    UNREAD_COUNT,
    assert_failure,
    data_of,
    message_url,
    messages_url,
    read_url,
    send,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rate_limit")]

BLOCKS = f"{CHAT}/blocks"


def as_user(user: User) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for(user)['access']}")
    return api


def block_url(user: User | int) -> str:
    return f"{BLOCKS}/{user if isinstance(user, int) else user.pk}"


def state_url(conversation_id: int, what: str) -> str:
    return f"{CONVERSATIONS}/{conversation_id}/{what}"


def report_url(message_id: int) -> str:
    return f"{message_url(message_id)}/report"


def listed(api: APIClient, **params: Any) -> dict[int, dict[str, Any]]:
    data = data_of(api.get(CONVERSATIONS, params))
    return {c["id"]: c for c in data["conversations"]}


def post_send(api: APIClient, receiver: User, content: str = "hi") -> Any:
    return api.post(SEND, {"receiverId": receiver.pk, "content": content}, format="json")


# --- Blocks --------------------------------------------------------------------------------


def test_block_is_idempotent_listed_and_undone(as_alice: APIClient, alice: User, bob: User) -> None:
    first = data_of(as_alice.put(block_url(bob)))
    again = data_of(as_alice.put(block_url(bob)))
    assert first["blocked"] is again["blocked"] is True and first["user"]["id"] == bob.pk
    assert [u["id"] for u in data_of(as_alice.get(BLOCKS))["users"]] == [bob.pk]
    assert data_of(as_alice.delete(block_url(bob)))["blocked"] is False
    assert data_of(as_alice.delete(block_url(bob)))["blocked"] is False
    assert data_of(as_alice.get(BLOCKS))["users"] == []


def test_blocking_yourself_is_400_and_nobody_404(as_alice: APIClient, alice: User, make_user: Any) -> None:
    assert assert_failure(as_alice.put(block_url(alice)), 400)["errors"] == {"userId": ["You cannot block yourself."]}
    assert_failure(as_alice.put(block_url(999_999)), 404)
    assert_failure(as_alice.delete(block_url(999_999)), 404)
    gone = make_user("gone", is_active=False)
    assert_failure(as_alice.put(block_url(gone)), 404)


@pytest.mark.parametrize("blocker", ["sender", "receiver"])
def test_sends_either_way_are_403_while_either_blocks(
    client_for: Callable[[User], APIClient], alice: User, bob: User, blocker: str
) -> None:
    as_alice, as_bob = client_for(alice), client_for(bob)
    send(alice, bob, "before")
    data_of((as_alice if blocker == "sender" else as_bob).put(block_url(bob if blocker == "sender" else alice)))
    for api, receiver in ((as_alice, bob), (as_bob, alice)):
        body = assert_failure(post_send(api, receiver), 403)
        assert body["message"] == "You cannot message this user."
    assert Message.objects.count() == 1


def test_unblocking_leaves_the_pair_blocked_while_the_other_still_blocks(
    as_alice: APIClient, as_bob: APIClient, alice: User, bob: User
) -> None:
    data_of(as_alice.put(block_url(bob)))
    data_of(as_bob.put(block_url(alice)))
    data_of(as_alice.delete(block_url(bob)))
    assert_failure(post_send(as_alice, bob), 403)
    data_of(as_bob.delete(block_url(alice)))
    data_of(post_send(as_alice, bob), 201)


def test_blocked_pair_see_each_other_offline_and_history_stays_readable(
    as_alice: APIClient, as_bob: APIClient, alice: User, bob: User, carol: User
) -> None:
    from accounts.presence import user_key
    from core import store

    seen = timezone.now() - timedelta(minutes=5)
    User.objects.filter(pk__in=[alice.pk, bob.pk, carol.pk]).update(last_seen_at=seen)
    for user in (alice, bob, carol):
        store.shared().add(user_key(user.pk), f"socket-{user.pk}", 60)
    message = send(alice, bob, "history")
    send(carol, bob, "carol here")
    data_of(as_alice.put(block_url(bob)))

    for api, other in ((as_bob, alice), (as_alice, bob)):
        conversation = listed(api)[message.conversation_id]
        assert conversation["blocked"] is True
        people = {conversation["participant1"]["id"]: conversation["participant1"]}
        people[conversation["participant2"]["id"]] = conversation["participant2"]
        assert (people[other.pk]["is_online"], people[other.pk]["last_seen_at"]) == (False, None)
        history = data_of(api.get(messages_url(message.conversation_id)))["messages"]
        assert [m["content"] for m in history] == ["history"]
        assert (history[0]["sender"]["is_online"], history[0]["receiver"]["is_online"]) in {
            (False, True),
            (True, False),
        }
        found = data_of(api.get("/api/auth/users", {"search": other.username}))["users"]
        assert (found[0]["is_online"], found[0]["last_seen_at"]) == (False, None)
    # Someone else still sees both as they are, and bob still sees carol.
    bob_for_carol = data_of(as_user(carol).get("/api/auth/users", {"search": "bob"}))["users"][0]
    assert bob_for_carol["is_online"] is True and bob_for_carol["last_seen_at"] is not None
    carol_row = next(c for c in listed(as_bob).values() if carol.pk in (c["participant_1_id"], c["participant_2_id"]))
    carol_seen = carol_row["participant1"] if carol_row["participant1"]["id"] == carol.pk else carol_row["participant2"]
    assert carol_row["blocked"] is False and carol_seen["is_online"] is True
    assert data_of(as_alice.get(BLOCKS))["users"][0]["is_online"] is False


# --- Mute ----------------------------------------------------------------------------------


def test_mute_until_shows_on_the_conversation_and_unmute_clears_it(as_alice: APIClient, alice: User, bob: User) -> None:
    cid = send(bob, alice).conversation_id
    until = (timezone.now() + timedelta(hours=1)).replace(microsecond=0)
    state = data_of(as_alice.put(state_url(cid, "mute"), {"until": until.isoformat()}, format="json"))
    assert (state["muted"], state["muted_until"]) == (True, until.isoformat().replace("+00:00", "Z"))
    mine = listed(as_alice)[cid]
    assert (mine["muted"], mine["muted_until"]) == (True, state["muted_until"])
    assert listed(as_user(bob))[cid]["muted"] is False  # the other participant never sees it
    assert data_of(as_alice.delete(state_url(cid, "mute")))["muted"] is False
    assert listed(as_alice)[cid]["muted"] is False


def test_mute_without_until_holds_until_unmuted(as_alice: APIClient, alice: User, bob: User) -> None:
    cid = send(bob, alice).conversation_id
    state = data_of(as_alice.put(state_url(cid, "mute"), {}, format="json"))
    assert (state["muted"], state["muted_until"]) == (True, None)
    assert data_of(as_alice.put(state_url(cid, "mute"), {"until": None}, format="json"))["muted"] is True


def test_mute_takes_any_offset_python_parses_and_answers_in_utc(as_alice: APIClient, alice: User, bob: User) -> None:
    """-17:50 parses, but PostgreSQL refuses offsets beyond ±15:59: stored and shown in UTC."""
    cid = send(bob, alice).conversation_id
    state = data_of(as_alice.put(state_url(cid, "mute"), {"until": "2083-01-14T22:58:45-17:50"}, format="json"))
    assert state["muted_until"] == "2083-01-15T16:48:45Z"


@pytest.mark.parametrize(
    "until",
    [
        "yesterday",
        "2020-01-01T00:00:00Z",
        "2999-01-01T00:00:00",
        5,
        "2999-13-45T00:00:00Z",
        "9999-12-31T23:59:00-23:00",
    ],
)
def test_mute_refuses_a_bad_or_past_until(as_alice: APIClient, alice: User, bob: User, until: Any) -> None:
    cid = send(bob, alice).conversation_id
    assert (
        "until" in assert_failure(as_alice.put(state_url(cid, "mute"), {"until": until}, format="json"), 400)["errors"]
    )


def test_mute_lapses_by_itself_at_until(as_alice: APIClient, alice: User, bob: User) -> None:
    """The stored row is left as it was (no job clears it): only the time decides."""
    cid = send(bob, alice).conversation_id
    data_of(
        as_alice.put(
            state_url(cid, "mute"), {"until": (timezone.now() + timedelta(hours=1)).isoformat()}, format="json"
        )
    )
    ConversationState.objects.filter(user=alice).update(muted_until=timezone.now() - timedelta(seconds=1))
    mine = listed(as_alice)[cid]
    assert (mine["muted"], mine["muted_until"]) == (False, None)
    assert ConversationState.objects.get(user=alice).muted is True


# --- Archive -------------------------------------------------------------------------------


def test_archive_moves_a_conversation_out_of_the_default_list(
    as_alice: APIClient, alice: User, bob: User, carol: User
) -> None:
    kept, archived = send(bob, alice).conversation_id, send(carol, alice).conversation_id
    assert data_of(as_alice.put(state_url(archived, "archive")))["archived"] is True
    data_of(as_alice.put(state_url(archived, "archive")))  # idempotent
    default = data_of(as_alice.get(CONVERSATIONS))
    assert [c["id"] for c in default["conversations"]] == [kept] and default["total"] == 1
    only = data_of(as_alice.get(CONVERSATIONS, {"archived": "true"}))
    assert [c["id"] for c in only["conversations"]] == [archived] and only["total"] == 1
    assert only["conversations"][0]["archived"] is True
    assert archived in listed(as_user(carol))  # carol's list is hers
    assert data_of(as_alice.delete(state_url(archived, "archive")))["archived"] is False
    assert set(listed(as_alice)) == {kept, archived}


def test_an_incoming_message_unarchives_and_an_outgoing_one_does_not(
    as_alice: APIClient, alice: User, bob: User
) -> None:
    cid = send(bob, alice).conversation_id
    data_of(as_alice.put(state_url(cid, "archive")))
    data_of(post_send(as_alice, bob, "from me"), 201)
    assert cid not in listed(as_alice)
    data_of(post_send(as_user(bob), alice, "to you"), 201)
    assert listed(as_alice)[cid]["archived"] is False
    assert ConversationState.objects.get(user=alice).archived_at is None


def test_archived_query_parameter_is_validated(as_alice: APIClient) -> None:
    assert "archived" in assert_failure(as_alice.get(CONVERSATIONS, {"archived": "maybe"}), 400)["errors"]


# --- Mark unread ---------------------------------------------------------------------------


def test_mark_unread_counts_for_the_caller_only_and_reading_restores(
    as_alice: APIClient, as_bob: APIClient, alice: User, bob: User
) -> None:
    first, second, third = send(bob, alice, "1"), send(bob, alice, "2"), send(bob, alice, "3")
    send(alice, bob, "mine")
    cid = first.conversation_id
    data_of(as_alice.put(read_url(cid)))
    assert data_of(as_alice.get(UNREAD_COUNT)) == {"unreadCount": 0}

    marked = data_of(as_alice.put(state_url(cid, "unread"), {"fromMessageId": second.pk}, format="json"))
    assert marked == {"updated": 2}
    assert data_of(as_alice.get(UNREAD_COUNT)) == {"unreadCount": 2}
    assert listed(as_alice)[cid]["unread_count"] == 2
    assert [(c["conversation_id"], c["unread_count"]) for c in data_of(as_alice.get(UNREAD))["conversations"]] == [
        (cid, 2)
    ]
    # The sender's read receipts are not taken back, and bob's own counts are untouched.
    assert all(m["is_read"] and m["read_at"] for m in data_of(as_bob.get(messages_url(cid)))["messages"][:3])
    assert Message.objects.filter(pk__in=[second.pk, third.pk], is_read=True).count() == 2
    assert data_of(as_bob.get(UNREAD_COUNT)) == {"unreadCount": 1}

    assert data_of(as_alice.put(read_url(cid))) == {"updated": 0}
    assert data_of(as_alice.get(UNREAD_COUNT)) == {"unreadCount": 0}
    assert listed(as_alice)[cid]["unread_count"] == 0
    assert data_of(as_alice.get(UNREAD))["conversations"] == []


def test_mark_unread_adds_to_messages_not_read_yet_and_skips_deleted(
    as_alice: APIClient, alice: User, bob: User
) -> None:
    first, second = send(bob, alice, "1"), send(bob, alice, "2")
    data_of(as_alice.put(read_url(first.conversation_id)))
    data_of(as_alice.put(state_url(first.conversation_id, "unread"), {"fromMessageId": first.pk}, format="json"))
    send(bob, alice, "3")  # not read: counted once, not twice
    assert data_of(as_alice.get(UNREAD_COUNT)) == {"unreadCount": 3}
    data_of(as_user(bob).delete(message_url(second.pk)))
    assert data_of(as_alice.get(UNREAD_COUNT)) == {"unreadCount": 2}


def test_mark_unread_needs_a_message_of_this_conversation(
    as_alice: APIClient, alice: User, bob: User, carol: User
) -> None:
    mine = send(bob, alice)
    elsewhere = send(carol, alice)
    for body in ({"fromMessageId": elsewhere.pk}, {"fromMessageId": 999_999}, {}, {"fromMessageId": "1"}):
        response = as_alice.put(state_url(mine.conversation_id, "unread"), body, format="json")
        assert "fromMessageId" in assert_failure(response, 400)["errors"], body


# --- Delivery receipts ---------------------------------------------------------------------


def delivered(api: APIClient, cid: int, up_to: int) -> dict[str, Any]:
    return dict(data_of(api.put(state_url(cid, "delivered"), {"upToMessageId": up_to}, format="json")))


def test_delivered_moves_the_pointer_forward_only_and_sets_delivered_at(
    as_alice: APIClient, as_bob: APIClient, alice: User, bob: User
) -> None:
    first, second, third = send(bob, alice, "1"), send(bob, alice, "2"), send(bob, alice, "3")
    cid = first.conversation_id
    moved = delivered(as_alice, cid, second.pk)
    assert moved["up_to_message_id"] == second.pk and moved["delivered_at"]
    assert delivered(as_alice, cid, first.pk) == moved  # never backwards
    history = {m["id"]: m for m in data_of(as_bob.get(messages_url(cid)))["messages"]}
    assert history[first.pk]["delivered_at"] == history[second.pk]["delivered_at"] == moved["delivered_at"]
    assert history[third.pk]["delivered_at"] is None


def test_delivered_never_passes_what_the_receiver_could_have_received(
    as_alice: APIClient, as_bob: APIClient, alice: User, bob: User
) -> None:
    to_alice = send(bob, alice, "to alice")
    from_alice = send(alice, bob, "from alice")
    cid = to_alice.conversation_id
    assert delivered(as_alice, cid, 10**12)["up_to_message_id"] == to_alice.pk
    assert delivered(as_bob, cid, to_alice.pk)["up_to_message_id"] is None  # nothing was sent to bob by then
    later = send(bob, alice, "later")
    assert later.pk > from_alice.pk
    history = {m["id"]: m for m in data_of(as_bob.get(messages_url(cid)))["messages"]}
    assert history[later.pk]["delivered_at"] is None and history[from_alice.pk]["delivered_at"] is None
    assert delivered(as_alice, cid, later.pk)["up_to_message_id"] == later.pk


def test_reading_implies_delivery(as_alice: APIClient, as_bob: APIClient, alice: User, bob: User) -> None:
    message = send(bob, alice)
    data_of(as_alice.put(read_url(message.conversation_id)))
    shown = data_of(as_bob.get(messages_url(message.conversation_id)))["messages"][0]
    assert shown["delivered_at"] == shown["read_at"] is not None


def test_delivered_validates_its_body(as_alice: APIClient, alice: User, bob: User) -> None:
    cid = send(bob, alice).conversation_id
    for body in ({}, {"upToMessageId": 0}, {"upToMessageId": True}, {"upToMessageId": "5"}):
        response = as_alice.put(state_url(cid, "delivered"), body, format="json")
        assert "upToMessageId" in assert_failure(response, 400)["errors"], body


# --- Reports -------------------------------------------------------------------------------


def test_receiver_reports_once_and_a_repeat_answers_the_first(as_alice: APIClient, alice: User, bob: User) -> None:
    message = send(bob, alice, "buy now")
    first = as_alice.post(report_url(message.pk), {"reason": "spam", "note": "again"}, format="json")
    report = data_of(first, 201)
    assert (report["message_id"], report["reason"], report["note"], report["status"]) == (
        message.pk,
        "spam",
        "again",
        "open",
    )
    repeat = data_of(as_alice.post(report_url(message.pk), {"reason": "abuse"}, format="json"), 200)
    assert repeat == report
    assert Report.objects.count() == 1


def test_reporting_your_own_message_is_403_and_an_outsiders_404(
    as_alice: APIClient, as_bob: APIClient, alice: User, bob: User, carol: User
) -> None:
    message = send(bob, alice)
    assert_failure(as_bob.post(report_url(message.pk), {"reason": "spam"}, format="json"), 403)
    assert_failure(as_user(carol).post(report_url(message.pk), {"reason": "spam"}, format="json"), 404)
    data_of(as_bob.delete(message_url(message.pk)))
    assert_failure(as_alice.post(report_url(message.pk), {"reason": "spam"}, format="json"), 404)
    assert not Report.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "reason"), ({"reason": "rude"}, "reason"), ({"reason": "other", "note": "x" * 1001}, "note")],
)
def test_report_body_is_validated(as_alice: APIClient, alice: User, bob: User, body: Any, field: str) -> None:
    message = send(bob, alice)
    assert field in assert_failure(as_alice.post(report_url(message.pk), body, format="json"), 400)["errors"]


# --- Outsiders -----------------------------------------------------------------------------


def test_an_outsider_gets_404_from_every_conversation_state_endpoint(
    client_for: Callable[[User], APIClient], alice: User, bob: User, carol: User
) -> None:
    message = send(alice, bob)
    cid = message.conversation_id
    as_carol = client_for(carol)
    calls = [
        ("put", state_url(cid, "mute"), {"until": None}),
        ("delete", state_url(cid, "mute"), None),
        ("put", state_url(cid, "archive"), None),
        ("delete", state_url(cid, "archive"), None),
        ("put", state_url(cid, "unread"), {"fromMessageId": message.pk}),
        ("put", state_url(cid, "delivered"), {"upToMessageId": message.pk}),
        ("post", report_url(message.pk), {"reason": "spam"}),
    ]
    for method, path, body in calls:
        response = getattr(as_carol, method)(path, body, format="json")
        assert_failure(response, 404)
        assert "hello" not in response.content.decode(), path
    assert not ConversationState.objects.exists() and not Report.objects.exists()


def test_search_everywhere_shows_delivered_at_too(
    as_alice: APIClient, as_bob: APIClient, alice: User, bob: User
) -> None:
    message = send(bob, alice, "needle here")
    moved = delivered(as_alice, message.conversation_id, message.pk)
    (found,) = data_of(as_bob.get(f"{CHAT}/search", {"q": "needle"}))["messages"]
    assert found["delivered_at"] == moved["delivered_at"] is not None
