"""The /api/chat endpoints: each parses its input, makes one service or selector call, and wraps the envelope."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from accounts.schemas import UserPageEnvelope
from accounts.selectors import active_users
from accounts.serializers import UserSearchSerializer
from chat import links, metrics, payloads
from chat.rest import schemas
from chat.rest.presenters import (
    conversations_body,
    message_body,
    messages_body,
    other_participant,
    report_body,
    seen_by,
    state_body,
)
from chat.rest.uploads import UploadParser, upload_of
from chat.selectors import attachments as attachment_reads
from chat.selectors import conversations as conversation_reads
from chat.selectors import messages as message_reads
from chat.selectors import people
from chat.services import attachments, blocks, conversations, edits, messages, reactions, reports
from chat.validation import parse_edit, parse_emoji, parse_message_id, parse_mute_until, parse_report, parse_send
from core.errors import Invalid
from core.openapi import RETRY_AFTER, CursorQuery, PageQuery, failures
from core.pagination import CursorPage, Page, PageRequest, cursor_request, page_body, page_request
from core.rest import envelope


def _caller(request: Request) -> User:
    return request.user  # type: ignore[return-value]


def _flag(query: Any, name: str) -> bool:
    """A true/false query parameter (absent or empty: false)."""
    value = query.get(name, "")
    if value in ("", "false", "0"):
        return False
    if value in ("true", "1"):
        return True
    raise Invalid.field(name, "Must be true or false.")


def _message_page(viewer: User, result: Page | CursorPage, page: PageRequest) -> dict[str, Any]:
    items = messages_body(viewer, result.items)
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
        result = messages.send_message(sender=_caller(request), request=parse_send(request.data))
        if result.created:
            metrics.message_sent("rest")
        message = result.message
        body = message_body(message, seen_by(message.sender, [message.sender, message.receiver]))
        if result.created:
            return envelope(body, status_code=201, message="Message sent")
        return envelope(body, message="Message already sent")


class AttachmentsView(APIView):
    parser_classes = [UploadParser]

    @extend_schema(
        operation_id="uploadAttachment",
        tags=["chat"],
        summary="Upload a file to attach to a message",
        description=(
            "multipart/form-data with the file in the part `file`. The type is sniffed from the bytes "
            "(never the client's Content-Type or name); allowed: `ATTACHMENT_TYPES` (by default JPEG, PNG, "
            "GIF, WebP, PDF and plain text). Images are re-encoded without their metadata (EXIF, GPS) and get "
            "a WebP thumbnail of at most 320x320. Over `ATTACHMENT_MAX_BYTES` is a 413, refused from the "
            "Content-Length before the body is read. The upload is the caller's until a send names it in "
            "`attachmentIds`; unsent, it is removed after 24 h. `url` and `thumbnail_url` expire after "
            "`ATTACHMENT_URL_TTL_SECONDS`."
        ),
        request={"multipart/form-data": schemas.UploadRequestSerializer},
        parameters=[RETRY_AFTER],
        responses={201: schemas.AttachmentEnvelope, **failures(400, 401, 413, 415, 429)},
    )
    def post(self, request: Request) -> Response:
        attachment = attachments.upload_attachment(uploader=_caller(request), upload=upload_of(request))
        return envelope(payloads.attachment(attachment), status_code=201, message="File uploaded")


class AttachmentFileView(APIView):
    """A file behind a signed link: the link is the credential (an <img> sends no token)."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="attachmentFile",
        tags=["chat"],
        summary="The file of a signed attachment link (url / thumbnail_url)",
        description=(
            "Needs no token: the signed link is the credential, handed only to the uploader and the "
            "conversation's participants. A tampered or expired link, or one whose message was deleted, "
            "is a 404. Images are served inline, other files as downloads."
        ),
        parameters=[OpenApiParameter("token", str, OpenApiParameter.PATH, description="The link's signed token.")],
        responses={
            (200, "*/*"): OpenApiResponse(OpenApiTypes.BINARY, description="The file's bytes, with its own type."),
            **failures(404),
        },
    )
    def get(self, request: Request, token: str) -> HttpResponseBase:
        served = attachment_reads.file_of_link(token)
        response = FileResponse(
            attachments.storage().open(served.name, "rb"),
            content_type=links.served_type(served.attachment, served.kind),
        )
        response["Content-Disposition"] = links.disposition(served.attachment, served.kind)
        # The bytes are the uploader's: never a page of ours (no script, no frames, no plugins).
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response["Cache-Control"] = "private, max-age=300"
        return response


class ConversationsView(APIView):
    @extend_schema(
        operation_id="listConversations",
        tags=["chat"],
        summary="The caller's conversations, newest activity first",
        description="Those the caller has not archived; with `archived=true`, only the archived ones.",
        parameters=[PageQuery, schemas.ConversationsQuery],
        responses={200: schemas.ConversationPageEnvelope, **failures(400, 401)},
    )
    def get(self, request: Request) -> Response:
        page = page_request(request.query_params, default_limit=20)
        archived = _flag(request.query_params, "archived")
        user = _caller(request)
        result = conversation_reads.conversations_for(user, page=page, archived=archived)
        return envelope(page_body("conversations", conversations_body(user, result.items), result.total, page))


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
        cursor = cursor_request(request.query_params)
        result = message_reads.messages_in(_caller(request), conversation_id, page=page, cursor=cursor)
        return envelope(_message_page(_caller(request), result, page))


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
        cursor = cursor_request(request.query_params)
        term = request.query_params.get("q", "")
        result = message_reads.search(_caller(request), conversation_id, term, page=page, cursor=cursor)
        return envelope(_message_page(_caller(request), result, page))


class SearchEverywhereView(APIView):
    @extend_schema(
        operation_id="searchAllMessages",
        tags=["chat"],
        summary="Case-insensitive substring search over all the caller's conversations, newest first",
        description=(
            "The `limit` (default 50) newest matches, or with `before` the ones just older than that message; "
            "`hasMore` says whether older ones exist. Only the caller's own conversations are searched; deleted "
            "messages never match, and an edited one matches its current text only. `after` and `page` are 400s."
        ),
        parameters=[schemas.SearchQuery, schemas.SearchEverywhereQuery],
        responses={200: schemas.MessageCursorPageEnvelope, **failures(400, 401)},
    )
    def get(self, request: Request) -> Response:
        query = request.query_params
        for unsupported in ("after", "page"):
            if unsupported in query:
                raise Invalid.field(unsupported, "Search over all conversations goes back by `before` only.")
        page = page_request(query, default_limit=50)
        cursor = cursor_request(query)
        before = cursor.before if cursor is not None else None
        result = message_reads.search_everywhere(_caller(request), query.get("q", ""), before=before, limit=page.limit)
        items = messages_body(_caller(request), result.items)
        return envelope({"messages": items, "limit": page.limit, "hasMore": result.has_more})


class ReadView(APIView):
    @extend_schema(
        operation_id="markRead",
        tags=["chat"],
        summary="Mark every message sent to the caller in the conversation as read",
        request=None,
        responses={200: schemas.ReadResultEnvelope, **failures(401, 404)},
    )
    def put(self, request: Request, conversation_id: int) -> Response:
        result = conversations.mark_read(user=_caller(request), conversation_id=conversation_id)
        return envelope({"updated": result.updated})


class UnreadCountView(APIView):
    @extend_schema(
        operation_id="unreadCount",
        tags=["chat"],
        summary="How many messages sent to the caller are unread, over all conversations",
        responses={200: schemas.UnreadCountEnvelope, **failures(401)},
    )
    def get(self, request: Request) -> Response:
        return envelope({"unreadCount": conversation_reads.unread_count(_caller(request))})


class UnreadView(APIView):
    @extend_schema(
        operation_id="unreadConversations",
        tags=["chat"],
        summary="The caller's conversations with unread messages, and their counts",
        responses={200: schemas.UnreadEnvelope, **failures(401)},
    )
    def get(self, request: Request) -> Response:
        user = _caller(request)
        rows = conversation_reads.unread_by_conversation(user)
        others = [other_participant(row.conversation, user.pk) for row in rows]
        seen = seen_by(user, others)
        return envelope(
            {
                "conversations": [
                    {
                        "conversation_id": row.conversation.pk,
                        "unread_count": row.unread_count,
                        "other_participant": seen.summary(other),
                        "last_message": row.conversation.last_message,
                        "last_message_at": row.conversation.last_message_at,
                    }
                    for row, other in zip(rows, others, strict=True)
                ]
            }
        )


class MessageView(APIView):
    @extend_schema(
        operation_id="editMessage",
        tags=["chat"],
        summary="Edit a message (its sender only, within the edit window)",
        description=(
            "Replaces the text and keeps the earlier one in the message's history; `edited_at` is set and "
            "`message_edited` is published. The same content rules as a send. Within "
            "`MESSAGE_EDIT_WINDOW_SECONDS` of `createdAt` (403 after, or always when edits are off); "
            "the receiver gets 403, an outsider or a deleted message 404. An unchanged text is a 200 "
            "with nothing stored or published."
        ),
        request=schemas.EditRequestSerializer,
        responses={200: schemas.MessageEnvelope, **failures(400, 401, 403, 404, 413, 415)},
    )
    def patch(self, request: Request, message_id: int) -> Response:
        result = edits.edit_message(user=_caller(request), request=parse_edit(request.data, message_id))
        message = result.message
        body = message_body(message, seen_by(_caller(request), [message.sender, message.receiver]))
        return envelope(body, message="Message edited" if result.changed else "Message unchanged")

    @extend_schema(
        operation_id="deleteMessage",
        tags=["chat"],
        summary="Soft-delete a message (its sender only)",
        responses={200: schemas.DeletedEnvelope, **failures(401, 403, 404)},
    )
    def delete(self, request: Request, message_id: int) -> Response:
        message = messages.delete_message(user=_caller(request), message_id=message_id)
        return envelope({"id": message.pk, "conversation_id": message.conversation_id}, message="Message deleted")


class MessageHistoryView(APIView):
    @extend_schema(
        operation_id="messageHistory",
        tags=["chat"],
        summary="Every text a message has had, oldest first",
        description="The original with its `createdAt`, then each edit with its time; the last is the current text.",
        responses={200: schemas.HistoryEnvelope, **failures(401, 404)},
    )
    def get(self, request: Request, message_id: int) -> Response:
        versions = message_reads.versions_of(_caller(request), message_id)
        return envelope({"versions": [{"content": v.content, "at": v.at} for v in versions]})


def _reactions_body(result: reactions.ReactionResult) -> dict[str, Any]:
    return {"message_id": result.message.pk, "reactions": payloads.reactions(result.reactions)}


_REACTION_PATH = OpenApiParameter(
    "emoji",
    str,
    location=OpenApiParameter.PATH,
    description="One emoji (one grapheme cluster Unicode calls an emoji), URL-encoded: `%F0%9F%91%8D` for 👍.",
)


class ReactionView(APIView):
    @extend_schema(
        operation_id="addReaction",
        tags=["chat"],
        summary="Add the caller's reaction to a message",
        description=(
            "Idempotent: a reaction the caller already has is a 200 with nothing stored or published. "
            "At most 20 distinct emoji per message (a 21st is a 400). `reaction_added` goes to the room "
            "and both participants after commit. Participants only (404 otherwise, and for a deleted message)."
        ),
        parameters=[_REACTION_PATH],
        request=None,
        responses={200: schemas.ReactionsEnvelope, **failures(400, 401, 404)},
    )
    def put(self, request: Request, message_id: int, emoji: str) -> Response:
        result = reactions.add_reaction(user=_caller(request), message_id=message_id, emoji=parse_emoji(emoji))
        return envelope(_reactions_body(result))

    @extend_schema(
        operation_id="removeReaction",
        tags=["chat"],
        summary="Remove the caller's reaction from a message",
        description=(
            "Idempotent: removing a reaction the caller does not have is a 200 with nothing published; "
            "`reaction_removed` when one went. Participants only (404 otherwise, and for a deleted message)."
        ),
        parameters=[_REACTION_PATH],
        responses={200: schemas.ReactionsEnvelope, **failures(400, 401, 404)},
    )
    def delete(self, request: Request, message_id: int, emoji: str) -> Response:
        result = reactions.remove_reaction(user=_caller(request), message_id=message_id, emoji=parse_emoji(emoji))
        return envelope(_reactions_body(result))


class UserDirectoryView(APIView):
    """Active users other than the caller, to start a chat with (served at /api/auth/users)."""

    @extend_schema(
        operation_id="listUsers",
        tags=["auth"],
        summary="Active users to start a chat with (not the caller), by username",
        parameters=[PageQuery, UserSearchSerializer],
        responses={200: UserPageEnvelope, **failures(400, 401)},
    )
    def get(self, request: Request) -> Response:
        page = page_request(request.query_params, default_limit=20)
        search = UserSearchSerializer(data=request.query_params)
        search.is_valid(raise_exception=True)
        term = search.validated_data.get("search", "").strip()
        user = _caller(request)
        result = active_users(excluding=user, search=term, page=page)
        seen = seen_by(user, result.items)
        return envelope(page_body("users", [seen.summary(u) for u in result.items], result.total, page))


# --- Conversation state and safety ------------------------------------------------------------


class BlocksView(APIView):
    @extend_schema(
        operation_id="listBlocks",
        tags=["chat"],
        summary="The users the caller blocks, most recently blocked first",
        responses={200: schemas.BlocksEnvelope, **failures(401)},
    )
    def get(self, request: Request) -> Response:
        user = _caller(request)
        blocked = people.blocked_by(user)
        seen = seen_by(user, blocked)
        return envelope({"users": [seen.summary(u) for u in blocked]})


class BlockView(APIView):
    @extend_schema(
        operation_id="blockUser",
        tags=["chat"],
        summary="Block a user (idempotent)",
        description=(
            "While either of two users blocks the other, sends between them are a 403, no typing, presence "
            "or join/leave event passes between them and each sees the other offline; history stays readable."
        ),
        request=None,
        responses={200: schemas.BlockEnvelope, **failures(400, 401, 404)},
    )
    def put(self, request: Request, user_id: int) -> Response:
        user = _caller(request)
        other = blocks.block(user=user, other_id=user_id)
        return envelope({"user": seen_by(user, [other]).summary(other), "blocked": True})

    @extend_schema(
        operation_id="unblockUser",
        tags=["chat"],
        summary="Unblock a user (idempotent)",
        responses={200: schemas.BlockEnvelope, **failures(400, 401, 404)},
    )
    def delete(self, request: Request, user_id: int) -> Response:
        user = _caller(request)
        other = blocks.unblock(user=user, other_id=user_id)
        return envelope({"user": seen_by(user, [other]).summary(other), "blocked": False})


class MuteView(APIView):
    @extend_schema(
        operation_id="muteConversation",
        tags=["chat"],
        summary="Mute a conversation for the caller: no message_notification until `until`",
        description="`until` null or absent: until unmuted. The mute lapses by itself at `until`.",
        request=schemas.MuteRequestSerializer,
        responses={200: schemas.ConversationStateEnvelope, **failures(400, 401, 404, 413, 415)},
    )
    def put(self, request: Request, conversation_id: int) -> Response:
        until = parse_mute_until(request.data)
        state = conversations.mute(user=_caller(request), conversation_id=conversation_id, until=until)
        return envelope(state_body(state))

    @extend_schema(
        operation_id="unmuteConversation",
        tags=["chat"],
        summary="Unmute a conversation for the caller",
        responses={200: schemas.ConversationStateEnvelope, **failures(401, 404)},
    )
    def delete(self, request: Request, conversation_id: int) -> Response:
        return envelope(state_body(conversations.unmute(user=_caller(request), conversation_id=conversation_id)))


class ArchiveView(APIView):
    @extend_schema(
        operation_id="archiveConversation",
        tags=["chat"],
        summary="Archive a conversation for the caller (out of the default list until a message comes in)",
        request=None,
        responses={200: schemas.ConversationStateEnvelope, **failures(401, 404)},
    )
    def put(self, request: Request, conversation_id: int) -> Response:
        return envelope(state_body(conversations.archive(user=_caller(request), conversation_id=conversation_id)))

    @extend_schema(
        operation_id="unarchiveConversation",
        tags=["chat"],
        summary="Unarchive a conversation for the caller",
        responses={200: schemas.ConversationStateEnvelope, **failures(401, 404)},
    )
    def delete(self, request: Request, conversation_id: int) -> Response:
        return envelope(state_body(conversations.unarchive(user=_caller(request), conversation_id=conversation_id)))


class MarkUnreadView(APIView):
    @extend_schema(
        operation_id="markUnread",
        tags=["chat"],
        summary="Count the messages sent to the caller from fromMessageId on as unread again, for the caller only",
        description=(
            "Only the caller's unread counts change (`unread_count`, /unread, /unread-count); the sender's "
            "`is_read`/`read_at` stay and the sender is told nothing. The caller's sockets get "
            "`conversation_unread`. Marking the conversation read clears it."
        ),
        request=schemas.MarkUnreadRequestSerializer,
        responses={200: schemas.MarkUnreadEnvelope, **failures(400, 401, 404, 413, 415)},
    )
    def put(self, request: Request, conversation_id: int) -> Response:
        from_id = parse_message_id(request.data, "fromMessageId")
        updated = conversations.mark_unread(
            user=_caller(request), conversation_id=conversation_id, from_message_id=from_id
        )
        return envelope({"updated": updated})


class DeliveredView(APIView):
    @extend_schema(
        operation_id="markDelivered",
        tags=["chat"],
        summary="The caller's client has received every message up to upToMessageId (for clients woken by a push)",
        description=(
            "Moves the caller's delivery pointer forward (never back, never past the newest message sent to "
            "the caller); the sender's sockets get `messages_delivered` when it moves."
        ),
        request=schemas.DeliveredRequestSerializer,
        responses={200: schemas.DeliveryEnvelope, **failures(400, 401, 404, 413, 415)},
    )
    def put(self, request: Request, conversation_id: int) -> Response:
        up_to = parse_message_id(request.data, "upToMessageId")
        delivery = conversations.mark_delivered_up_to(
            user=_caller(request), conversation_id=conversation_id, up_to_message_id=up_to
        )
        return envelope(
            {
                "conversation_id": delivery.conversation_id,
                "up_to_message_id": delivery.up_to_message_id,
                "delivered_at": delivery.delivered_at,
            }
        )


class ReportView(APIView):
    @extend_schema(
        operation_id="reportMessage",
        tags=["chat"],
        summary="Report a message to the moderators (its receiver only)",
        description="201 with the new report; 200 with the first one when the caller reported this message before.",
        request=schemas.ReportRequestSerializer,
        responses={
            201: schemas.ReportEnvelope,
            200: schemas.ReportEnvelope,
            **failures(400, 401, 403, 404, 413, 415),
        },
    )
    def post(self, request: Request, message_id: int) -> Response:
        body = parse_report(request.data)
        result = reports.report_message(user=_caller(request), message_id=message_id, request=body)
        if result.created:
            return envelope(report_body(result.report), status_code=201, message="Report received")
        return envelope(report_body(result.report), message="Already reported")
