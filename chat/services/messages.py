"""Sending and deleting messages: every rule checked once, here, for REST and the socket alike."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import User
from chat import events, ratelimit
from chat.access import message_of_participant
from chat.models import Conversation, Message
from chat.services.storage import ordered_pair, refresh_preview, store_message
from chat.validation import SendRequest
from core.errors import Forbidden, Invalid, NotFound


@dataclass(frozen=True)
class SendResult:
    message: Message
    created: bool  # False when a retried clientMessageId returned the first message


@dataclass(frozen=True)
class _SendFacts:
    receiver_active: bool
    existing_id: int | None
    conversation: tuple[int, int] | None  # the participants of the conversationId given


# What the rules of a send need to know, read in one round trip (each a scalar subquery, so a
# missing row reads as NULL).
_FACTS_SQL = f"""
SELECT (SELECT is_active FROM {User._meta.db_table} WHERE id = %s),
       (SELECT id FROM {Message._meta.db_table} WHERE sender_id = %s AND client_message_id = %s),
       (SELECT participant_1_id FROM {Conversation._meta.db_table} WHERE id = %s),
       (SELECT participant_2_id FROM {Conversation._meta.db_table} WHERE id = %s)
"""  # noqa: S608 - table names come from the models; values are parameters


def _facts(sender: User, request: SendRequest) -> _SendFacts:
    with connection.cursor() as cursor:
        cursor.execute(
            _FACTS_SQL,
            [
                request.receiver_id,
                sender.pk,
                request.client_message_id,
                request.conversation_id,
                request.conversation_id,
            ],
        )
        active, existing, p1, p2 = cursor.fetchone()
    return _SendFacts(bool(active), existing, (p1, p2) if p1 is not None else None)


def _first_send(message_id: int | None) -> SendResult | None:
    message = (
        Message.all_objects.select_related("sender", "receiver").filter(pk=message_id).first()
        if message_id is not None
        else None
    )
    return None if message is None else SendResult(message, created=False)


def send_message(*, sender: User, request: SendRequest) -> SendResult:
    """Store a message and publish it after commit.

    A repeated clientMessageId answers the first message (created=False) and stores nothing.
    """
    if request.receiver_id == sender.pk:
        raise Invalid.field("receiverId", "You cannot send a message to yourself.")
    facts = _facts(sender, request)
    retried = _first_send(facts.existing_id)
    if retried is not None:
        return retried
    if not facts.receiver_active:
        raise NotFound("No such user.")
    if request.conversation_id is not None:
        if facts.conversation is None or sender.pk not in facts.conversation:
            raise NotFound("No such conversation.")
        if facts.conversation != ordered_pair(sender.pk, request.receiver_id):
            raise Invalid.field("conversationId", "This conversation is not with receiverId.")
    ratelimit.check_message_rate(sender.pk)
    try:
        message = store_message(
            sender_id=sender.pk,
            receiver_id=request.receiver_id,
            content=request.content,
            attachment_url=request.attachment_url,
            client_message_id=request.client_message_id,
            now=timezone.now(),
        )
    except IntegrityError:
        # A concurrent retry with the same clientMessageId committed first; ours stored nothing.
        existing = Message.all_objects.filter(sender=sender, client_message_id=request.client_message_id)
        retried = _first_send(existing.values_list("pk", flat=True).first())
        if retried is None:
            raise
        return retried
    message.sender = sender
    events.message_created(message)
    return SendResult(message, created=True)


def delete_message(*, user: User, message_id: int) -> Message:
    """Soft-delete a message; only its sender may. The preview falls back to the newest one left."""
    message = message_of_participant(user, message_id)
    if message.sender_id != user.pk:
        raise Forbidden("Only the sender may delete a message.")
    now = timezone.now()
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=message.conversation_id)
        deleted = Message.objects.filter(pk=message.pk).update(deleted_at=now, updated_at=now)
        if not deleted:  # a concurrent delete won
            raise NotFound("No such message.")
        refresh_preview(conversation)
        message.deleted_at = now
        events.message_deleted(message)
    return message
