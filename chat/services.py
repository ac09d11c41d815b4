"""Every write of the chat: send, mark read, delete, get-or-create a conversation.

REST views and the WebSocket consumer both call these functions, so membership checks,
validation, rate limits and event publishing happen in one place. Each public function is
one transaction; events go out through chat.events only after it commits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from accounts.models import User
from chat import events, presence, ratelimit
from chat.errors import Forbidden, Invalid, NotFound, RateLimited
from chat.models import PREVIEW_LENGTH, Conversation, Message
from chat.validation import MAX_ID, SendRequest
from chatproject import metrics, rows


@dataclass(frozen=True)
class SendResult:
    message: Message
    created: bool  # False when a retried clientMessageId returned the first message


def ordered_pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def _active_user(user_id: int) -> User:
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise NotFound("No such user.")
    return user


def get_or_create_conversation(user: User, other_id: int) -> Conversation:
    """The one conversation of this pair, created if needed; safe under concurrent callers.

    Concurrent first messages both try `INSERT ... ON CONFLICT DO NOTHING`; the unique
    constraint lets exactly one row in, and both then read that row.
    """
    if other_id == user.pk:
        raise Invalid.field("receiverId", "You cannot start a conversation with yourself.")
    _active_user(other_id)
    p1, p2 = ordered_pair(user.pk, other_id)
    conversation = Conversation.objects.filter(participant_1_id=p1, participant_2_id=p2).first()
    if conversation is None:
        now = timezone.now()
        Conversation.objects.bulk_create(
            [Conversation(participant_1_id=p1, participant_2_id=p2, last_message_at=now)], ignore_conflicts=True
        )
        conversation = Conversation.objects.get(participant_1_id=p1, participant_2_id=p2)
    return conversation


_BUMP_SQL = """
UPDATE chat_conversation
   SET last_seq = last_seq + 1, last_message = %s, last_message_at = %s, updated_at = %s
 WHERE participant_1_id = %s AND participant_2_id = %s
RETURNING id, last_seq
"""


def _bump_conversation(p1: int, p2: int, preview: str, now: datetime) -> tuple[int, int] | None:
    """Lock the pair's conversation row, take the next seq and set the preview, in one statement."""
    with connection.cursor() as cursor:
        cursor.execute(_BUMP_SQL, [preview, now, now, p1, p2])
        row = cursor.fetchone()
    return (int(row[0]), int(row[1])) if row else None


def _existing_send(sender: User, client_message_id: str | None) -> Message | None:
    if client_message_id is None:
        return None
    return (
        Message.all_objects.select_related("sender", "receiver")
        .filter(sender=sender, client_message_id=client_message_id)
        .first()
    )


def _column(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field) and field.column
    return connection.ops.quote_name(field.column)


# The common send (an existing conversation, an active receiver, a new clientMessageId) is one
# statement, so one round trip: the UPDATE takes the conversation's row lock and next seq and
# matches only when every check passes, and the INSERT (its id taken after the lock) reads from
# it. A statement is atomic on its own. When it stores nothing, the general path below sorts
# out why (a retry, a first message, a bad id) and gives the same answers as always.
_FAST_SEND_SQL = """
WITH bumped AS (
    UPDATE {conversation}
       SET last_seq = last_seq + 1, last_message = %(preview)s::text, last_message_at = %(now)s::timestamptz,
           updated_at = %(now)s::timestamptz
     WHERE participant_1_id = %(p1)s::bigint AND participant_2_id = %(p2)s::bigint
       AND (%(conversation_id)s::bigint IS NULL OR id = %(conversation_id)s::bigint)
       AND EXISTS (SELECT 1 FROM {user} WHERE id = %(receiver_id)s::bigint AND is_active)
       AND (%(client_message_id)s::text IS NULL OR NOT EXISTS (
            SELECT 1 FROM {message}
             WHERE sender_id = %(sender_id)s::bigint AND client_message_id = %(client_message_id)s::text))
    RETURNING id, last_seq
)
INSERT INTO {message} ({columns})
SELECT id, %(sender_id)s::bigint, %(receiver_id)s::bigint, last_seq, %(content)s::text, %(attachment_url)s::text,
       false, NULL::timestamptz, %(client_message_id)s::text, NULL::timestamptz, %(now)s::timestamptz,
       %(now)s::timestamptz
  FROM bumped
RETURNING id, conversation_id, seq
""".format(  # noqa: S608 - table and column names come from the models; values are parameters
    conversation=Conversation._meta.db_table,
    user=User._meta.db_table,
    message=Message._meta.db_table,
    columns=", ".join(
        _column(Message, name)
        for name in (
            "conversation_id",
            "sender_id",
            "receiver_id",
            "seq",
            "content",
            "attachment_url",
            "is_read",
            "read_at",
            "client_message_id",
            "deleted_at",
            "created_at",
            "updated_at",
        )
    ),
)


def _send_fast(sender: User, request: SendRequest, transport: str) -> Message | None:
    """The common send in one statement, or None when the general path must decide.

    The same work as the general path (row lock, next seq, preview, insert, publish after
    commit) without the ORM's query building and in one round trip instead of six: on this
    path the ORM cost more CPU than PostgreSQL did, and every round trip is a wait for the
    GIL. The rate-limit slot is taken first and given back when nothing was stored, so a
    retry never counts; a limited sender goes to the general path, which still answers a
    retry with the first message.
    """
    try:
        slot = ratelimit.take_message_slot(sender.pk)
    except RateLimited:
        return None
    now = timezone.now()
    p1, p2 = ordered_pair(sender.pk, request.receiver_id)
    params: dict[str, Any] = {
        "preview": request.content[:PREVIEW_LENGTH],
        "now": now,
        "p1": p1,
        "p2": p2,
        "conversation_id": request.conversation_id,
        "receiver_id": request.receiver_id,
        "sender_id": sender.pk,
        "content": request.content,
        "attachment_url": request.attachment_url,
        "client_message_id": request.client_message_id,
    }
    row = None
    # In autocommit the statement is its own transaction (no BEGIN/COMMIT round trips); inside a
    # caller's transaction a savepoint keeps a lost idempotency race from breaking it.
    scope = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    try:
        with scope, connection.cursor() as cursor:
            cursor.execute(_FAST_SEND_SQL, params)
            row = cursor.fetchone()
    except IntegrityError:
        pass  # a concurrent retry of this clientMessageId committed first
    if row is None:
        ratelimit.refund_message_slot(sender.pk, slot)
        return None
    message = Message(
        id=int(row[0]),
        conversation_id=int(row[1]),
        sender=sender,
        receiver_id=request.receiver_id,
        seq=int(row[2]),
        content=request.content,
        attachment_url=request.attachment_url,
        client_message_id=request.client_message_id,
        created_at=now,
        updated_at=now,
    )
    message._state.adding = False
    message._state.db = connection.alias
    # A send over a socket comes from a sender who is online (that socket is open).
    events.message_created_after_commit(message, sender_online=True if transport == "ws" else None)
    metrics.message_sent(transport)  # committed (views and the consumer run no outer transaction)
    return message


def send_message(sender: User, request: SendRequest, *, transport: str = "rest") -> SendResult:
    """Store a message and publish it after commit (`transport`, rest or ws, labels the metric).

    One transaction: lock the conversation row while taking the next seq and updating the
    preview, then insert. Because the row lock is held from before the insert takes its id
    until commit, ids within a conversation follow commit order and seq has no gaps.
    """
    if request.receiver_id == sender.pk:
        raise Invalid.field("receiverId", "You cannot send a message to yourself.")
    if connection.vendor == "postgresql" and 0 < request.receiver_id <= MAX_ID:
        fast = _send_fast(sender, request, transport)
        if fast is not None:
            return SendResult(fast, created=True)
    existing = _existing_send(sender, request.client_message_id)
    if existing is not None:
        return SendResult(existing, created=False)
    receiver = _active_user(request.receiver_id)
    p1, p2 = ordered_pair(sender.pk, receiver.pk)
    if request.conversation_id is not None:
        conversation = Conversation.objects.filter(pk=request.conversation_id).first()
        if conversation is None or not conversation.has_participant(sender.pk):
            raise NotFound("No such conversation.")
        if (conversation.participant_1_id, conversation.participant_2_id) != (p1, p2):
            raise Invalid.field("conversationId", "This conversation is not with receiverId.")
    ratelimit.check_message_rate(sender.pk)

    now = timezone.now()
    preview = request.content[:PREVIEW_LENGTH]
    try:
        with transaction.atomic():
            bumped = _bump_conversation(p1, p2, preview, now)
            if bumped is None:
                Conversation.objects.bulk_create(
                    [Conversation(participant_1_id=p1, participant_2_id=p2, last_message_at=now)],
                    ignore_conflicts=True,
                )
                bumped = _bump_conversation(p1, p2, preview, now)
                assert bumped is not None
            conversation_id, seq = bumped
            message = Message.objects.create(
                conversation_id=conversation_id,
                sender=sender,
                receiver=receiver,
                seq=seq,
                content=request.content,
                attachment_url=request.attachment_url,
                client_message_id=request.client_message_id,
                created_at=now,
            )
            events.message_created_after_commit(message, sender_online=True if transport == "ws" else None)
    except IntegrityError:
        # A concurrent retry with the same clientMessageId committed first; ours rolled back
        # whole (seq included), so return the stored one.
        existing = _existing_send(sender, request.client_message_id)
        if existing is None:
            raise
        return SendResult(existing, created=False)
    metrics.message_sent(transport)  # committed (views and the consumer run no outer transaction)
    return SendResult(message, created=True)


def conversation_of_participant(user: User, conversation_id: int, *, lock: bool = False) -> Conversation:
    """The conversation if `user` takes part in it; NotFound otherwise, so ids cannot be probed."""
    if not 0 < conversation_id <= MAX_ID:
        raise NotFound("No such conversation.")
    if lock:
        conversation = Conversation.objects.filter(pk=conversation_id).select_for_update().first()
    else:
        conversation = rows.by_pk(Conversation, conversation_id)
    if conversation is None or not conversation.has_participant(user.pk):
        raise NotFound("No such conversation.")
    return conversation


@dataclass(frozen=True)
class ReadResult:
    conversation_id: int
    updated: int
    read_at: datetime
    up_to_message_id: int | None


def mark_read(user: User, conversation_id: int) -> ReadResult:
    """Mark every visible message sent to `user` in the conversation as read."""
    conversation = conversation_of_participant(user, conversation_id)
    now = timezone.now()
    with transaction.atomic():
        unread = Message.objects.filter(conversation_id=conversation.pk, receiver=user, is_read=False)
        newest = unread.order_by("-id").values_list("id", flat=True).first()
        updated = 0
        if newest is not None:
            updated = unread.filter(id__lte=newest).update(is_read=True, read_at=now, updated_at=now)
            events.messages_read_after_commit(
                conversation.pk, user.pk, conversation.other_participant_id(user.pk), now, newest
            )
    return ReadResult(conversation.pk, updated, now, newest)


def delete_message(user: User, message_id: int) -> Message:
    """Soft-delete a message; only its sender may. The preview falls back to the newest one left."""
    message = (
        Message.objects.select_related("conversation").filter(pk=message_id).first() if message_id <= MAX_ID else None
    )
    if message is None or not message.conversation.has_participant(user.pk):
        raise NotFound("No such message.")
    if message.sender_id != user.pk:
        raise Forbidden("Only the sender may delete a message.")
    now = timezone.now()
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=message.conversation_id)
        deleted = Message.objects.filter(pk=message.pk).update(deleted_at=now, updated_at=now)
        if not deleted:  # a concurrent delete won
            raise NotFound("No such message.")
        _refresh_preview(conversation)
        message.deleted_at = now
        events.message_deleted_after_commit(message)
    return message


def _refresh_preview(conversation: Conversation) -> None:
    """Point the preview at the newest visible message; with none left, no text and the creation time.

    The caller holds the conversation's row lock.
    """
    newest = Message.objects.filter(conversation_id=conversation.pk).order_by("-id").first()
    conversation.last_message = newest.content[:PREVIEW_LENGTH] if newest else None
    conversation.last_message_at = newest.created_at if newest else conversation.created_at
    conversation.save(update_fields=["last_message", "last_message_at", "updated_at"])


def moderate_messages(message_ids: Iterable[int], *, deleted: bool) -> int:
    """Staff moderation (the admin): soft-delete (`deleted=True`) or restore messages of anyone.

    The same rules as a sender's delete: each touched conversation is locked (in id order, so two
    moderators cannot deadlock) and its preview recomputed, and deletions are published after
    commit. Restoring publishes nothing (the contract has no such event); clients see the message
    again on their next read. Returns how many messages changed state.
    """
    ids = [int(i) for i in message_ids]
    now = timezone.now()
    with transaction.atomic():
        conversation_ids = set(
            Message.all_objects.filter(pk__in=ids, deleted_at__isnull=deleted).values_list("conversation_id", flat=True)
        )
        conversations = list(Conversation.objects.select_for_update().filter(pk__in=conversation_ids).order_by("pk"))
        # Re-read under the locks: a sender's delete may have changed a row since the first read.
        changing = list(
            Message.all_objects.filter(pk__in=ids, deleted_at__isnull=deleted, conversation_id__in=conversation_ids)
        )
        Message.all_objects.filter(pk__in=[m.pk for m in changing]).update(
            deleted_at=now if deleted else None, updated_at=now
        )
        for conversation in conversations:
            _refresh_preview(conversation)
        if deleted:
            for message in changing:
                events.message_deleted_after_commit(message)
    return len(changing)


def purge_deleted_messages(deleted_before: datetime, *, dry_run: bool = False) -> dict[int, list[int]]:
    """Hard-delete messages soft-deleted before `deleted_before`; {conversation id: [message ids]}.

    Each batch of conversations is locked (in id order, like moderation) and the deleted state is
    re-checked under the locks, so a message restored meanwhile survives; previews are recomputed
    (they only ever show visible messages, so they stay as they were). Their seq numbers are not
    reused: a purged message leaves a gap, as a soft-deleted one already hid its number.
    """
    stale = Message.all_objects.filter(deleted_at__lt=deleted_before)
    conversation_ids = sorted(set(stale.values_list("conversation_id", flat=True)))
    purged: dict[int, list[int]] = {}
    for start in range(0, len(conversation_ids), PURGE_BATCH_CONVERSATIONS):
        batch = conversation_ids[start : start + PURGE_BATCH_CONVERSATIONS]
        with transaction.atomic():
            conversations = list(Conversation.objects.select_for_update().filter(pk__in=batch).order_by("pk"))
            rows = stale.filter(conversation_id__in=batch).order_by("conversation_id", "id")
            for conversation_id, message_id in rows.values_list("conversation_id", "id"):
                purged.setdefault(conversation_id, []).append(message_id)
            if not dry_run:
                rows.delete()  # the rows just listed: the locks keep them as they were
                for conversation in conversations:
                    _refresh_preview(conversation)
    return purged


PURGE_BATCH_CONVERSATIONS = 500


# --- Sockets: presence and rooms -----------------------------------------------------------


def socket_opened(user: User, channel_name: str) -> None:
    """Record a socket; on the user's first one, tell everyone who shares a conversation."""
    if presence.socket_connected(user.pk, channel_name):
        events.presence_changed(user.pk, True, user.last_seen_at, partner_ids(user.pk))


def socket_closed(user: User, channel_name: str, conversation_ids: list[int]) -> None:
    """Forget a socket and its rooms; on the user's last one, store last_seen_at and tell partners."""
    if presence.socket_closed(user.pk, channel_name, conversation_ids):
        now = timezone.now()
        User.objects.filter(pk=user.pk).update(last_seen_at=now)
        events.presence_changed(user.pk, False, now, partner_ids(user.pk))


def join_room(user: User, conversation_id: int, channel_name: str) -> Conversation:
    conversation = conversation_of_participant(user, conversation_id)
    presence.room_joined(conversation.pk, user.pk, channel_name)
    return conversation


def leave_room(user: User, conversation_id: int, channel_name: str) -> None:
    presence.room_left(conversation_id, user.pk, channel_name)


_PARTNERS_SQL = (
    f"SELECT participant_1_id, participant_2_id FROM {Conversation._meta.db_table} "  # noqa: S608 - table name only
    "WHERE participant_1_id = %s OR participant_2_id = %s"
)


def partner_ids(user_id: int) -> list[int]:
    """Ids of everyone who shares a conversation with the user (presence recipients).

    Runs on every socket's first connect and last disconnect: a plain statement, since the
    ORM's query building cost four times the query itself here (~700 vs ~160 us CPU, make bench).
    """
    with connection.cursor() as cursor:
        cursor.execute(_PARTNERS_SQL, [user_id, user_id])
        pairs = cursor.fetchall()
    return [p2 if p1 == user_id else p1 for p1, p2 in pairs]
