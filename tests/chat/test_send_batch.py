"""chat.services.messages.send_messages: a batch of sends, each answered as if it came alone."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import User
from chat import events
from chat.models import Conversation, Message
from chat.services.messages import Send, SendResult, send_messages
from chat.validation import SendRequest
from chatproject.env import RateLimit
from core.errors import Invalid, NotFound, RateLimited

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rate_limit")]


def send(sender: User, receiver_id: int, content: str = "hi", **fields: Any) -> Send:
    return Send(sender, SendRequest(receiver_id=receiver_id, content=content, **fields))


def test_each_send_of_a_batch_gets_its_own_answer(alice: User, bob: User, carol: User) -> None:
    (earlier,) = send_messages(sends=[send(alice, bob.pk, "earlier", client_message_id="e")])
    assert isinstance(earlier, SendResult)
    answers = send_messages(
        sends=[
            send(alice, bob.pk, "one", client_message_id="1"),
            send(alice, alice.pk, "to myself"),
            send(bob, 10**9, "to nobody"),
            send(alice, bob.pk, "retried", client_message_id="e"),
            send(carol, alice.pk, "two"),
            send(alice, bob.pk, "one again", client_message_id="1"),
            send(bob, carol.pk, "three", conversation_id=earlier.message.conversation_id),
        ]
    )
    first, self_send, nobody, retried, second, repeated, wrong_conversation = answers
    assert isinstance(first, SendResult) and first.created and first.message.seq == 2
    assert isinstance(self_send, Invalid) and isinstance(nobody, NotFound)
    assert isinstance(retried, SendResult) and not retried.created and retried.message.pk == earlier.message.pk
    assert isinstance(second, SendResult) and second.created and second.message.seq == 1
    assert isinstance(repeated, SendResult) and not repeated.created and repeated.message.pk == first.message.pk
    assert isinstance(wrong_conversation, Invalid)  # bob takes part in it, but it is not with carol
    assert Message.objects.count() == 3
    assert Conversation.objects.get(pk=first.message.conversation_id).last_message == "one"


def test_a_batch_publishes_only_what_it_stored_once_it_committed(
    alice: User, bob: User, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    published: list[str] = []
    monkeypatch.setattr(events, "_send", lambda items, event: published.extend(i.message["event"] for i in items))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        send_messages(sends=[send(alice, bob.pk, "a"), send(alice, alice.pk, "no"), send(bob, alice.pk, "b")])
    assert len(callbacks) == 1  # one round trip for the batch
    assert published == ["new_message", "message_notification"] * 2


def test_the_rate_limit_counts_each_send_of_a_batch(alice: User, bob: User, settings: Any) -> None:
    settings.MESSAGE_RATE_LIMIT = RateLimit(2, 10)
    answers = send_messages(sends=[send(alice, bob.pk, str(i)) for i in range(3)])
    assert [type(a) for a in answers] == [SendResult, SendResult, RateLimited]
    assert Message.objects.count() == 2
