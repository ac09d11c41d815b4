"""The offline variant of an event's sender is the event built with nobody online (chat.payloads)."""

from __future__ import annotations

from collections.abc import Callable

from django.utils import timezone

from accounts.models import User
from chat import payloads
from tests.support.api import send


def test_shown_offline_is_the_payload_built_with_nobody_online(make_user: Callable[..., User]) -> None:
    alice, bob = make_user(last_seen_at=timezone.now()), make_user()
    parent = send(bob, alice, "the question")
    message = send(alice, bob, "an answer", reply_to_id=parent.pk)
    online = {alice.pk}

    shown = payloads.new_message(message, online)
    assert shown["sender"]["is_online"] is True
    assert payloads.shown_offline(shown, "sender") == payloads.new_message(message, set())
    assert shown["sender"]["is_online"] is True  # the online one is left as it was

    notice = payloads.message_notification(message, online)
    assert payloads.shown_offline(notice, "from") == payloads.message_notification(message, set())
    assert notice["from"]["is_online"] is True
