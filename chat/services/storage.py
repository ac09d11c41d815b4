"""How messages are written: the conversations' row locks, the next seqs, the inserts, the previews.

`store_messages` is the one function that stores messages, one or many at once (sends that
arrive together are stored together: docs/benchmarks.md, "group commit"). Each conversation's
row lock is held from before its messages take their ids until commit, which makes seq
gap-free and id order equal commit order within a conversation; rows are locked in id order, so
two batches never deadlock. On PostgreSQL a batch is one statement (one round trip, atomic on
its own); elsewhere the same steps run as separate statements in one transaction. The storage
tests run both on PostgreSQL. A message also brings its conversation back out of its receiver's
archive, in the same statement (or transaction).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import orjson
from django.db import IntegrityError, connection, transaction

from chat.models import Conversation, ConversationState, Message, preview_of

# Columns the statement itself fills: the rest of a new row comes from `_row`.
_FROM_CONVERSATION = frozenset({"id", "conversation_id", "seq"})


def ordered_pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


@dataclass(frozen=True)
class NewMessage:
    """One message to store: its columns (attnames) other than id, conversation and seq."""

    sender_id: int
    receiver_id: int
    content: str
    attachment_url: str | None = None
    client_message_id: str | None = None
    reply_to_id: int | None = None
    attachment_count: int = 0  # not a column: only the preview needs it (the send links them)

    @property
    def pair(self) -> tuple[int, int]:
        return ordered_pair(self.sender_id, self.receiver_id)


class StoreConflict(Exception):
    """A message's (sender, clientMessageId) was already stored: `stored` holds what this call
    did store (None for the rest, of which nothing is stored)."""

    def __init__(self, stored: list[Message | None]) -> None:
        super().__init__("a clientMessageId of the batch is already stored")
        self.stored = stored


def store_messages(items: list[NewMessage], *, now: datetime) -> list[Message]:
    """Store the messages, in order, creating a pair's conversation on its first; returns the
    saved rows in the same order. Raises StoreConflict when a (sender, clientMessageId) is
    already stored."""
    if not items:
        return []
    store = _store_postgresql if connection.vendor == "postgresql" else _store_portable
    stored: list[Message | None] = [None] * len(items)
    try:
        stored = store(items, now)
        missing = [i for i, message in enumerate(stored) if message is None]
        if missing:
            _create_conversations({items[i].pair for i in missing}, now)
            again = store([items[i] for i in missing], now)
            for i, message in zip(missing, again, strict=True):
                assert message is not None, "the conversation was just created"
                stored[i] = message
    except IntegrityError as exc:
        raise StoreConflict(stored) from exc
    return [m for m in stored if m is not None]


def _create_conversations(pairs: set[tuple[int, int]], now: datetime) -> None:
    """The pairs' conversations; a concurrent first message's insert is let win (the unique pair)."""
    Conversation.objects.bulk_create(
        [Conversation(participant_1_id=p1, participant_2_id=p2, last_message_at=now) for p1, p2 in sorted(pairs)],
        ignore_conflicts=True,
    )


def _row(item: NewMessage, now: datetime) -> dict[str, Any]:
    """Every column of the new row but id, conversation and seq: given, timestamps, or the field's default."""
    given = {
        "sender_id": item.sender_id,
        "receiver_id": item.receiver_id,
        "content": item.content,
        "attachment_url": item.attachment_url,
        "client_message_id": item.client_message_id,
        "reply_to_id": item.reply_to_id,
    }
    row: dict[str, Any] = {}
    for field in Message._meta.concrete_fields:
        if field.attname in _FROM_CONVERSATION:
            continue
        if field.attname in given:
            row[field.attname] = given[field.attname]
        elif field.attname in {"created_at", "updated_at"}:
            row[field.attname] = now
        else:
            row[field.attname] = field.get_default()
    return row


def _per_pair(items: list[NewMessage]) -> tuple[list[int], dict[tuple[int, int], tuple[int, str]]]:
    """Each item's rank within its pair (1, 2, ...) and, per pair, (how many, the newest preview)."""
    ranks: list[int] = []
    pairs: dict[tuple[int, int], tuple[int, str]] = {}
    for item in items:
        count = pairs.get(item.pair, (0, ""))[0] + 1
        pairs[item.pair] = (count, preview_of(item.content, item.attachment_count))
        ranks.append(count)
    return ranks, pairs


@cache
def _new_row_fields() -> list[Any]:
    return [f for f in Message._meta.concrete_fields if f.attname not in _FROM_CONVERSATION]


def _records(rows: list[dict[str, Any]]) -> str:
    """Rows as one JSON parameter: one C call to encode, one string to quote, whatever the batch size
    (each column as an array parameter costs the driver more than the VALUES list it replaced)."""
    return orjson.dumps(rows, default=str).decode()


@cache
def _batch_sql() -> str:
    """The statement for every batch: the pairs and the messages travel as JSON records, so the text
    never changes and the driver parses it once (docs/benchmarks.md, "constant statement")."""
    quote = connection.ops.quote_name
    fields = _new_row_fields()
    conversation, message = quote(Conversation._meta.db_table), quote(Message._meta.db_table)
    state = quote(ConversationState._meta.db_table)
    columns = ", ".join(quote(str(f.column)) for f in fields)
    typed = ", ".join(f"{quote(str(f.column))} {f.db_type(connection)}" for f in fields)
    selected = ", ".join(f"v.{quote(str(f.column))}" for f in fields)
    # The locked subquery takes the rows' locks in id order (the order its sort emits them) before
    # the UPDATE writes them; the INSERT takes its ids after the locks, conversation by conversation.
    # `unarchived`: an incoming message brings an archived conversation back for its receiver, in
    # the same statement (PostgreSQL runs a data-modifying WITH whether or not it is read).
    return f"""
WITH pairs AS (
    SELECT * FROM json_to_recordset(%s::json) AS r(p1 bigint, p2 bigint, n bigint, preview text)
),
bumped AS (
    UPDATE {conversation} c
       SET last_seq = c.last_seq + pairs.n, last_message = pairs.preview,
           last_message_at = %s::timestamptz, updated_at = %s::timestamptz
      FROM (SELECT id FROM {conversation}
             WHERE (participant_1_id, participant_2_id) IN (SELECT p1, p2 FROM pairs)
             ORDER BY id FOR UPDATE) AS locked, pairs
     WHERE c.id = locked.id AND c.participant_1_id = pairs.p1 AND c.participant_2_id = pairs.p2
    RETURNING c.id, c.participant_1_id AS p1, c.participant_2_id AS p2, c.last_seq - pairs.n AS base
),
v AS (
    SELECT * FROM json_to_recordset(%s::json) AS r(p1 bigint, p2 bigint, rank bigint, {typed})
),
unarchived AS (
    UPDATE {state} s SET archived_at = NULL
      FROM (SELECT DISTINCT bumped.id AS conversation_id, v.receiver_id
              FROM v JOIN bumped ON bumped.p1 = v.p1 AND bumped.p2 = v.p2) AS incoming
     WHERE s.conversation_id = incoming.conversation_id AND s.user_id = incoming.receiver_id
       AND s.archived_at IS NOT NULL
)
INSERT INTO {message} (conversation_id, seq, {columns})
SELECT bumped.id, bumped.base + v.rank, {selected}
  FROM v JOIN bumped ON bumped.p1 = v.p1 AND bumped.p2 = v.p2
 ORDER BY bumped.id, v.rank
RETURNING id, conversation_id, seq, sender_id, receiver_id
"""  # noqa: S608 - table and column names come from the models; values are parameters


def _store_postgresql(items: list[NewMessage], now: datetime) -> list[Message | None]:
    """One statement; None for a message whose pair has no conversation yet (nothing stored for it)."""
    ranks, pairs = _per_pair(items)
    rows = [_row(item, now) for item in items]
    fields = _new_row_fields()
    pair_records = [{"p1": p1, "p2": p2, "n": n, "preview": preview} for (p1, p2), (n, preview) in pairs.items()]
    message_records = [
        {"p1": item.pair[0], "p2": item.pair[1], "rank": rank, **{str(f.column): row[f.attname] for f in fields}}
        for item, rank, row in zip(items, ranks, rows, strict=True)
    ]
    params: list[Any] = [_records(pair_records), now, now, _records(message_records)]
    sql = _batch_sql()
    # In autocommit the statement is its own transaction (no BEGIN/COMMIT round trips); inside a
    # caller's transaction a savepoint keeps a lost idempotency race from breaking it.
    scope = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    with scope, connection.cursor() as cursor:
        cursor.execute(sql, params)
        returned = cursor.fetchall()
    # Per pair stored: its conversation and the seq it had before this batch; ids by (pair, seq).
    conversation_of: dict[tuple[int, int], tuple[int, int]] = {}
    ids: dict[tuple[tuple[int, int], int], int] = {}
    for message_id, conversation_id, seq, sender_id, receiver_id in returned:
        pair = ordered_pair(int(sender_id), int(receiver_id))
        base = conversation_of.get(pair, (0, int(seq)))[1]
        conversation_of[pair] = (int(conversation_id), min(base, int(seq) - 1))
        ids[(pair, int(seq))] = int(message_id)
    attnames = [f.attname for f in Message._meta.concrete_fields]
    saved: list[Message | None] = []
    for item, rank, row in zip(items, ranks, rows, strict=True):
        found = conversation_of.get(item.pair)
        if found is None:
            saved.append(None)
            continue
        conversation_id, base = found
        seq = base + rank
        known = {**row, "id": ids[(item.pair, seq)], "conversation_id": conversation_id, "seq": seq}
        saved.append(Message.from_db(connection.alias, attnames, [known[name] for name in attnames]))
    return saved


_BUMP_SQL = f"""
UPDATE {Conversation._meta.db_table}
   SET last_seq = last_seq + %(n)s, last_message = %(preview)s, last_message_at = %(now)s, updated_at = %(now)s
 WHERE participant_1_id = %(p1)s AND participant_2_id = %(p2)s
RETURNING id, last_seq
"""  # noqa: S608 - the table name comes from the model; values are parameters


def _store_portable(items: list[NewMessage], now: datetime) -> list[Message | None]:
    """The same steps as separate statements in one transaction: each pair's row bumped, and so
    locked, in id order, then the messages inserted; None where there is no conversation."""
    with transaction.atomic():
        return _store_portable_steps(items, now)


def _store_portable_steps(items: list[NewMessage], now: datetime) -> list[Message | None]:
    ranks, pairs = _per_pair(items)
    existing = Conversation.objects.filter(
        participant_1_id__in={p1 for p1, _ in pairs}, participant_2_id__in={p2 for _, p2 in pairs}
    ).values_list("pk", "participant_1_id", "participant_2_id")
    ids = {(p1, p2): pk for pk, p1, p2 in existing if (p1, p2) in pairs}
    bases: dict[tuple[int, int], tuple[int, int]] = {}
    for pair in sorted(ids, key=ids.__getitem__):
        count, preview = pairs[pair]
        with connection.cursor() as cursor:
            cursor.execute(_BUMP_SQL, {"n": count, "preview": preview, "now": now, "p1": pair[0], "p2": pair[1]})
            conversation_id, last_seq = cursor.fetchone()
        bases[pair] = (int(conversation_id), int(last_seq) - count)
    saved: list[Message | None] = []
    incoming: dict[int, set[int]] = {}
    for item, rank in zip(items, ranks, strict=True):
        found = bases.get(item.pair)
        if found is None:
            saved.append(None)
            continue
        message = Message(conversation_id=found[0], seq=found[1] + rank, **_row(item, now))
        message.save(force_insert=True)
        saved.append(message)
        incoming.setdefault(found[0], set()).add(item.receiver_id)
    for conversation_id, receivers in incoming.items():  # as `unarchived` in _batch_sql
        ConversationState.objects.filter(
            conversation_id=conversation_id, user_id__in=receivers, archived_at__isnull=False
        ).update(archived_at=None)
    return saved


def refresh_preview(conversation: Conversation) -> None:
    """Point the preview at the newest visible message; with none left, no text and the creation time.

    The caller holds the conversation's row lock.
    """
    newest = Message.objects.filter(conversation_id=conversation.pk).order_by("-id").first()
    conversation.last_message = message_preview(newest) if newest else None
    conversation.last_message_at = newest.created_at if newest else conversation.created_at
    conversation.save(update_fields=["last_message", "last_message_at", "updated_at"])


def message_preview(message: Message) -> str:
    """The preview of a stored message (its attachments are counted only when it has no text)."""
    return preview_of(message.content, 0 if message.content else message.attachments.count())
