"""The /api/chat endpoints: thin views that parse, call a service or selector, and wrap the envelope."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from accounts.serializers import user_summary
from chat import schemas, selectors, services
from chat.errors import Invalid
from chat.selectors import Cursor, CursorPage, Page
from chat.serializers import conversations_body, message_body, messages_body, online_for, other_participant
from chat.validation import MAX_ID, parse_send
from chatproject.api import PageRequest, envelope, page_body, page_request
from chatproject.openapi import RETRY_AFTER, CursorQuery, PageQuery, failures

_MESSAGE_ID = re.compile(r"[1-9][0-9]{0,18}")


def _caller(request: Request) -> User:
    return request.user  # type: ignore[return-value]


def _cursor(query: Mapping[str, str]) -> Cursor | None:
    """`?before=<id>` or `?after=<id>` (`after=0`: from the very first message, for a client that
    has none yet); both, or either with `page`, is a 400."""
    values: dict[str, int] = {}
    for name in ("before", "after"):
        raw = query.get(name)
        if raw is None:
            continue
        # ASCII digits only: str.isdigit() accepts superscripts and other scripts' digits, and int()
        # of thousands of digits raises.
        valid = _MESSAGE_ID.fullmatch(raw) or (name == "after" and raw == "0")
        if not valid or int(raw) > MAX_ID:
            what = "a message id (a positive integer), or 0" if name == "after" else "a message id (a positive integer)"
            raise Invalid.field(name, f"Must be {what}.")
        values[name] = int(raw)
    if not values:
        return None
    if len(values) == 2:
        raise Invalid.field("before", "Use either before or after, not both.")
    if "page" in query:
        raise Invalid.field("page", "page cannot be combined with a before/after cursor.")
    return Cursor(**values)


def _message_page(result: Page | CursorPage, page: PageRequest) -> dict[str, Any]:
    items = messages_body(result.items)
    if isinstance(result, CursorPage):
        return {"messages": items, "limit": page.limit, "hasMore": result.has_more}
    return page_body("messages", items, result.total, page)


class SendView(APIView):
    @extend_schema(
        operation_id="sendMessage",
        tags=["chat"],
        summary="Send a message",
        description=(
            "Stores the message (creating the pair's conversation on the first one) and then publishes "
            "`new_message` to WebSocket clients. 201 with the new message; 200 with the first one when "
            "`clientMessageId` repeats one this sender already used."
        ),
        request=schemas.SendRequestSerializer,
        parameters=[RETRY_AFTER],
        responses={
            201: schemas.MessageEnvelope,
            200: schemas.MessageEnvelope,
            **failures(400, 401, 404, 413, 415, 429),
        },
    )
    def post(self, request: Request) -> Response:
        result = services.send_message(_caller(request), parse_send(request.data))
        message = result.message
        body = message_body(message, online_for([message.sender, message.receiver]))
        if result.created:
            return envelope(body, status_code=201, message="Message sent")
        return envelope(body, message="Message already sent")


class ConversationsView(APIView):
    @extend_schema(
        operation_id="listConversations",
        tags=["chat"],
        summary="The caller's conversations, newest activity first",
        parameters=[PageQuery],
        responses={200: schemas.ConversationPageEnvelope, **failures(400, 401)},
    )
    def get(self, request: Request) -> Response:
        page = page_request(request.query_params, default_limit=20)
        result = selectors.conversations_for(_caller(request), page)
        return envelope(page_body("conversations", conversations_body(result.items), result.total, page))


class MessagesView(APIView):
    @extend_schema(
        operation_id="listMessages",
        tags=["chat"],
        summary="Messages of a conversation, oldest first",
        description=(
            "Page mode (`page`, `limit`, default 50) answers a MessagePage; cursor mode (`before` or "
            "`after`, with `limit`) a MessageCursorPage. `before` with `after`, or a cursor with `page`, is a 400."
        ),
        parameters=[CursorQuery],
        responses={200: schemas.MessageListEnvelope, **failures(400, 401, 404)},
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        page = page_request(request.query_params, default_limit=50)
        cursor = _cursor(request.query_params)
        result = selectors.messages_in(_caller(request), conversation_id, page, cursor)
        return envelope(_message_page(result, page))


class SearchView(APIView):
    @extend_schema(
        operation_id="searchMessages",
        tags=["chat"],
        summary="Case-insensitive substring search in a conversation, oldest first",
        description="Paged or cursored like listMessages.",
        parameters=[schemas.SearchQuery, CursorQuery],
        responses={200: schemas.MessageListEnvelope, **failures(400, 401, 404)},
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        page = page_request(request.query_params, default_limit=50)
        cursor = _cursor(request.query_params)
        term = request.query_params.get("q", "")
        result = selectors.search(_caller(request), conversation_id, term, page, cursor)
        return envelope(_message_page(result, page))


class ReadView(APIView):
    @extend_schema(
        operation_id="markRead",
        tags=["chat"],
        summary="Mark every message sent to the caller in the conversation as read",
        request=None,
        responses={200: schemas.ReadResultEnvelope, **failures(401, 404)},
    )
    def put(self, request: Request, conversation_id: int) -> Response:
        result = services.mark_read(_caller(request), conversation_id)
        return envelope({"updated": result.updated})


class UnreadCountView(APIView):
    @extend_schema(
        operation_id="unreadCount",
        tags=["chat"],
        summary="How many messages sent to the caller are unread, over all conversations",
        responses={200: schemas.UnreadCountEnvelope, **failures(401)},
    )
    def get(self, request: Request) -> Response:
        return envelope({"unreadCount": selectors.unread_count(_caller(request))})


class UnreadView(APIView):
    @extend_schema(
        operation_id="unreadConversations",
        tags=["chat"],
        summary="The caller's conversations with unread messages, and their counts",
        responses={200: schemas.UnreadEnvelope, **failures(401)},
    )
    def get(self, request: Request) -> Response:
        user = _caller(request)
        rows = selectors.unread_by_conversation(user)
        others = [other_participant(row.conversation, user.pk) for row in rows]
        online = online_for(others)
        return envelope(
            {
                "conversations": [
                    {
                        "conversation_id": row.conversation.pk,
                        "unread_count": row.unread_count,
                        "other_participant": user_summary(other, online),
                        "last_message": row.conversation.last_message,
                        "last_message_at": row.conversation.last_message_at,
                    }
                    for row, other in zip(rows, others, strict=True)
                ]
            }
        )


class MessageView(APIView):
    @extend_schema(
        operation_id="deleteMessage",
        tags=["chat"],
        summary="Soft-delete a message (its sender only)",
        responses={200: schemas.DeletedEnvelope, **failures(401, 403, 404)},
    )
    def delete(self, request: Request, message_id: int) -> Response:
        message = services.delete_message(_caller(request), message_id)
        return envelope({"id": message.pk, "conversation_id": message.conversation_id}, message="Message deleted")
