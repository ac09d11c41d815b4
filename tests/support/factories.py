"""Model factories (factory_boy): users, conversations and messages as the app itself stores them.

Messages go through `chat.services.storage.store_messages`, the one function that stores
messages, so seq, the conversation row and its preview are what a real send leaves; no rule,
rate limit or event is involved (tests of those send through `tests.support.api.send` or REST).
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from factory.declarations import LazyAttribute, LazyFunction, Sequence, SubFactory
from factory.django import DjangoModelFactory

from accounts.models import User
from chat.models import Conversation, Message
from chat.services.storage import NewMessage, store_messages

PASSWORD = "a-strong-pass-123"  # every factory user's, so a test can log in as any of them


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User

    username = Sequence(lambda n: f"user{n + 1}")
    password = PASSWORD

    @classmethod
    def _create(cls, model_class: type[User], *args: Any, **kwargs: Any) -> User:
        # create_user hashes the password and normalises the email, as registration does.
        return model_class.objects.create_user(*args, **kwargs)


class ConversationFactory(DjangoModelFactory[Conversation]):
    """A conversation with no messages yet between `a` and `b` (new users unless given)."""

    class Meta:
        model = Conversation
        exclude = ("a", "b")

    a = SubFactory(UserFactory)
    b = SubFactory(UserFactory)
    participant_1 = LazyAttribute(lambda o: o.a if o.a.pk < o.b.pk else o.b)
    participant_2 = LazyAttribute(lambda o: o.b if o.a.pk < o.b.pk else o.a)
    # As the storage creates one: a conversation is listed by its latest activity from the start.
    last_message_at = LazyFunction(timezone.now)


class MessageFactory(DjangoModelFactory[Message]):
    """A message from `sender` to `receiver`, stored by `store_messages` (real seq and preview)."""

    class Meta:
        model = Message

    sender = SubFactory(UserFactory)
    receiver = SubFactory(UserFactory)
    content = Sequence(lambda n: f"message {n + 1}")
    attachment_url = None
    client_message_id = None

    @classmethod
    def _create(cls, model_class: type[Message], *args: Any, **kwargs: Any) -> Message:
        item = NewMessage(
            sender_id=kwargs.pop("sender").pk,
            receiver_id=kwargs.pop("receiver").pk,
            content=kwargs.pop("content"),
            attachment_url=kwargs.pop("attachment_url"),
            client_message_id=kwargs.pop("client_message_id"),
        )
        if kwargs or args:
            raise TypeError(f"MessageFactory stores only NewMessage's fields, not {sorted(kwargs)}")
        return store_messages([item], now=timezone.now())[0]
