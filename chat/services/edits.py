"""Editing a message: its sender only, within MESSAGE_EDIT_WINDOW_SECONDS, every earlier text kept.

The earlier text goes to a MessageVersion in the same transaction as the new one is written, under
the conversation's row lock (which a delete takes too), so an edit never races a delete or another
edit into a lost version. Editing the conversation's newest message updates its preview; seq,
unread counts and last_message_at stay as they were. `message_edited` leaves after commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from chat import events
from chat.access import message_of_participant
from chat.models import Conversation, Message, MessageVersion
from chat.services.storage import message_preview
from chat.validation import EditRequest
from core.errors import Forbidden, NotFound


@dataclass(frozen=True)
class EditResult:
    message: Message  # sender, receiver and reply_to loaded
    changed: bool  # False when the text was already this: nothing stored, nothing published


def _check_window(message: Message, now: datetime) -> None:
    window: int | None = settings.MESSAGE_EDIT_WINDOW_SECONDS
    if window == 0:
        raise Forbidden("Editing messages is turned off on this server.")
    if window is not None and now > message.created_at + timedelta(seconds=window):
        raise Forbidden(f"A message can be edited only within {window} seconds of sending it.")


def edit_message(*, user: User, request: EditRequest) -> EditResult:
    """Replace a message's text; the sender only (403), a deleted or unseen message is a 404."""
    message = message_of_participant(user, request.message_id)
    if message.sender_id != user.pk:
        raise Forbidden("Only the sender may edit a message.")
    now = timezone.now()
    _check_window(message, now)
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=message.conversation_id)
        # Re-read under the lock: a delete or another edit may have committed since.
        current = Message.objects.select_related("sender", "receiver", "reply_to").filter(pk=message.pk).first()
        if current is None:
            raise NotFound("No such message.")
        if current.content == request.content:
            return EditResult(current, changed=False)
        MessageVersion.objects.create(
            message=current, content=current.content, at=current.edited_at or current.created_at
        )
        current.content, current.edited_at = request.content, now
        current.save(update_fields=["content", "edited_at", "updated_at"])
        newest = Message.objects.filter(conversation_id=conversation.pk).order_by("-id").values_list("pk", flat=True)
        if newest.first() == current.pk:
            conversation.last_message = message_preview(current)
            conversation.save(update_fields=["last_message", "updated_at"])
        events.message_edited(current)
    return EditResult(current, changed=True)
