"""The factories leave what the app itself stores: hashed passwords, ordered pairs, real seqs and previews."""

from __future__ import annotations

import pytest

from chat.models import Conversation
from tests.support.factories import PASSWORD, ConversationFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_factory_user_has_the_shared_password_hashed_and_a_name_of_its_own() -> None:
    first, second = UserFactory.create(), UserFactory.create(email="Someone@EXAMPLE.com")
    assert first.username != second.username
    assert first.password != PASSWORD and first.check_password(PASSWORD)
    assert second.email == "Someone@example.com"  # create_user's normalisation, as registration does


def test_a_conversation_orders_its_participants_whichever_comes_first() -> None:
    a, b = UserFactory.create(), UserFactory.create()
    conversation = ConversationFactory.create(a=b, b=a)
    assert (conversation.participant_1_id, conversation.participant_2_id) == (a.pk, b.pk)
    assert conversation.last_message_at is not None and conversation.last_seq == 0


def test_messages_are_stored_with_gap_free_seqs_and_the_newest_preview() -> None:
    alice, bob = UserFactory.create(), UserFactory.create()
    first = MessageFactory.create(sender=alice, receiver=bob, content="one")
    second = MessageFactory.create(sender=bob, receiver=alice, content="two")
    assert first.conversation_id == second.conversation_id
    assert (first.seq, second.seq) == (1, 2)
    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert (conversation.last_seq, conversation.last_message) == (2, "two")


def test_a_message_goes_into_an_existing_conversation() -> None:
    conversation = ConversationFactory.create()
    message = MessageFactory.create(sender=conversation.participant_2, receiver=conversation.participant_1)
    assert (message.conversation_id, message.seq) == (conversation.pk, 1)
