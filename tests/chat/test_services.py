"""chat.services publishes only after commit, and only for writes that happened; moderation
(the admin's soft-delete and restore) keeps the same rules as a sender's delete.

The publisher is replaced by a recorder of what chat.events hands it: what is under test is
when and whether the services publish, not how the layer delivers (the consumer tests cover that).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from accounts.models import User
from chat import events
from chat.models import Block, Conversation, Message
from chat.selectors.people import partner_ids, socket_owners
from chat.services.conversations import mark_read
from chat.services.messages import delete_message
from chat.services.moderation import moderate_messages
from core.errors import Forbidden
from tests.support.api import send

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rate_limit")]

Published = list[tuple[list[str], str, dict[str, Any]]]


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Published:
    sent: Published = []

    def record(items: list[Any], event: str) -> None:
        sent.extend((list(item.groups), item.message["event"], item.message["data"]) for item in items)

    monkeypatch.setattr(events, "_send", record)
    return sent


def names(sent: Published) -> list[str]:
    return [event for _, event, _ in sent]


def test_send_publishes_nothing_before_commit(
    alice: User, bob: User, published: Published, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        send(alice, bob)
    assert published == []
    assert len(callbacks) == 1


def test_send_publishes_new_message_to_the_room_and_a_notification_after_commit(
    alice: User, bob: User, published: Published, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        message = send(alice, bob, "hi")
    assert published[0][:2] == ([f"conv.{message.conversation_id}"], "new_message")
    assert published[0][2]["content"] == "hi"
    assert published[1][:2] == ([f"user.{bob.pk}"], "message_notification")


def test_a_rolled_back_send_publishes_nothing(
    alice: User, bob: User, published: Published, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        send(alice, bob)
        transaction.set_rollback(True)
    assert published == []
    assert not Message.objects.exists()


def test_a_retried_client_message_id_publishes_nothing(
    alice: User, bob: User, published: Published, django_capture_on_commit_callbacks: Any
) -> None:
    send(alice, bob, client_message_id="once")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        send(alice, bob, client_message_id="once")
    assert (callbacks, published) == ([], [])


def test_mark_read_publishes_messages_read_up_to_the_newest_message(
    alice: User, bob: User, published: Published, django_capture_on_commit_callbacks: Any
) -> None:
    send(alice, bob)
    newest = send(alice, bob)
    with django_capture_on_commit_callbacks(execute=True):
        mark_read(user=bob, conversation_id=newest.conversation_id)
    assert names(published) == ["messages_read", "messages_read"]
    groups = [g for g, _, _ in published]
    assert groups == [[f"conv.{newest.conversation_id}"], [f"user.{alice.pk}"]]
    assert published[0][2]["upToMessageId"] == newest.pk
    assert published[0][2]["userId"] == bob.pk


def test_mark_read_with_nothing_unread_publishes_nothing(
    alice: User, bob: User, published: Published, django_capture_on_commit_callbacks: Any
) -> None:
    message = send(alice, bob)
    with django_capture_on_commit_callbacks(execute=True):
        mark_read(user=alice, conversation_id=message.conversation_id)  # alice has nothing unread here
    assert published == []


def test_delete_publishes_message_deleted_to_the_room_and_both_participants(
    alice: User, bob: User, published: Published, django_capture_on_commit_callbacks: Any
) -> None:
    message = send(alice, bob)
    with django_capture_on_commit_callbacks(execute=True):
        delete_message(user=alice, message_id=message.pk)
    assert published == [
        (
            [f"conv.{message.conversation_id}"],
            "message_deleted",
            {"id": message.pk, "conversationId": message.conversation_id},
        ),
        (
            [f"user.{alice.pk}", f"user.{bob.pk}"],
            "message_deleted",
            {"id": message.pk, "conversationId": message.conversation_id},
        ),
    ]


def test_a_refused_delete_publishes_nothing(
    alice: User, bob: User, published: Published, django_capture_on_commit_callbacks: Any
) -> None:
    message = send(alice, bob)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Forbidden):
        delete_message(user=bob, message_id=message.pk)
    assert published == []


# --- moderation ------------------------------------------------------------------------------


def test_moderation_delete_publishes_message_deleted_like_a_sender_delete(
    alice: User, bob: User, published: Published, django_capture_on_commit_callbacks: Any
) -> None:
    message = send(alice, bob)
    with django_capture_on_commit_callbacks(execute=True):
        moderate_messages(message_ids=[message.pk], deleted=True)
    assert names(published) == ["message_deleted", "message_deleted"]


def test_moderation_restore_publishes_nothing(
    alice: User, bob: User, published: Published, django_capture_on_commit_callbacks: Any
) -> None:
    message = send(alice, bob)
    delete_message(user=alice, message_id=message.pk)
    with django_capture_on_commit_callbacks(execute=True):
        moderate_messages(message_ids=[message.pk], deleted=False)
    assert published == []


def test_moderation_counts_only_messages_that_change_state(alice: User, bob: User) -> None:
    visible = send(alice, bob)
    deleted = send(alice, bob)
    delete_message(user=alice, message_id=deleted.pk)
    assert moderate_messages(message_ids=[visible.pk, deleted.pk], deleted=True) == 1
    assert moderate_messages(message_ids=[visible.pk, deleted.pk], deleted=False) == 2
    assert moderate_messages(message_ids=[visible.pk, deleted.pk], deleted=False) == 0


def test_restoring_every_deleted_message_restores_the_preview(alice: User, bob: User) -> None:
    only = send(alice, bob, "only words")
    delete_message(user=alice, message_id=only.pk)
    moderate_messages(message_ids=[only.pk], deleted=False)
    conversation = Conversation.objects.get()
    assert (conversation.last_message, conversation.last_message_at) == ("only words", only.created_at)


def test_partner_ids_are_everyone_sharing_a_conversation_either_side(
    alice: User, bob: User, carol: User, make_user: Any
) -> None:
    stranger = make_user("stranger")
    send(alice, bob)  # alice first or second in the pair, whichever ids give
    send(carol, alice)
    send(bob, stranger)
    assert sorted(partner_ids(alice.pk)) == sorted([bob.pk, carol.pk])
    assert sorted(partner_ids(bob.pk)) == sorted([alice.pk, stranger.pk])
    assert partner_ids(make_user("loner").pk) == []


def test_socket_owners_are_the_user_rows_with_blocks_either_way_and_partners_in_one_statement(
    alice: User, bob: User, carol: User, make_user: Any, django_assert_num_queries: Any
) -> None:
    dave, erin, loner = make_user("dave"), make_user("erin"), make_user("loner")
    send(alice, bob)
    send(carol, alice)
    send(alice, dave)
    Block.objects.create(blocker=alice, blocked=dave)  # alice blocks dave: no presence between them
    Block.objects.create(blocker=erin, blocked=alice)  # erin blocks alice, who shares nothing with her
    with django_assert_num_queries(1):
        owners = socket_owners([alice.pk, bob.pk, dave.pk, loner.pk, 10**12, alice.pk])
    assert set(owners) == {alice.pk, bob.pk, dave.pk, loner.pk}  # no row for an id that names no one
    owner = owners[alice.pk]
    assert owner.blocked == {dave.pk, erin.pk}
    assert sorted(owner.partners) == sorted(partner_ids(alice.pk)) == sorted([bob.pk, carol.pk])
    # Each row gets its own lists, not its neighbours' in the statement.
    assert (owners[bob.pk].blocked, owners[bob.pk].partners) == (frozenset(), [alice.pk])
    assert (owners[dave.pk].blocked, owners[dave.pk].partners) == (frozenset({alice.pk}), [])
    assert (owners[loner.pk].blocked, owners[loner.pk].partners) == (frozenset(), [])
    fresh = User.objects.get(pk=alice.pk)
    assert [getattr(owner.user, f.attname) for f in User._meta.concrete_fields] == [
        getattr(fresh, f.attname) for f in User._meta.concrete_fields
    ]
    assert socket_owners([10**12, 0, -1]) == {}
