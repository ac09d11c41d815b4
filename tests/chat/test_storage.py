"""chat.services.storage: both ways of storing a message give the same rows (PostgreSQL runs both).

`store_messages` picks the single statement on PostgreSQL and the portable statements elsewhere;
each is run here directly, so the path production does not take on this database is tested too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from django.forms.models import model_to_dict

from accounts.models import User
from chat.models import Conversation, Message
from chat.services import storage

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(storage_path: None) -> Callable[..., Message]:
    """store_messages of one message, forced onto one path."""

    def send(sender: User, receiver: User, content: str = "hi", client_message_id: str | None = None) -> Message:
        item = storage.NewMessage(
            sender_id=sender.pk, receiver_id=receiver.pk, content=content, client_message_id=client_message_id
        )
        (message,) = storage.store_messages([item], now=NOW)
        return message

    return send


def test_the_first_message_creates_the_conversation_and_later_ones_count_on(
    store: Callable[..., Message], alice: User, bob: User
) -> None:
    first = store(alice, bob, "one")
    second = store(bob, alice, "two")
    conversation = Conversation.objects.get()
    assert (first.seq, second.seq) == (1, 2)
    assert first.conversation_id == second.conversation_id == conversation.pk
    assert (conversation.last_seq, conversation.last_message, conversation.last_message_at) == (2, "two", NOW)
    assert (conversation.participant_1_id, conversation.participant_2_id) == tuple(sorted([alice.pk, bob.pk]))


def test_the_returned_message_is_the_stored_row(store: Callable[..., Message], alice: User, bob: User) -> None:
    message = store(alice, bob, "x" * 300, client_message_id="c-1")
    stored = Message.objects.get(pk=message.pk)
    returned = model_to_dict(message)
    assert returned == model_to_dict(stored)
    assert message.created_at == stored.created_at == NOW
    assert message._state.adding is False  # a later save updates it
    assert Conversation.objects.get().last_message == "x" * 255


def test_a_repeated_client_message_id_stores_nothing(store: Callable[..., Message], alice: User, bob: User) -> None:
    store(alice, bob, client_message_id="same")
    with pytest.raises(storage.StoreConflict):
        store(alice, bob, client_message_id="same")
    assert Message.objects.count() == 1
    assert Conversation.objects.get().last_seq == 1  # the refused insert took no seq


@pytest.fixture
def store_batch(storage_path: None) -> Callable[..., list[Message]]:
    """store_messages of a batch, forced onto one path."""

    def send(*triples: tuple[User, User, str]) -> list[Message]:
        items = [storage.NewMessage(sender_id=s.pk, receiver_id=r.pk, content=c) for s, r, c in triples]
        return storage.store_messages(items, now=NOW)

    return send


def test_a_batch_over_several_conversations_numbers_each_without_gaps(
    store_batch: Callable[..., list[Message]], alice: User, bob: User, carol: User
) -> None:
    store_batch((alice, bob, "before"))
    batch = store_batch((alice, bob, "a1"), (carol, alice, "c1"), (bob, alice, "a2"), (alice, carol, "c2"))
    assert [m.content for m in batch] == ["a1", "c1", "a2", "c2"]  # answered in order
    ab, ac = batch[0].conversation_id, batch[1].conversation_id
    assert ab != ac and batch[2].conversation_id == ab and batch[3].conversation_id == ac
    assert [(m.conversation_id, m.seq) for m in batch] == [(ab, 2), (ac, 1), (ab, 3), (ac, 2)]
    for conversation_id in (ab, ac):
        rows = list(
            Message.objects.filter(conversation_id=conversation_id).order_by("id").values_list("seq", flat=True)
        )
        assert rows == sorted(rows) == list(range(1, len(rows) + 1))  # id order is seq order
    previews = dict(Conversation.objects.values_list("pk", "last_message"))
    assert previews == {ab: "a2", ac: "c2"}
    assert {m.pk: m.seq for m in batch} == dict(
        Message.objects.filter(pk__in=[m.pk for m in batch]).values_list("pk", "seq")
    )


def test_a_conflict_in_a_batch_stores_none_of_that_statement(
    store_batch: Callable[..., list[Message]], alice: User, bob: User
) -> None:
    storage.store_messages(
        [storage.NewMessage(sender_id=alice.pk, receiver_id=bob.pk, content="x", client_message_id="c")], now=NOW
    )
    items = [
        storage.NewMessage(sender_id=bob.pk, receiver_id=alice.pk, content="fine"),
        storage.NewMessage(sender_id=alice.pk, receiver_id=bob.pk, content="again", client_message_id="c"),
    ]
    with pytest.raises(storage.StoreConflict) as raised:
        storage.store_messages(items, now=NOW)
    assert raised.value.stored == [None, None]
    assert Message.objects.count() == 1 and Conversation.objects.get().last_seq == 1
