"""chat.services.storage: both ways of storing a message give the same rows (PostgreSQL runs both).

`store_message` picks the single statement on PostgreSQL and the portable statements elsewhere;
each is run here directly, so the path production does not take on this database is tested too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import IntegrityError, connection
from django.forms.models import model_to_dict

from accounts.models import User
from chat.models import Conversation, Message
from chat.services import storage

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _paths() -> list[Any]:
    paths = [pytest.param(storage._store_portable, id="portable")]
    if connection.vendor == "postgresql":
        paths.append(pytest.param(storage._store_postgresql, id="postgresql"))
    return paths


@pytest.fixture(params=_paths())
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Message]:
    """store_message, forced onto one path."""
    path = request.param
    monkeypatch.setattr(storage, "_store_postgresql", path)
    monkeypatch.setattr(storage, "_store_portable", path)

    def send(sender: User, receiver: User, content: str = "hi", client_message_id: str | None = None) -> Message:
        return storage.store_message(
            sender_id=sender.pk,
            receiver_id=receiver.pk,
            content=content,
            attachment_url=None,
            client_message_id=client_message_id,
            now=NOW,
        )

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
    with pytest.raises(IntegrityError):
        store(alice, bob, client_message_id="same")
    assert Message.objects.count() == 1
    assert Conversation.objects.get().last_seq == 1  # the refused insert took no seq
