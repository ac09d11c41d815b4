"""The caller's conversations, with their unread counts and the caller's own state of each, and
what is unread over all of them.

Unread counts, the caller's state (mute, archive, unread mark) and whether the pair is blocked are
annotated and related users joined, so a page costs a fixed number of queries whatever its size.
A message counts as unread for its receiver while it is not read, or while the receiver marked
the conversation unread from it or an earlier one (ConversationState.unread_from_id).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import (
    Count,
    Exists,
    F,
    FilteredRelation,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.expressions import CombinedExpression, RawSQL
from django.db.models.functions import Coalesce

from accounts.models import User
from chat.models import Block, Conversation, ConversationState, Message
from core.pagination import Page, PageRequest

_quote = connection.ops.quote_name
_CONVERSATION = Conversation._meta.db_table
_STATE = ConversationState._meta.db_table
_MESSAGE = _quote(Message._meta.db_table)
_DELETED = _quote(str(Message._meta.get_field("deleted_at").column))


def _count(messages: QuerySet[Message]) -> Coalesce:
    counts = messages.order_by().values("conversation").annotate(n=Count("id")).values("n")
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


def _unread_count(user: User) -> CombinedExpression:
    """Not read, plus read but at or after the caller's unread mark (`my_unread_from`)."""
    mine = Message.objects.filter(conversation=OuterRef("pk"), receiver=user)
    return _count(mine.filter(is_read=False)) + _count(mine.filter(is_read=True, id__gte=OuterRef("my_unread_from")))


def _blocked() -> Exists:
    return Exists(
        Block.objects.filter(
            Q(blocker=OuterRef("participant_1"), blocked=OuterRef("participant_2"))
            | Q(blocker=OuterRef("participant_2"), blocked=OuterRef("participant_1"))
        )
    )


def _involving(user: User) -> QuerySet[Conversation]:
    return Conversation.objects.filter(Q(participant_1=user) | Q(participant_2=user))


def _archived_by(user: User) -> Exists:
    return Exists(ConversationState.objects.filter(user=user, conversation=OuterRef("pk"), archived_at__isnull=False))


# The page's conversation ids. `participant_1 = me OR participant_2 = me` cannot walk an index in
# recency order, so PostgreSQL answers it with a bitmap of all the user's conversations and a sort.
# Two branches that each walk their own (participant, last_message_at DESC, id DESC) index and stop
# after offset + limit rows read only what the page needs, however many conversations the user has.
# The caller's archived conversations are left out on the way (a lookup in the state's unique index).
_NOT_ARCHIVED = f"""NOT EXISTS (
    SELECT 1 FROM {_STATE} s WHERE s.conversation_id = c.id AND s.user_id = %s AND s.archived_at IS NOT NULL
)"""  # noqa: S608 - the table name comes from the model; values are parameters
_RECENT_IDS_SQL = f"""
SELECT id FROM (
    SELECT id, last_message_at FROM (
        SELECT c.id, c.last_message_at FROM {_CONVERSATION} c WHERE c.participant_1_id = %s AND {_NOT_ARCHIVED}
        ORDER BY c.last_message_at DESC, c.id DESC LIMIT %s
    ) AS as_first
    UNION ALL
    SELECT id, last_message_at FROM (
        SELECT c.id, c.last_message_at FROM {_CONVERSATION} c WHERE c.participant_2_id = %s AND {_NOT_ARCHIVED}
        ORDER BY c.last_message_at DESC, c.id DESC LIMIT %s
    ) AS as_second
) AS recent
ORDER BY last_message_at DESC, id DESC LIMIT %s OFFSET %s
"""  # noqa: S608 - table names come from the models; values are parameters

# Archived ones are few: read from the caller's states.
_ARCHIVED_IDS_SQL = f"""
SELECT c.id FROM {_STATE} s JOIN {_CONVERSATION} c ON c.id = s.conversation_id
 WHERE s.user_id = %s AND s.archived_at IS NOT NULL
 ORDER BY c.last_message_at DESC, c.id DESC LIMIT %s OFFSET %s
"""  # noqa: S608 - table names come from the models; values are parameters


def conversations_for(user: User, *, page: PageRequest, archived: bool = False) -> Page:
    """The caller's conversations, newest activity first, with the caller's unread counts and state:
    those not archived by the caller, or with `archived` only those."""
    if archived:
        total = ConversationState.objects.filter(user=user, archived_at__isnull=False).count()
        ids = RawSQL(_ARCHIVED_IDS_SQL, [user.pk, page.limit, page.offset])  # noqa: S611 - constant SQL, bound values
    else:
        total = _involving(user).exclude(_archived_by(user)).count()
        reach = page.offset + page.limit
        params = [user.pk, user.pk, reach, user.pk, user.pk, reach, page.limit, page.offset]
        ids = RawSQL(_RECENT_IDS_SQL, params)  # noqa: S611 - constant SQL, bound values
    rows = list(
        Conversation.objects.filter(pk__in=ids)
        .select_related("participant_1", "participant_2")
        .annotate(mine=FilteredRelation("states", condition=Q(states__user=user)))
        .annotate(
            my_muted=F("mine__muted"),
            my_muted_until=F("mine__muted_until"),
            my_archived_at=F("mine__archived_at"),
            my_unread_from=F("mine__unread_from_id"),
        )
        .annotate(unread_count=_unread_count(user), blocked=_blocked())
        .order_by("-last_message_at", "-id")
    )
    return Page(rows, total)


# Per conversation, the caller's unread messages: the unread ones (the partial unread index), and
# the read ones at or after the caller's unread mark (few: only conversations marked unread).
_UNREAD_SQL = f"""
SELECT conversation_id, COUNT(*) FROM (
    SELECT m.conversation_id FROM {_MESSAGE} m
     WHERE m.receiver_id = %s AND NOT m.is_read AND m.{_DELETED} IS NULL
    UNION ALL
    SELECT m.conversation_id FROM {_STATE} s
      JOIN {_MESSAGE} m ON m.conversation_id = s.conversation_id AND m.id >= s.unread_from_id
     WHERE s.user_id = %s AND s.unread_from_id IS NOT NULL
       AND m.receiver_id = %s AND m.is_read AND m.{_DELETED} IS NULL
) AS unread
GROUP BY conversation_id
"""  # noqa: S608 - table and column names come from the models; values are parameters


def _unread_by_id(user: User) -> dict[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(_UNREAD_SQL, [user.pk, user.pk, user.pk])
        return {int(conversation_id): int(n) for conversation_id, n in cursor.fetchall()}


def unread_count(user: User) -> int:
    return sum(_unread_by_id(user).values())


@dataclass(frozen=True)
class UnreadConversation:
    conversation: Conversation
    unread_count: int


def unread_by_conversation(user: User) -> list[UnreadConversation]:
    """Conversations with messages unread by the caller, newest activity first (two queries)."""
    counts = _unread_by_id(user)
    if not counts:
        return []
    conversations = (
        Conversation.objects.filter(pk__in=counts)
        .select_related("participant_1", "participant_2")
        .order_by("-last_message_at", "-id")
    )
    return [UnreadConversation(c, counts[c.pk]) for c in conversations]
