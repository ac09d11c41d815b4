"""Every read of the chat: conversation lists, history, search, unread counts.

Each selector checks membership itself and runs a fixed number of queries whatever the
page size (related users are joined, unread counts are annotated), so list endpoints stay
flat as data grows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from accounts.models import User
from chat.errors import Invalid
from chat.models import Conversation, Message
from chat.services import conversation_of_participant
from chatproject.api import PageRequest


@dataclass(frozen=True)
class Page:
    items: list[Any]
    total: int


@dataclass(frozen=True)
class CursorPage:
    items: list[Any]
    has_more: bool


@dataclass(frozen=True)
class Cursor:
    before: int | None = None
    after: int | None = None


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
_RECENT_IDS_SQL = """
SELECT id FROM (
    SELECT id, last_message_at FROM (
        SELECT id, last_message_at FROM chat_conversation WHERE participant_1_id = %s
        ORDER BY last_message_at DESC, id DESC LIMIT %s
    ) AS as_first
    UNION ALL
    SELECT id, last_message_at FROM (
        SELECT id, last_message_at FROM chat_conversation WHERE participant_2_id = %s
        ORDER BY last_message_at DESC, id DESC LIMIT %s
    ) AS as_second
) AS recent
ORDER BY last_message_at DESC, id DESC LIMIT %s OFFSET %s
"""


def conversations_for(user: User, page: PageRequest) -> Page:
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


def _messages(conversation: Conversation) -> QuerySet[Message]:
    return Message.objects.filter(conversation=conversation).select_related("sender", "receiver")


def _paged(query: QuerySet[Message], page: PageRequest) -> Page:
    total = query.count()
    return Page(list(query.order_by("id")[page.offset : page.offset + page.limit]), total)


def _cursored(query: QuerySet[Message], cursor: Cursor, limit: int) -> CursorPage:
    """`limit` messages just older than `before` or just newer than `after`, oldest first."""
    if cursor.before is not None:
        rows = list(query.filter(id__lt=cursor.before).order_by("-id")[: limit + 1])
        has_more = len(rows) > limit
        return CursorPage(list(reversed(rows[:limit])), has_more)
    rows = list(query.filter(id__gt=cursor.after).order_by("id")[: limit + 1])
    return CursorPage(rows[:limit], len(rows) > limit)


def messages_in(user: User, conversation_id: int, page: PageRequest, cursor: Cursor | None = None) -> Page | CursorPage:
    """History of a conversation, oldest first: by page, or by a before/after cursor."""
    conversation = conversation_of_participant(user, conversation_id)
    query = _messages(conversation)
    if cursor is not None:
        return _cursored(query, cursor, page.limit)
    return _paged(query, page)


MAX_SEARCH_LENGTH = 200


def search(
    user: User, conversation_id: int, term: str, page: PageRequest, cursor: Cursor | None = None
) -> Page | CursorPage:
    """Case-insensitive substring search; `%` and `_` match themselves (Django escapes them)."""
    term = term.strip()
    if not term:
        raise Invalid.field("q", "A search term is required.")
    if len(term) > MAX_SEARCH_LENGTH:
        raise Invalid.field("q", f"Must be at most {MAX_SEARCH_LENGTH} characters.")
    if "\x00" in term:  # PostgreSQL cannot take NUL in a string literal
        raise Invalid.field("q", "Must not contain NUL characters.")
    conversation = conversation_of_participant(user, conversation_id)
    query = _messages(conversation).filter(content__icontains=term)
    if cursor is not None:
        return _cursored(query, cursor, page.limit)
    return _paged(query, page)


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
