"""A conversation's history and search in it, by page or by cursor, oldest first."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from chat.access import conversation_of_participant
from chat.models import Conversation, ConversationState, Message
from core.errors import Invalid
from core.pagination import Cursor, CursorPage, Page, PageRequest


def _messages(conversation: Conversation) -> QuerySet[Message]:
    return Message.objects.filter(conversation=conversation).select_related("sender", "receiver")


def with_delivery(messages: list[Message]) -> list[Message]:
    """Set each message's `delivered_at` from its receiver's delivery pointer (one query): the time
    the pointer last moved, once it covers the message, but never later than `read_at` (reading
    implies delivery)."""
    conversation_ids = {m.conversation_id for m in messages}
    if not conversation_ids:
        return messages
    pointers = {
        (user_id, conversation_id): (up_to, at)
        for user_id, conversation_id, up_to, at in ConversationState.objects.filter(
            conversation_id__in=conversation_ids, delivered_up_to_id__isnull=False
        ).values_list("user_id", "conversation_id", "delivered_up_to_id", "delivered_at")
    }
    for message in messages:
        pointer = pointers.get((message.receiver_id, message.conversation_id))
        covered = pointer is not None and pointer[0] is not None and message.pk <= pointer[0]
        delivered = pointer[1] if pointer is not None and covered else None
        if message.read_at is not None and (delivered is None or message.read_at < delivered):
            delivered = message.read_at
        message.delivered_at = delivered
    return messages


def _paged(query: QuerySet[Message], page: PageRequest) -> Page:
    total = query.count()
    return Page(with_delivery(list(query.order_by("id")[page.offset : page.offset + page.limit])), total)


def _cursored(query: QuerySet[Message], cursor: Cursor, limit: int) -> CursorPage:
    """`limit` messages just older than `before` or just newer than `after`, oldest first."""
    if cursor.before is not None:
        rows = list(query.filter(id__lt=cursor.before).order_by("-id")[: limit + 1])
        has_more = len(rows) > limit
        return CursorPage(with_delivery(list(reversed(rows[:limit]))), has_more)
    rows = list(query.filter(id__gt=cursor.after).order_by("id")[: limit + 1])
    return CursorPage(with_delivery(rows[:limit]), len(rows) > limit)


def messages_in(
    user: User, conversation_id: int, *, page: PageRequest, cursor: Cursor | None = None
) -> Page | CursorPage:
    """History of a conversation, oldest first: by page, or by a before/after cursor."""
    conversation = conversation_of_participant(user, conversation_id)
    query = _messages(conversation)
    if cursor is not None:
        return _cursored(query, cursor, page.limit)
    return _paged(query, page)


MAX_SEARCH_LENGTH = 200


def search(
    user: User, conversation_id: int, term: str, *, page: PageRequest, cursor: Cursor | None = None
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
