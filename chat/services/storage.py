"""How a message is written: the conversation's row lock, the next seq, the insert, the preview.

`store_message` is the one function that stores a message. Holding the conversation row's lock
from before the insert takes its id until commit makes seq gap-free and id order equal commit
order within a conversation. On PostgreSQL all of it is one statement (one round trip, atomic
on its own); elsewhere the same steps run as separate statements in one transaction
(docs/benchmarks.md, "one send", measures the difference). The storage tests run both on
PostgreSQL.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection, transaction

from chat.models import PREVIEW_LENGTH, Conversation, Message

# Columns the statement itself fills: the rest of a new row comes from `_row`.
_FROM_CONVERSATION = frozenset({"id", "conversation_id", "seq"})


def ordered_pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def store_message(
    *,
    sender_id: int,
    receiver_id: int,
    content: str,
    attachment_url: str | None,
    client_message_id: str | None,
    now: datetime,
) -> Message:
    """Store one message, creating the pair's conversation on its first; returns the saved row.

    A concurrent send with the same (sender, clientMessageId) makes this raise IntegrityError
    with nothing stored (seq included).
    """
    values = {
        "sender_id": sender_id,
        "receiver_id": receiver_id,
        "content": content,
        "attachment_url": attachment_url,
        "client_message_id": client_message_id,
    }
    store = _store_postgresql if connection.vendor == "postgresql" else _store_portable
    message = store(values, now)
    if message is None:
        _create_conversation(*ordered_pair(sender_id, receiver_id), now)
        message = store(values, now)
        assert message is not None
    return message


def _create_conversation(p1: int, p2: int, now: datetime) -> None:
    """The pair's one conversation; a concurrent first message's insert is let win (the unique pair)."""
    Conversation.objects.bulk_create(
        [Conversation(participant_1_id=p1, participant_2_id=p2, last_message_at=now)], ignore_conflicts=True
    )


def _bump_params(values: dict[str, Any], now: datetime) -> dict[str, Any]:
    p1, p2 = ordered_pair(values["sender_id"], values["receiver_id"])
    return {"p1": p1, "p2": p2, "preview": values["content"][:PREVIEW_LENGTH], "now": now}


def _row(values: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Every column of the new row but id, conversation and seq: given, timestamps, or the field's default."""
    row: dict[str, Any] = {}
    for field in Message._meta.concrete_fields:
        if field.attname in _FROM_CONVERSATION:
            continue
        if field.attname in values:
            row[field.attname] = values[field.attname]
        elif field.attname in {"created_at", "updated_at"}:
            row[field.attname] = now
        else:
            row[field.attname] = field.get_default()
    return row


_BUMP_SQL = f"""
UPDATE {Conversation._meta.db_table}
   SET last_seq = last_seq + 1, last_message = %(preview)s, last_message_at = %(now)s, updated_at = %(now)s
 WHERE participant_1_id = %(p1)s AND participant_2_id = %(p2)s
RETURNING id, last_seq
"""  # noqa: S608 - the table name comes from the model; values are parameters


@cache
def _send_sql() -> str:
    """The bump and the insert in one statement: the UPDATE takes the row lock and the next seq,
    and the INSERT (its id taken after the lock) reads from it. Each value is cast to its
    column's type, since an untyped parameter in a SELECT list is taken as text."""
    quote = connection.ops.quote_name
    names, selected = ["conversation_id", "seq"], ["id", "last_seq"]
    for field in Message._meta.concrete_fields:
        if field.attname not in _FROM_CONVERSATION:
            names.append(str(field.column))
            selected.append(f"%({field.attname})s::{field.db_type(connection)}")
    return f"""
WITH bumped AS (
    UPDATE {quote(Conversation._meta.db_table)}
       SET last_seq = last_seq + 1, last_message = %(preview)s::text, last_message_at = %(now)s::timestamptz,
           updated_at = %(now)s::timestamptz
     WHERE participant_1_id = %(p1)s::bigint AND participant_2_id = %(p2)s::bigint
    RETURNING id, last_seq
)
INSERT INTO {quote(Message._meta.db_table)} ({", ".join(quote(n) for n in names)})
SELECT {", ".join(selected)} FROM bumped
RETURNING id, conversation_id, seq
"""  # noqa: S608 - table and column names come from the models; values are parameters


def _store_postgresql(values: dict[str, Any], now: datetime) -> Message | None:
    """One statement; None when the pair has no conversation yet."""
    row = _row(values, now)
    # In autocommit the statement is its own transaction (no BEGIN/COMMIT round trips); inside a
    # caller's transaction a savepoint keeps a lost idempotency race from breaking it.
    scope = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    with scope, connection.cursor() as cursor:
        cursor.execute(_send_sql(), {**_bump_params(values, now), **row})
        returned = cursor.fetchone()
    if returned is None:
        return None
    message_id, conversation_id, seq = (int(v) for v in returned)
    known = {**row, "id": message_id, "conversation_id": conversation_id, "seq": seq}
    fields = Message._meta.concrete_fields
    return Message.from_db(connection.alias, [f.attname for f in fields], [known[f.attname] for f in fields])


def _store_portable(values: dict[str, Any], now: datetime) -> Message | None:
    """The same steps as separate statements in one transaction; None when there is no conversation."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_BUMP_SQL, _bump_params(values, now))
            bumped = cursor.fetchone()
        if bumped is None:
            return None
        message = Message(conversation_id=int(bumped[0]), seq=int(bumped[1]), **_row(values, now))
        message.save(force_insert=True)
    return message


def refresh_preview(conversation: Conversation) -> None:
    """Point the preview at the newest visible message; with none left, no text and the creation time.

    The caller holds the conversation's row lock.
    """
    newest = Message.objects.filter(conversation_id=conversation.pk).order_by("-id").first()
    conversation.last_message = newest.content[:PREVIEW_LENGTH] if newest else None
    conversation.last_message_at = newest.created_at if newest else conversation.created_at
    conversation.save(update_fields=["last_message", "last_message_at", "updated_at"])
