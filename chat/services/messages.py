"""Sending and deleting messages: every rule checked once, here, for REST and the socket alike.

Sends that arrive together (a socket process collects them while the previous batch is being
stored: chat.ws.batches) go through `send_messages` as one batch: the facts their rules need are
read in one statement, the rules are checked per send in Python, and the sends that pass are
stored by one statement and published in one round trip. A single send is a batch of one.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import User
from chat import events, ratelimit
from chat.access import message_of_participant
from chat.models import (
    ATTACHMENTS_ATTR,
    REPLY_SNIPPET_LENGTH,
    Attachment,
    Block,
    Conversation,
    ConversationState,
    Message,
)
from chat.selectors.messages import displayed
from chat.services.attachments import remove_files_of_messages
from chat.services.storage import NewMessage, StoreConflict, ordered_pair, refresh_preview, store_messages
from chat.validation import SendRequest
from core.errors import DomainError, Forbidden, Invalid, NotFound

BLOCKED_MESSAGE = "You cannot message this user."


@dataclass(frozen=True)
class Send:
    sender: User
    request: SendRequest


@dataclass(frozen=True)
class SendResult:
    message: Message
    created: bool  # False when a retried clientMessageId returned the first message


@dataclass(frozen=True)
class _Parent:
    """The visible message a send replies to, as far as its rule and its quote need."""

    id: int
    conversation_id: int
    sender_id: int
    receiver_id: int
    snippet: str  # the first REPLY_SNIPPET_LENGTH characters

    def quoted(self) -> Message:
        """An unsaved stand-in for the parent, enough for the reply's REST shape and new_message."""
        return Message(
            pk=self.id,
            conversation_id=self.conversation_id,
            sender_id=self.sender_id,
            receiver_id=self.receiver_id,
            content=self.snippet,
        )


@dataclass(frozen=True)
class _Facts:
    receiver_active: bool
    existing_id: int | None
    conversation: tuple[int, int] | None  # the participants of the conversationId given
    blocked: bool  # either of the pair blocks the other
    receiver_muted: bool  # the receiver muted the pair's conversation, and the mute has not lapsed
    parent: _Parent | None  # the visible message replyToId names, wherever it is
    usable_attachments: int  # how many of its attachmentIds are the sender's own, in no message yet


# What the rules of each send need to know, for a whole batch in one round trip: one row per
# send, each fact a scalar subquery (a missing row reads as NULL); `now` (for the mute's lapse) is
# the one parameter after the sends, compared uncast, as the backend stores times. The sends'
# columns, once (p1 < p2: the pair, whose conversation the mute is read from; the attachment ids
# travel as a JSON array, typed per backend below):
_SEND_COLUMNS = (
    ("i", "INTEGER"),
    ("receiver_id", "BIGINT"),
    ("sender_id", "BIGINT"),
    ("client_message_id", "VARCHAR(64)"),
    ("conversation_id", "BIGINT"),
    ("p1", "BIGINT"),
    ("p2", "BIGINT"),
    ("reply_to_id", "BIGINT"),
    ("attachment_ids", None),
)
_FACTS_SQL = """
WITH sends ({names}) AS ({sends})
SELECT sends.i,
       (SELECT is_active FROM {user} WHERE id = sends.receiver_id),
       (SELECT id FROM {message} WHERE sender_id = sends.sender_id AND client_message_id = sends.client_message_id),
       (SELECT participant_1_id FROM {conversation} WHERE id = sends.conversation_id),
       (SELECT participant_2_id FROM {conversation} WHERE id = sends.conversation_id),
       (SELECT COUNT(*) FROM {block}
         WHERE (blocker_id = sends.sender_id AND blocked_id = sends.receiver_id)
            OR (blocker_id = sends.receiver_id AND blocked_id = sends.sender_id)),
       (SELECT COUNT(*) FROM {state} s JOIN {conversation} c ON c.id = s.conversation_id
         WHERE c.participant_1_id = sends.p1 AND c.participant_2_id = sends.p2 AND s.user_id = sends.receiver_id
           AND s.muted AND (s.muted_until IS NULL OR s.muted_until > %s)),
       (SELECT conversation_id FROM {message} WHERE id = sends.reply_to_id AND {deleted} IS NULL),
       (SELECT sender_id FROM {message} WHERE id = sends.reply_to_id AND {deleted} IS NULL),
       (SELECT receiver_id FROM {message} WHERE id = sends.reply_to_id AND {deleted} IS NULL),
       (SELECT SUBSTR(content, 1, {snippet}) FROM {message} WHERE id = sends.reply_to_id AND {deleted} IS NULL),
       (SELECT COUNT(*) FROM {attachment} a
         WHERE a.id IN ({wanted}) AND a.uploader_id = sends.sender_id AND a.message_id IS NULL)
  FROM sends
"""
# The ids in a send's attachment_ids (NULL for none: no row).
_WANTED_POSTGRESQL = "SELECT CAST(j AS BIGINT) FROM json_array_elements_text(sends.attachment_ids) AS j"
_WANTED_ELSEWHERE = "SELECT value FROM json_each(sends.attachment_ids)"


@lru_cache(maxsize=256)
def _facts_sql(rows: int | None) -> str:
    """On PostgreSQL the sends are one JSON parameter (`rows` None: the same text for every batch,
    parsed once: docs/benchmarks.md, "constant statement"); elsewhere a VALUES row per send. CAST
    types the parameters on every backend."""
    if rows is None:
        typed = ", ".join(f"{name} {t or 'json'}" for name, t in _SEND_COLUMNS)
        sends = f"SELECT * FROM json_to_recordset(CAST(%s AS json)) AS r({typed})"  # noqa: S608 - fixed names
    else:
        row = "({})".format(", ".join(f"CAST(%s AS {t or 'TEXT'})" for _, t in _SEND_COLUMNS))
        sends = "VALUES " + ", ".join([row] * rows)
    return _FACTS_SQL.format(
        names=", ".join(name for name, _ in _SEND_COLUMNS),
        sends=sends,
        wanted=_WANTED_POSTGRESQL if rows is None else _WANTED_ELSEWHERE,
        attachment=Attachment._meta.db_table,
        user=User._meta.db_table,
        message=Message._meta.db_table,
        conversation=Conversation._meta.db_table,
        block=Block._meta.db_table,
        state=ConversationState._meta.db_table,
        deleted=connection.ops.quote_name(str(Message._meta.get_field("deleted_at").column)),
        snippet=REPLY_SNIPPET_LENGTH,
    )


def _facts(sends: list[Send]) -> list[_Facts]:
    rows = []
    for i, send in enumerate(sends):
        r = send.request
        pair = ordered_pair(send.sender.pk, r.receiver_id)
        attachment_ids = list(r.attachment_ids) or None  # last: sent as JSON text where it is not PostgreSQL
        rows.append(
            (
                i,
                r.receiver_id,
                send.sender.pk,
                r.client_message_id,
                r.conversation_id,
                *pair,
                r.reply_to_id,
                attachment_ids,
            )
        )
    params: list[Any]
    if connection.vendor == "postgresql":
        names = [name for name, _ in _SEND_COLUMNS]
        records = orjson.dumps([dict(zip(names, row, strict=True)) for row in rows]).decode()
        sql, params = _facts_sql(None), [records]
    else:
        encoded = [(*row[:-1], orjson.dumps(row[-1]).decode() if row[-1] else None) for row in rows]
        sql, params = _facts_sql(len(rows)), [value for row in encoded for value in row]
    params.append(connection.ops.adapt_datetimefield_value(timezone.now()))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = sorted(cursor.fetchall(), key=lambda row: int(row[0]))
    facts = []
    for row in found:
        (
            i,
            active,
            existing,
            p1,
            p2,
            blocked,
            muted,
            parent_conversation,
            parent_sender,
            parent_receiver,
            snippet,
            usable,
        ) = row
        reply_to_id = sends[int(i)].request.reply_to_id
        parent = None
        if reply_to_id is not None and parent_conversation is not None:
            parent = _Parent(reply_to_id, parent_conversation, parent_sender, parent_receiver, snippet)
        conversation = (p1, p2) if p1 is not None else None
        facts.append(_Facts(bool(active), existing, conversation, bool(blocked), bool(muted), parent, int(usable or 0)))
    return facts


def _first_sends(message_ids: list[int]) -> dict[int, SendResult]:
    if not message_ids:
        return {}
    messages = displayed(Message.all_objects.filter(pk__in=message_ids))
    return {m.pk: SendResult(m, created=False) for m in messages}


def _rule_broken(send: Send, facts: _Facts) -> DomainError | None:
    """Why this send may not be stored, or None (a retried clientMessageId is checked before)."""
    sender, request = send.sender, send.request
    if request.receiver_id == sender.pk:
        return Invalid.field("receiverId", "You cannot send a message to yourself.")
    if not facts.receiver_active:
        return NotFound("No such user.")
    if request.conversation_id is not None:
        if facts.conversation is None or sender.pk not in facts.conversation:
            return NotFound("No such conversation.")
        if facts.conversation != ordered_pair(sender.pk, request.receiver_id):
            return Invalid.field("conversationId", "This conversation is not with receiverId.")
    if facts.blocked:
        return Forbidden(BLOCKED_MESSAGE)
    if request.reply_to_id is not None:
        parent = facts.parent
        # One conversation per pair: the parent is in this one when it is between the same two people.
        if parent is None or ordered_pair(parent.sender_id, parent.receiver_id) != ordered_pair(
            sender.pk, request.receiver_id
        ):
            return Invalid.field("replyToId", "Must be a message of this conversation that is not deleted.")
    if facts.usable_attachments != len(request.attachment_ids):
        return _attachments_unusable()
    return None


def _attachments_unusable() -> Invalid:
    return Invalid.field("attachmentIds", "Each id must be one of your own uploads that is not in a message yet.")


def send_messages(*, sends: list[Send]) -> list[SendResult | DomainError]:
    """Store the sends that keep the rules and publish them after commit; one answer per send.

    A repeated clientMessageId answers the first message (created=False) and stores nothing,
    also when it repeats one earlier in the same batch.
    """
    answers = _attempt(sends)
    raced = [i for i, answer in enumerate(answers) if answer is None]
    if raced:
        # Another process stored one of these clientMessageIds first: what was stored stands, and
        # the rest are tried once more, which now finds their first messages.
        for i, answer in zip(raced, _attempt([sends[i] for i in raced]), strict=True):
            if answer is None:
                raise IntegrityError("a clientMessageId was stored concurrently twice over")
            answers[i] = answer
    return [a for a in answers if a is not None]


def send_message(*, sender: User, request: SendRequest) -> SendResult:
    """Store one message and publish it after commit (a batch of one); raises the send's DomainError."""
    (answer,) = send_messages(sends=[Send(sender, request)])
    if isinstance(answer, DomainError):
        raise answer
    return answer


def _attempt(sends: list[Send]) -> list[SendResult | DomainError | None]:
    """Answers for the sends; None for a send that lost an idempotency race to another process."""
    facts = _facts(sends)
    answers: list[SendResult | DomainError | None] = [None] * len(sends)
    retried = _first_sends([f.existing_id for f in facts if f.existing_id is not None])
    to_store: list[int] = []
    first_in_batch: dict[tuple[int, str], int] = {}
    repeats: dict[int, int] = {}
    claimed: set[int] = set()  # attachment ids of the sends to store: one message each
    for i, (send, fact) in enumerate(zip(sends, facts, strict=True)):
        if fact.existing_id is not None and fact.existing_id in retried:
            answers[i] = retried[fact.existing_id]
            continue
        cmid = send.request.client_message_id
        key = (send.sender.pk, cmid) if cmid is not None else None
        if key is not None and key in first_in_batch:
            repeats[i] = first_in_batch[key]  # answered with that one's message once it is stored
            continue
        broken = _rule_broken(send, fact)
        if broken is None and not claimed.isdisjoint(send.request.attachment_ids):
            broken = _attachments_unusable()
        if broken is None:
            try:
                ratelimit.check_message_rate(send.sender.pk)
            except DomainError as exc:
                broken = exc
        if broken is not None:
            answers[i] = broken
            continue
        if key is not None:
            first_in_batch[key] = i
        claimed.update(send.request.attachment_ids)
        to_store.append(i)
    stored = _store(sends, to_store, facts)
    for i, message in stored.items():
        answers[i] = SendResult(message, created=True) if message is not None else None
    for i, first in repeats.items():
        first_answer = answers[first]
        answers[i] = SendResult(first_answer.message, created=False) if isinstance(first_answer, SendResult) else None
    created = {i: m for i, m in stored.items() if m is not None}
    events.messages_created(list(created.values()), muted={m.pk for i, m in created.items() if facts[i].receiver_muted})
    return answers


class _AttachmentTaken(Exception):
    """A concurrent send put one of the batch's attachments in its message first."""


def _link_attachments(pairs: list[tuple[Message, Send]]) -> None:
    """Put each send's attachments in its stored message, in the store's transaction; raise
    _AttachmentTaken (rolling the batch back) when one is no longer the sender's to use."""
    linked: list[int] = []
    for message, send in pairs:
        ids = send.request.attachment_ids
        if not ids:
            continue
        taken = Attachment.objects.filter(pk__in=ids, uploader_id=send.sender.pk, message__isnull=True)
        if taken.update(message_id=message.pk) != len(ids):
            raise _AttachmentTaken
        linked += ids
    found: dict[int, list[Attachment]] = {}
    for attachment in Attachment.objects.filter(pk__in=linked).order_by("id") if linked else []:
        found.setdefault(attachment.message_id or 0, []).append(attachment)
    for message, _ in pairs:
        message.__dict__[ATTACHMENTS_ATTR] = found.get(message.pk, [])


def _store(sends: list[Send], indexes: list[int], facts: list[_Facts]) -> dict[int, Message | None]:
    """Store the sends at `indexes`: {index: the stored message, or None when a race left it out}.

    With attachments the store and their linking are one transaction: a send whose attachment a
    concurrent send took is left out with the rest of its batch (None), which send_messages tries
    again, and then finds the attachment taken.
    """
    items = [
        NewMessage(
            sender_id=sends[i].sender.pk,
            receiver_id=sends[i].request.receiver_id,
            content=sends[i].request.content,
            attachment_url=sends[i].request.attachment_url,
            client_message_id=sends[i].request.client_message_id,
            reply_to_id=sends[i].request.reply_to_id,
            attachment_count=len(sends[i].request.attachment_ids),
        )
        for i in indexes
    ]
    linking = any(sends[i].request.attachment_ids for i in indexes)
    try:
        with transaction.atomic() if linking else contextlib.nullcontext():
            try:
                messages: list[Message | None] = list(store_messages(items, now=timezone.now()))
            except StoreConflict as conflict:
                messages = conflict.stored
            _link_attachments([(m, sends[i]) for i, m in zip(indexes, messages, strict=True) if m is not None])
    except _AttachmentTaken:
        return dict.fromkeys(indexes)
    stored: dict[int, Message | None] = {}
    for i, message in zip(indexes, messages, strict=True):
        if message is not None:
            message.sender = sends[i].sender
            message.reaction_list = []  # a new message has none: no query to show it
            parent = facts[i].parent
            if message.reply_to_id is not None and parent is not None:
                message.reply_to = parent.quoted()
        stored[i] = message
    return stored


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
        remove_files_of_messages([message.pk])
        message.deleted_at = now
        events.message_deleted(message)
    return message
