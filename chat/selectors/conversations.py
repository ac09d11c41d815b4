"""The caller's conversations, with their unread counts, and what is unread over all of them.

Unread counts are annotated and related users joined, so a page costs a fixed number of queries
whatever its size.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from accounts.models import User
from chat.models import Conversation, Message
from core.pagination import Page, PageRequest


def _unread_subquery(user: User) -> Coalesce:
    counts = (
        Message.objects.filter(conversation=OuterRef("pk"), receiver=user, is_read=False)
        .order_by()
        .values("conversation")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


def _involving(user: User) -> QuerySet[Conversation]:
    return Conversation.objects.filter(Q(participant_1=user) | Q(participant_2=user))


# The page's conversation ids. `participant_1 = me OR participant_2 = me` cannot walk an index in
# recency order, so PostgreSQL answers it with a bitmap of all the user's conversations and a sort.
# Two branches that each walk their own (participant, last_message_at DESC, id DESC) index and stop
# after offset + limit rows read only what the page needs, however many conversations the user has.
_RECENT_IDS_SQL = f"""
SELECT id FROM (
    SELECT id, last_message_at FROM (
        SELECT id, last_message_at FROM {Conversation._meta.db_table} WHERE participant_1_id = %s
        ORDER BY last_message_at DESC, id DESC LIMIT %s
    ) AS as_first
    UNION ALL
    SELECT id, last_message_at FROM (
        SELECT id, last_message_at FROM {Conversation._meta.db_table} WHERE participant_2_id = %s
        ORDER BY last_message_at DESC, id DESC LIMIT %s
    ) AS as_second
) AS recent
ORDER BY last_message_at DESC, id DESC LIMIT %s OFFSET %s
"""  # noqa: S608 - the table name comes from the model; values are parameters


def conversations_for(user: User, *, page: PageRequest) -> Page:
    """The caller's conversations, newest activity first, with the caller's unread counts."""
    total = _involving(user).count()
    reach = page.offset + page.limit
    ids = RawSQL(_RECENT_IDS_SQL, [user.pk, reach, user.pk, reach, page.limit, page.offset])  # noqa: S611 - constant SQL, bound values
    rows = list(
        Conversation.objects.filter(pk__in=ids)
        .select_related("participant_1", "participant_2")
        .annotate(unread_count=_unread_subquery(user))
        .order_by("-last_message_at", "-id")
    )
    return Page(rows, total)


def unread_count(user: User) -> int:
    return Message.objects.filter(receiver=user, is_read=False).count()


@dataclass(frozen=True)
class UnreadConversation:
    conversation: Conversation
    unread_count: int


def unread_by_conversation(user: User) -> list[UnreadConversation]:
    """Conversations with messages unread by the caller, newest activity first (two queries)."""
    counts = dict(
        Message.objects.filter(receiver=user, is_read=False)
        .order_by()
        .values_list("conversation_id")
        .annotate(n=Count("id"))
        .values_list("conversation_id", "n")
    )
    if not counts:
        return []
    conversations = (
        Conversation.objects.filter(pk__in=counts)
        .select_related("participant_1", "participant_2")
        .order_by("-last_message_at", "-id")
    )
    return [UnreadConversation(c, counts[c.pk]) for c in conversations]
