"""OpenAPI shapes of the /api/chat requests and responses (the dicts chat.rest.presenters builds).

Request rules mirror chat.validation: the schema is exactly as strict as the server, so a
client generator's checks and the server's agree.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from accounts.schemas import UserSummarySerializer
from chat.models import REPLY_SNIPPET_LENGTH
from chat.selectors.messages import MAX_SEARCH_LENGTH
from chat.validation import (
    MAX_ATTACHMENTS,
    MAX_CLIENT_ID_LENGTH,
    MAX_CONTENT_LENGTH,
    MAX_REPORT_NOTE_LENGTH,
    MAX_URL_LENGTH,
    REPORT_REASONS,
)
from core.db import MAX_ID
from core.openapi import PageFields, enveloped

# Whitespace as Python's str.isspace() (and so str.strip()) sees it, spelled out: a regex `\s`
# means less in ECMAScript (no \x1c-\x1f, no \x85), which client generators and fuzzers use.
_WS = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Not blank (some character that is not whitespace) and no NUL anywhere.
_NOT_BLANK = RegexValidator(rf"^[^\x00]*[^{_WS}\x00][^\x00]*$", "Must not be blank or contain NUL.")


@extend_schema_field({"type": "string", "maxLength": MAX_CONTENT_LENGTH, "pattern": "^[^\\x00]*$"})
class _SendContentField(serializers.Field):  # type: ignore[type-arg]
    """A send's text: any string without NUL, blank too (with attachments it may be). Not a
    CharField: spectacular spells its `allow_blank` as a oneOf that "" would match twice."""


# http(s), a host part of printable ASCII without brackets (the server's urlsplit refuses
# unbalanced or invalid [IPv6] hosts and some non-ASCII ones) up to the first / ? or #, then no
# whitespace or NUL. (Anything after the host's ASCII but before a / is still the host to urlsplit.)
_HTTP_URL = RegexValidator(
    rf"^[Hh][Tt][Tt][Pp][Ss]?://[\x21\x22\x24-\x2e\x30-\x3e\x40-\x5a\x5c\x5e-\x7e]+(?:[/?#][^{_WS}\x00]*)?$",
    "Must be an http or https URL.",
)


class SendRequestSerializer(serializers.Serializer[Any]):
    """POST /api/chat/send. Other keys are ignored; the server sets ids, seq, times and flags."""

    receiverId = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text="Another active user: yourself is a 400, nobody a 404."
    )
    content = _SendContentField(
        required=False,
        help_text=(
            "Stored exactly as sent (never trimmed or HTML-escaped). Required and not blank, unless "
            "attachmentIds names at least one upload: then it may be empty or left out."
        ),
    )
    attachmentUrl = serializers.CharField(
        required=False, allow_null=True, max_length=MAX_URL_LENGTH, validators=[_HTTP_URL]
    )
    clientMessageId = serializers.CharField(
        required=False,
        allow_null=True,
        min_length=1,
        max_length=MAX_CLIENT_ID_LENGTH,
        trim_whitespace=False,
        help_text="Makes the send idempotent: a repeat returns the first message with 200.",
    )
    conversationId = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_ID,
        help_text="When given, the conversation with receiverId (someone else's is a 404, another of yours a 400).",
    )
    replyToId = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_ID,
        help_text="A visible message of this conversation to reply to; anything else is a 400.",
    )
    attachmentIds = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        allow_null=True,
        max_length=MAX_ATTACHMENTS,
        help_text=(
            "Distinct ids of the sender's own uploads (POST /api/chat/attachments) that are in no message yet; "
            "any other is a 400 and nothing is stored."
        ),
    )

    class Meta:
        ref_name = "Send"


class EditRequestSerializer(serializers.Serializer[Any]):
    """PATCH /api/chat/messages/:id. Other keys are ignored."""

    content = serializers.CharField(
        max_length=MAX_CONTENT_LENGTH,
        trim_whitespace=False,
        validators=[_NOT_BLANK],
        help_text="The new text, by the send's rules; stored exactly as sent.",
    )

    class Meta:
        ref_name = "Edit"

    # drf-spectacular documents every PATCH body as partial (all fields optional), but an edit
    # without `content` is a 400: this schema stays whole.
    @property
    def partial(self) -> bool:
        return False

    @partial.setter
    def partial(self, value: bool) -> None:
        pass


class ReactionSerializer(serializers.Serializer[Any]):
    emoji = serializers.CharField()
    count = serializers.IntegerField(min_value=1)
    userIds = serializers.ListField(child=serializers.IntegerField(), help_text="Who reacted, in the order they did.")

    class Meta:
        ref_name = "Reaction"


# Inline rather than a nested nullable serializer: drf-spectacular would write that as
# `allOf: [$ref]` beside `nullable`, which OpenAPI 3.0 validators do not read as "or null".
@extend_schema_field(
    {
        "type": "object",
        "nullable": True,
        "description": "What a reply quotes of its parent; null when the message is not a reply.",
        "required": ["id", "sender_id", "content", "deleted"],
        "properties": {
            "id": {"type": "integer"},
            "sender_id": {"type": "integer"},
            "content": {
                "type": "string",
                "nullable": True,
                "maxLength": REPLY_SNIPPET_LENGTH,
                "description": "The parent's first 200 characters; null once it is deleted.",
            },
            "deleted": {"type": "boolean"},
        },
    }
)
class ReplyToField(serializers.JSONField):
    pass


class UploadRequestSerializer(serializers.Serializer[Any]):
    """POST /api/chat/attachments: multipart/form-data with one part."""

    file = serializers.FileField(help_text="The file; its type is sniffed from its bytes.")

    class Meta:
        ref_name = "Upload"


class AttachmentSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField(
        max_length=255, help_text="The client's file name, cut to a name (no path, control or bidi characters)."
    )
    content_type = serializers.CharField(help_text="Sniffed from the bytes, e.g. image/png.")
    size = serializers.IntegerField(min_value=1, help_text="Bytes stored (an image after re-encoding).")
    width = serializers.IntegerField(allow_null=True, help_text="Pixels; null for a file that is not an image.")
    height = serializers.IntegerField(allow_null=True)
    url = serializers.CharField(
        help_text="Signed link to the file, expiring after ATTACHMENT_URL_TTL_SECONDS: the app's own "
        "/api/chat/files/... path (root-relative) or the object store's presigned https URL."
    )
    thumbnail_url = serializers.CharField(allow_null=True, help_text="A WebP of at most 320x320; null but for images.")

    class Meta:
        ref_name = "Attachment"


class MessageSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    seq = serializers.IntegerField(min_value=1, help_text="1, 2, 3, ... within the conversation, no gaps.")
    sender_id = serializers.IntegerField()
    receiver_id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    content = serializers.CharField(allow_blank=True)
    attachment_url = serializers.CharField(allow_null=True)
    attachments = AttachmentSerializer(many=True, help_text="Files sent with the message, in upload order.")
    is_read = serializers.BooleanField()
    read_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(
        allow_null=True,
        help_text=(
            "Null until the receiver's client confirmed it (or read it): then when the receiver's delivery "
            "pointer last moved past it, never later than read_at."
        ),
    )
    client_message_id = serializers.CharField(allow_null=True)
    edited_at = serializers.DateTimeField(allow_null=True, help_text="When its text was last edited; null if never.")
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()
    sender = UserSummarySerializer()
    receiver = UserSummarySerializer()
    reply_to_id = serializers.IntegerField(allow_null=True, help_text="The message this one replies to, if any.")
    reply_to = ReplyToField(allow_null=True)
    reactions = ReactionSerializer(many=True, help_text="Per emoji, in order of first use; at most 20.")

    class Meta:
        ref_name = "Message"


class ConversationSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    participant_1_id = serializers.IntegerField(help_text="Always smaller than participant_2_id.")
    participant_2_id = serializers.IntegerField()
    last_message = serializers.CharField(allow_null=True, allow_blank=True, help_text="At most 255 characters.")
    last_message_at = serializers.DateTimeField(allow_null=True)
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()
    participant1 = UserSummarySerializer()
    participant2 = UserSummarySerializer()
    unread_count = serializers.IntegerField(min_value=0, help_text="The caller's unread messages in it.")
    blocked = serializers.BooleanField(help_text="Either participant blocks the other.")
    muted = serializers.BooleanField(help_text="The caller muted it and the mute has not lapsed.")
    muted_until = serializers.DateTimeField(allow_null=True, help_text="When the caller's mute lapses; null: never.")
    archived = serializers.BooleanField(help_text="The caller archived it.")

    class Meta:
        ref_name = "Conversation"


class ConversationPageSerializer(PageFields):
    conversations = ConversationSerializer(many=True)

    class Meta:
        ref_name = "ConversationPage"


class MessagePageSerializer(PageFields):
    """Page mode (`page`, `limit`)."""

    messages = MessageSerializer(many=True)

    class Meta:
        ref_name = "MessagePage"


class MessageCursorPageSerializer(serializers.Serializer[Any]):
    """Cursor mode (`before` or `after`): `hasMore` instead of total/page/totalPages."""

    messages = MessageSerializer(many=True)
    limit = serializers.IntegerField(min_value=1, max_value=100)
    hasMore = serializers.BooleanField(help_text="Whether more exist beyond these, in the direction read.")

    class Meta:
        ref_name = "MessageCursorPage"


MessageList = PolymorphicProxySerializer(
    component_name="MessageList",
    serializers=[MessagePageSerializer, MessageCursorPageSerializer],
    resource_type_field_name=None,
)


class UnreadConversationSerializer(serializers.Serializer[Any]):
    conversation_id = serializers.IntegerField()
    unread_count = serializers.IntegerField(min_value=1)
    other_participant = UserSummarySerializer()
    last_message = serializers.CharField(allow_null=True, allow_blank=True)
    last_message_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "UnreadConversation"


class UnreadSerializer(serializers.Serializer[Any]):
    conversations = UnreadConversationSerializer(many=True)

    class Meta:
        ref_name = "Unread"


class UnreadCountSerializer(serializers.Serializer[Any]):
    unreadCount = serializers.IntegerField(min_value=0)

    class Meta:
        ref_name = "UnreadCount"


class ReadResultSerializer(serializers.Serializer[Any]):
    updated = serializers.IntegerField(min_value=0, help_text="How many messages were marked read.")

    class Meta:
        ref_name = "ReadResult"


class DeletedSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()

    class Meta:
        ref_name = "Deleted"


class VersionSerializer(serializers.Serializer[Any]):
    content = serializers.CharField()
    at = serializers.DateTimeField(help_text="When this became the text: createdAt for the original.")

    class Meta:
        ref_name = "MessageVersion"


class HistorySerializer(serializers.Serializer[Any]):
    versions = VersionSerializer(many=True, help_text="Oldest first; the last is the current text.")

    class Meta:
        ref_name = "MessageHistory"


class ReactionsSerializer(serializers.Serializer[Any]):
    message_id = serializers.IntegerField()
    reactions = ReactionSerializer(many=True)

    class Meta:
        ref_name = "MessageReactions"


class SearchQuery(serializers.Serializer[Any]):
    q = serializers.CharField(
        max_length=MAX_SEARCH_LENGTH,
        validators=[_NOT_BLANK],
        help_text="Case-insensitive substring; surrounding spaces are ignored.",
    )


class SearchEverywhereQuery(serializers.Serializer[Any]):
    before = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="The `limit` matches just older than this message id (the last one of the previous page).",
    )
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, help_text="1..100 (default 50).")


class ConversationsQuery(serializers.Serializer[Any]):
    archived = serializers.BooleanField(
        required=False, help_text="true: only the conversations the caller archived (default: only the others)."
    )


class BlockSerializer(serializers.Serializer[Any]):
    user = UserSummarySerializer()
    blocked = serializers.BooleanField(help_text="Whether the caller now blocks this user.")

    class Meta:
        ref_name = "Block"


class BlocksSerializer(serializers.Serializer[Any]):
    users = UserSummarySerializer(many=True)

    class Meta:
        ref_name = "Blocks"


class MuteRequestSerializer(serializers.Serializer[Any]):
    until = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="An ISO 8601 time with its offset, ahead of now; null: until unmuted.",
    )

    class Meta:
        ref_name = "MuteRequest"


class ConversationStateSerializer(serializers.Serializer[Any]):
    conversation_id = serializers.IntegerField()
    muted = serializers.BooleanField()
    muted_until = serializers.DateTimeField(allow_null=True)
    archived = serializers.BooleanField()

    class Meta:
        ref_name = "ConversationState"


class MarkUnreadRequestSerializer(serializers.Serializer[Any]):
    fromMessageId = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text="A visible message of this conversation (else a 400)."
    )

    class Meta:
        ref_name = "MarkUnreadRequest"


class MarkUnreadSerializer(serializers.Serializer[Any]):
    updated = serializers.IntegerField(
        min_value=0, help_text="How many messages sent to the caller from fromMessageId on now count as unread."
    )

    class Meta:
        ref_name = "MarkUnreadResult"


class DeliveredRequestSerializer(serializers.Serializer[Any]):
    upToMessageId = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text="The newest message the client has; clamped to what was sent to it."
    )

    class Meta:
        ref_name = "DeliveredRequest"


class DeliverySerializer(serializers.Serializer[Any]):
    conversation_id = serializers.IntegerField()
    up_to_message_id = serializers.IntegerField(allow_null=True, help_text="The caller's delivery pointer now.")
    delivered_at = serializers.DateTimeField(allow_null=True, help_text="When the pointer last moved.")

    class Meta:
        ref_name = "Delivery"


class ReportRequestSerializer(serializers.Serializer[Any]):
    reason = serializers.ChoiceField(choices=list(REPORT_REASONS))
    note = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=MAX_REPORT_NOTE_LENGTH, trim_whitespace=False
    )

    class Meta:
        ref_name = "ReportRequest"


class ReportSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    message_id = serializers.IntegerField()
    reason = serializers.ChoiceField(choices=list(REPORT_REASONS))
    note = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=["open", "dismissed", "actioned"])
    createdAt = serializers.DateTimeField()

    class Meta:
        ref_name = "Report"


AttachmentEnvelope = enveloped("AttachmentEnvelope", AttachmentSerializer(), message=True)
MessageEnvelope = enveloped("MessageEnvelope", MessageSerializer(), message=True)
ConversationPageEnvelope = enveloped("ConversationPageEnvelope", ConversationPageSerializer())
MessageCursorPageEnvelope = enveloped("MessageCursorPageEnvelope", MessageCursorPageSerializer())
MessageListEnvelope = enveloped("MessageListEnvelope", MessageList)
ReadResultEnvelope = enveloped("ReadResultEnvelope", ReadResultSerializer())
UnreadCountEnvelope = enveloped("UnreadCountEnvelope", UnreadCountSerializer())
UnreadEnvelope = enveloped("UnreadEnvelope", UnreadSerializer())
ReactionsEnvelope = enveloped("ReactionsEnvelope", ReactionsSerializer())
HistoryEnvelope = enveloped("HistoryEnvelope", HistorySerializer())
DeletedEnvelope = enveloped("DeletedEnvelope", DeletedSerializer(), message=True)
BlockEnvelope = enveloped("BlockEnvelope", BlockSerializer())
BlocksEnvelope = enveloped("BlocksEnvelope", BlocksSerializer())
ConversationStateEnvelope = enveloped("ConversationStateEnvelope", ConversationStateSerializer())
MarkUnreadEnvelope = enveloped("MarkUnreadEnvelope", MarkUnreadSerializer())
DeliveryEnvelope = enveloped("DeliveryEnvelope", DeliverySerializer())
ReportEnvelope = enveloped("ReportEnvelope", ReportSerializer(), message=True)
