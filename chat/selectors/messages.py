"""A conversation's history and search in it, by page or by cursor, oldest first; a message's edits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet

from accounts.models import User
from chat.access import conversation_of_participant, message_of_participant
from chat.models import Conversation, ConversationState, Message, MessageVersion, Reaction, with_attachments
from core.errors import Invalid
from core.pagination import Cursor, CursorPage, Page, PageRequest


def displayed(query: QuerySet[Message]) -> QuerySet[Message]:
    """What showing a message needs, for any number of them in a fixed number of queries: its
    users and the message it replies to joined, and every message's reactions and attachments read
    by one more query each (as `reaction_list`, and the list `Message.attachment_items` reads)."""
    reactions = Prefetch("reactions", queryset=Reaction.objects.order_by("id"), to_attr="reaction_list")
    # The stubs' plugin takes to_attr for a new attribute; Message declares it, typed, for the presenters.
    shown = query.select_related("sender", "receiver", "reply_to").prefetch_related(reactions)  # type: ignore[no-redef]
    return with_attachments(shown)


def _messages(conversation: Conversation) -> QuerySet[Message]:
    return displayed(Message.objects.filter(conversation=conversation))


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


def _search_term(term: str) -> str:
    term = term.strip()
    if not term:
        raise Invalid.field("q", "A search term is required.")
    if len(term) > MAX_SEARCH_LENGTH:
        raise Invalid.field("q", f"Must be at most {MAX_SEARCH_LENGTH} characters.")
    if "\x00" in term:  # PostgreSQL cannot take NUL in a string literal
        raise Invalid.field("q", "Must not contain NUL characters.")
    return term


def search_everywhere(user: User, term: str, *, before: int | None, limit: int) -> CursorPage:
    """The caller's messages, in every conversation, that contain `term` (case-insensitive), newest
    first: the `limit` just older than message `before`, or the newest ones.

    A message is the caller's when they sent or received it, which is exactly the messages of their
    conversations (each is between its two participants). On PostgreSQL a rare term is found
    through the trigram index (msg_content_upper_trgm), the caller's through the sender and
    receiver indexes; tests/chat/test_query_plans.py checks the plan.

    One statement in two steps: the page's ids first (matches, newest first, limited), then only
    those rows joined to their users and parents. Joined in one step, PostgreSQL joined every
    match before sorting and limiting (docs/benchmarks.md, message actions).
    """
    term = _search_term(term)
    query = Message.objects.filter(Q(sender=user) | Q(receiver=user), content__icontains=term)
    if before is not None:
        query = query.filter(id__lt=before)
    page_ids = query.order_by("-id").values("id")[: limit + 1]
    rows = list(displayed(Message.objects.filter(id__in=page_ids)).order_by("-id"))
    return CursorPage(with_delivery(rows[:limit]), len(rows) > limit)


def search(
    user: User, conversation_id: int, term: str, *, page: PageRequest, cursor: Cursor | None = None
) -> Page | CursorPage:
    """Case-insensitive substring search; `%` and `_` match themselves (Django escapes them)."""
    term = _search_term(term)
    conversation = conversation_of_participant(user, conversation_id)
    query = _messages(conversation).filter(content__icontains=term)
    if cursor is not None:
        return _cursored(query, cursor, page.limit)
    return _paged(query, page)


@dataclass(frozen=True)
class Version:
    content: str
    at: datetime


def versions_of(user: User, message_id: int) -> list[Version]:
    """Every text a visible message has had, oldest first: the original at its createdAt, then each
    edit at its time (the last one is the current text). Participants only."""
    message = message_of_participant(user, message_id)
    earlier = MessageVersion.objects.filter(message=message).order_by("id").values_list("content", "at")
    return [Version(content, at) for content, at in earlier] + [
        Version(message.content, message.edited_at or message.created_at)
    ]
