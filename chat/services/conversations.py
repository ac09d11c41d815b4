"""Changes to a conversation's state for one of its participants: reading it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from chat import events
from chat.access import conversation_of_participant
from chat.models import Message


@dataclass(frozen=True)
class ReadResult:
    conversation_id: int
    updated: int
    read_at: datetime
    up_to_message_id: int | None


def mark_read(*, user: User, conversation_id: int) -> ReadResult:
    """Mark every visible message sent to `user` in the conversation as read."""
    conversation = conversation_of_participant(user, conversation_id)
    now = timezone.now()
    with transaction.atomic():
        unread = Message.objects.filter(conversation_id=conversation.pk, receiver=user, is_read=False)
        newest = unread.order_by("-id").values_list("id", flat=True).first()
        updated = 0
        if newest is not None:
            updated = unread.filter(id__lte=newest).update(is_read=True, read_at=now, updated_at=now)
            events.messages_read(conversation.pk, user.pk, conversation.other_participant_id(user.pk), now, newest)
    return ReadResult(conversation.pk, updated, now, newest)
