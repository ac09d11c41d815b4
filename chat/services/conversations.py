"""Changes to a conversation's state for one of its participants: reading it, marking it unread,
muting, archiving, and confirming delivery.

Each participant's own state is one ConversationState row (made on the first change); the
other participant never sees it, except delivery, which the sender is told of.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from chat import events
from chat.access import conversation_of_participant, require_participant
from chat.models import Conversation, ConversationState, Message
from core.errors import Invalid


@dataclass(frozen=True)
class ReadResult:
    conversation_id: int
    updated: int
    read_at: datetime
    up_to_message_id: int | None


def mark_read(*, user: User, conversation_id: int) -> ReadResult:
    """Mark every visible message sent to `user` in the conversation as read, and drop the
    caller's unread mark (mark unread), so the conversation counts as read again."""
    conversation = conversation_of_participant(user, conversation_id)
    now = timezone.now()
    with transaction.atomic():
        unread = Message.objects.filter(conversation_id=conversation.pk, receiver=user, is_read=False)
        newest = unread.order_by("-id").values_list("id", flat=True).first()
        updated = 0
        if newest is not None:
            updated = unread.filter(id__lte=newest).update(is_read=True, read_at=now, updated_at=now)
            events.messages_read(conversation.pk, user.pk, conversation.other_participant_id(user.pk), now, newest)
        ConversationState.objects.filter(user=user, conversation=conversation, unread_from_id__isnull=False).update(
            unread_from_id=None
        )
    return ReadResult(conversation.pk, updated, now, newest)


def mark_unread(*, user: User, conversation_id: int, from_message_id: int) -> int:
    """Messages sent to `user` from `from_message_id` on count as unread again, for `user` only:
    their is_read/read_at (the sender's receipts) stay. Returns how many now count as unread."""
    conversation = conversation_of_participant(user, conversation_id)
    if not Message.objects.filter(pk=from_message_id, conversation=conversation).exists():
        raise Invalid.field("fromMessageId", "Must be a message of this conversation.")
    with transaction.atomic():
        ConversationState.objects.update_or_create(
            user=user, conversation=conversation, defaults={"unread_from_id": from_message_id}
        )
        updated = Message.objects.filter(conversation=conversation, receiver=user, id__gte=from_message_id).count()
        events.conversation_unread(user.pk, conversation.pk, from_message_id)
    return updated


def mute(*, user: User, conversation_id: int, until: datetime | None) -> ConversationState:
    """No message_notification for `user` in this conversation until `until` (None: until unmuted)."""
    conversation = conversation_of_participant(user, conversation_id)
    if until is not None and until <= timezone.now():
        raise Invalid.field("until", "Must be in the future (or null: until unmuted).")
    state, _ = ConversationState.objects.update_or_create(
        user=user, conversation=conversation, defaults={"muted": True, "muted_until": until}
    )
    return state


def unmute(*, user: User, conversation_id: int) -> ConversationState:
    conversation = conversation_of_participant(user, conversation_id)
    return _set(user, conversation, muted=False, muted_until=None)


def archive(*, user: User, conversation_id: int) -> ConversationState:
    """Out of `user`'s default conversation list until unarchived or a message comes in
    (chat.services.storage clears it in the send's own statement)."""
    conversation = conversation_of_participant(user, conversation_id)
    with transaction.atomic():
        state, _ = ConversationState.objects.select_for_update().get_or_create(user=user, conversation=conversation)
        if state.archived_at is None:
            state.archived_at = timezone.now()
            state.save(update_fields=["archived_at"])
    return state


def unarchive(*, user: User, conversation_id: int) -> ConversationState:
    conversation = conversation_of_participant(user, conversation_id)
    return _set(user, conversation, archived_at=None)


def _set(user: User, conversation: Conversation, **values: Any) -> ConversationState:
    """Clear a state (unmute, unarchive): with no row yet there is nothing to clear, and none is made."""
    with transaction.atomic():
        state = ConversationState.objects.select_for_update().filter(user=user, conversation=conversation).first()
        if state is None:
            return ConversationState(user=user, conversation=conversation)
        for name, value in values.items():
            setattr(state, name, value)
        state.save(update_fields=list(values))
    return state


# --- Delivery receipts ---------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryMark:
    """`user`'s client has received every message of `conversation` up to `up_to_message_id`."""

    user: User
    conversation: Conversation
    up_to_message_id: int


@dataclass(frozen=True)
class Delivery:
    conversation_id: int
    up_to_message_id: int | None  # the receiver's pointer after the call (None: nothing delivered yet)
    delivered_at: datetime | None


# One statement for a whole batch of marks, on PostgreSQL and SQLite alike: each pointer is
# clamped to the newest message sent to its receiver at or below the id given (it never passes
# what the receiver could have received), and moves only forward (the WHERE of DO UPDATE).
_ADVANCE_SQL = """
WITH marks (user_id, conversation_id, up_to) AS (VALUES {rows}),
clamped AS (
    SELECT marks.user_id, marks.conversation_id,
           (SELECT MAX(m.id) FROM {message} m
             WHERE m.conversation_id = marks.conversation_id AND m.receiver_id = marks.user_id
               AND m.id <= marks.up_to) AS up_to
      FROM marks
)
INSERT INTO {state} (user_id, conversation_id, muted, muted_until, archived_at, unread_from_id,
                     delivered_up_to_id, delivered_at)
SELECT user_id, conversation_id, FALSE, NULL, NULL, NULL, up_to, %s FROM clamped WHERE up_to IS NOT NULL
ON CONFLICT (user_id, conversation_id) DO UPDATE
   SET delivered_up_to_id = excluded.delivered_up_to_id, delivered_at = excluded.delivered_at
 WHERE {state}.delivered_up_to_id IS NULL OR {state}.delivered_up_to_id < excluded.delivered_up_to_id
RETURNING user_id, conversation_id, delivered_up_to_id
"""
_ADVANCE_ROW = "(CAST(%s AS BIGINT), CAST(%s AS BIGINT), CAST(%s AS BIGINT))"


def mark_delivered(*, marks: list[DeliveryMark]) -> list[Delivery]:
    """Move each receiver's delivery pointer forward (REST: one mark; a socket process: the marks
    of a burst, coalesced by chat.ws.receipts); one answer per mark, in order. The sender's
    sockets get messages_delivered for each pointer that moved."""
    for mark in marks:
        require_participant(mark.user, mark.conversation)
    highest: dict[tuple[int, int], int] = {}
    others: dict[tuple[int, int], int] = {}
    for mark in marks:
        key = (mark.user.pk, mark.conversation.pk)
        highest[key] = max(highest.get(key, 0), mark.up_to_message_id)
        others[key] = mark.conversation.other_participant_id(mark.user.pk)
    if not highest:
        return []
    now = timezone.now()
    sql = _ADVANCE_SQL.format(
        rows=", ".join([_ADVANCE_ROW] * len(highest)),
        message=connection.ops.quote_name(Message._meta.db_table),
        state=connection.ops.quote_name(ConversationState._meta.db_table),
    )
    params: list[Any] = [value for (user_id, cid), up_to in highest.items() for value in (user_id, cid, up_to)]
    params.append(connection.ops.adapt_datetimefield_value(now))
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            moved = {(int(u), int(c)): int(up_to) for u, c, up_to in cursor.fetchall()}
        pointers: dict[tuple[int, int], tuple[int | None, datetime | None]] = {k: (v, now) for k, v in moved.items()}
        unmoved = set(highest) - set(moved)
        if unmoved:  # their pointers as they are (a burst's marks usually all move: no query then)
            for state in ConversationState.objects.filter(
                user_id__in={u for u, _ in unmoved}, conversation_id__in={c for _, c in unmoved}
            ):
                pointers[(state.user_id, state.conversation_id)] = (state.delivered_up_to_id, state.delivered_at)
        events.messages_delivered(
            [(cid, others[(user_id, cid)], up_to) for (user_id, cid), up_to in moved.items()], now
        )
    answers = []
    for mark in marks:
        pointer, at = pointers.get((mark.user.pk, mark.conversation.pk), (None, None))
        answers.append(Delivery(mark.conversation.pk, pointer, at))
    return answers


def mark_delivered_up_to(*, user: User, conversation_id: int, up_to_message_id: int) -> Delivery:
    """REST /delivered: one mark (a client woken by a push)."""
    conversation = conversation_of_participant(user, conversation_id)
    (answer,) = mark_delivered(marks=[DeliveryMark(user, conversation, up_to_message_id)])
    return answer
