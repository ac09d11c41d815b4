"""Conversations between two users and the messages in them."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q

PREVIEW_LENGTH = 255


def preview_of(content: str, attachments: int) -> str:
    """A conversation's `last_message` for a message: its text, or for one with attachments only,
    a line a list can show (an empty preview reads as a blank message)."""
    if content or not attachments:
        return content[:PREVIEW_LENGTH]
    return "📎 Attachment" if attachments == 1 else f"📎 {attachments} attachments"


REPLY_SNIPPET_LENGTH = 200  # a reply's quote of its parent
EMOJI_MAX_LENGTH = 64  # the longest single-emoji sequences (tagged flags, family ZWJ sequences) are far shorter


class Conversation(models.Model):
    """One per pair of users; participant_1 always has the smaller id.

    `last_seq` is the counter behind Message.seq: a send increments it while holding this
    row's lock, which makes seq gap-free and message ids follow commit order.
    """

    # No single-column indexes on the participants: conversation_pair_unique / conv_p1_recent lead
    # with participant_1 and conv_p2_recent with participant_2. A redundant smaller index is
    # what PostgreSQL would pick instead of the recency ones, and it costs every insert.
    participant_1 = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    participant_2 = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    last_message = models.CharField(max_length=PREVIEW_LENGTH, null=True, blank=True)  # noqa: DJ001 - null is the contract
    last_message_at = models.DateTimeField(null=True, blank=True)
    last_seq = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["participant_1", "participant_2"], name="conversation_pair_unique"),
            models.CheckConstraint(
                condition=Q(participant_1__lt=F("participant_2")), name="conversation_participants_ordered"
            ),
        ]
        indexes = [
            # The conversation list: a user's conversations, newest activity first. last_message_at
            # is never null once a conversation exists (a send creates it; with every message
            # deleted it falls back to created_at), so no NULLS ordering is needed.
            models.Index(F("participant_1"), F("last_message_at").desc(), F("id").desc(), name="conv_p1_recent"),
            models.Index(F("participant_2"), F("last_message_at").desc(), F("id").desc(), name="conv_p2_recent"),
        ]

    def __str__(self) -> str:
        return f"Conversation {self.pk} ({self.participant_1_id} ↔ {self.participant_2_id})"

    def has_participant(self, user_id: int) -> bool:
        return user_id in (self.participant_1_id, self.participant_2_id)

    def other_participant_id(self, user_id: int) -> int:
        return self.participant_2_id if user_id == self.participant_1_id else self.participant_1_id


class VisibleMessageManager(models.Manager["Message"]):
    """Messages that are not soft-deleted: what every list, search and count sees."""

    def get_queryset(self) -> models.QuerySet[Message]:
        return super().get_queryset().filter(deleted_at__isnull=True)


class Message(models.Model):
    # Indexed by msg_conversation_id (conversation, id), which also orders history; see Conversation.
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False)
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    receiver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    seq = models.PositiveBigIntegerField()
    content = models.TextField()
    attachment_url = models.CharField(max_length=2048, null=True, blank=True)  # noqa: DJ001 - null is the contract
    is_read = models.BooleanField(default=False)
    read_at = models.DateTimeField(null=True, blank=True)
    # null, not "", so the partial unique constraint ignores messages without one.
    client_message_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    deleted_at = models.DateTimeField(null=True, blank=True, db_column="deletedAt")
    edited_at = models.DateTimeField(null=True, blank=True)
    # SET_NULL: a purged parent (chat.services.moderation) leaves its replies standing, unquoted. Indexed
    # by msg_reply_to (partial: only replies), which the purge's SET NULL reads.
    reply_to = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replies", db_index=False
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    # Derived, never stored: when the receiver's client confirmed it, from the receiver's delivery
    # pointer (ConversationState); the reads that show messages set it (chat.selectors.messages).
    delivered_at: datetime | None = None

    objects = VisibleMessageManager()
    all_objects = models.Manager()  # noqa: DJ012 - includes soft-deleted rows (admin, purge)

    # The message's reactions in id order, when a read loaded them with the message (chat.selectors
    # prefetch them for a whole page in one query; a new message has none).
    reaction_list: list[Reaction]

    class Meta:
        base_manager_name = "all_objects"
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="message_conversation_seq_unique"),
            models.UniqueConstraint(
                fields=["sender", "client_message_id"],
                condition=Q(client_message_id__isnull=False),
                name="message_sender_client_id_unique",
            ),
        ]
        indexes = [
            # History and cursors: a conversation's messages in id order.
            models.Index(fields=["conversation", "id"], name="msg_conversation_id"),
            # Unread counts: only unread, visible rows are indexed (partial on PostgreSQL and SQLite).
            models.Index(
                fields=["receiver", "conversation"],
                condition=Q(is_read=False, deleted_at__isnull=True),
                name="msg_unread_by_receiver",
            ),
            models.Index(fields=["reply_to"], condition=Q(reply_to__isnull=False), name="msg_reply_to"),
        ]

    def __str__(self) -> str:
        return f"Message {self.pk} (#{self.seq} in {self.conversation_id})"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def attachment_items(self) -> list[Attachment]:
        """Its attachments in upload order: the list a read prefetched (`with_attachments`) or a
        send set, else one query (none for a message that was never stored)."""
        found: list[Attachment] | None = self.__dict__.get(ATTACHMENTS_ATTR)
        if found is None and self._state.adding:  # never stored: nothing can point at it
            return []
        if found is None:
            found = list(Attachment.objects.filter(message_id=self.pk).order_by("id"))
            self.__dict__[ATTACHMENTS_ATTR] = found
        return found


class Block(models.Model):
    """`blocker` blocks `blocked`: while either of a pair blocks the other, nothing passes between them."""

    blocker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    blocked = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Leads with blocker, so it also serves "whom does this user block"; `blocked` has its own.
            models.UniqueConstraint(fields=["blocker", "blocked"], name="block_pair_unique"),
            models.CheckConstraint(condition=~Q(blocker=F("blocked")), name="block_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.blocker_id} blocks {self.blocked_id}"


class ConversationState(models.Model):
    """One participant's own state of a conversation: mute, archive, unread mark, delivery pointer.

    A row exists only once the participant changed something (or a client confirmed delivery);
    no row reads as "not muted, not archived, nothing marked, nothing delivered".
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="states")
    # Muted while `muted` and (no `muted_until`, or it is still ahead): a mute lapses by itself.
    muted = models.BooleanField(default=False)
    muted_until = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    # Messages to `user` with an id from this one on count as unread for `user` (mark unread).
    unread_from_id = models.BigIntegerField(null=True, blank=True)
    # The receiver's client has everything up to this message id; `delivered_at` is when it last moved.
    delivered_up_to_id = models.BigIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "conversation"], name="conversation_state_unique"),
        ]

    def __str__(self) -> str:
        return f"State of conversation {self.conversation_id} for user {self.user_id}"

    def is_muted(self, now: datetime) -> bool:
        """Whether the mute holds at `now`: it lapses by itself at `muted_until`, with no job."""
        return self.muted and (self.muted_until is None or self.muted_until > now)


class Report(models.Model):
    """A receiver's report of a message, for staff to act on in the admin's moderation queue."""

    class Reason(models.TextChoices):
        SPAM = "spam"
        ABUSE = "abuse"
        OTHER = "other"

    class Status(models.TextChoices):
        OPEN = "open"
        DISMISSED = "dismissed"
        ACTIONED = "actioned"

    # SET_NULL: a purged message (purge_deleted) leaves its reports, the record of what staff did.
    message = models.ForeignKey(Message, on_delete=models.SET_NULL, null=True, related_name="reports", db_index=False)
    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # What was reported, as it was when reported: the message may be edited or purged later.
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    content = models.TextField(blank=True, default="")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    note = models.TextField(max_length=1000, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # What staff did: "dismissed", "message deleted", "sender deactivated".
    resolution = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "reporter"], name="report_once_per_reporter"),
        ]
        indexes = [models.Index(fields=["status", "-created_at"], name="report_queue")]

    def __str__(self) -> str:
        return f"Report {self.pk} of message {self.message_id} ({self.status})"


class MessageVersion(models.Model):
    """A text a message had before an edit replaced it, with the time it became the text.

    The current text stays on the Message (which search reads); the history is these rows,
    oldest first, then the message's own content.
    """

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="versions", db_index=False)
    content = models.TextField()
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["message", "id"], name="msgversion_message_id")]

    def __str__(self) -> str:
        return f"Version {self.pk} of message {self.message_id}"


class Reaction(models.Model):
    """One user's emoji on one message; a message's reactions are read in id order (first use)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    emoji = models.CharField(max_length=EMOJI_MAX_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Leads with message: it is also the index the page's prefetch reads.
            models.UniqueConstraint(fields=["message", "user", "emoji"], name="reaction_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.emoji} by {self.user_id} on message {self.message_id}"


ATTACHMENTS_ATTR = "prefetched_attachments"


def with_attachments(messages: models.QuerySet[Message]) -> models.QuerySet[Message]:
    """The messages with their attachments, in one more query for the whole list."""
    return messages.prefetch_related(
        models.Prefetch("attachments", queryset=Attachment.objects.order_by("id"), to_attr=ATTACHMENTS_ATTR)
    )


class Attachment(models.Model):
    """An uploaded file: its uploader's until a send puts it in a message (`message` set).

    `file` and `thumbnail` are names in the default storage (STORAGES), made of a random token and
    never of the client's file name, which is kept, cleaned, in `name` for display only.
    """

    uploader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="attachments", null=True, blank=True, db_index=False
    )
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=127)
    size = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    file = models.CharField(max_length=255)
    thumbnail = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # A message's attachments (every message list prefetches them).
            models.Index(fields=["message", "id"], name="attachment_message_id"),
            # Unsent uploads: the sender's check and the 24 h sweep.
            models.Index(
                fields=["uploader", "created_at"], condition=Q(message__isnull=True), name="attachment_unsent"
            ),
            models.Index(fields=["created_at"], condition=Q(message__isnull=True), name="attachment_unsent_age"),
        ]

    def __str__(self) -> str:
        return f"Attachment {self.pk} ({self.content_type}, {self.size} bytes)"

    @property
    def is_image(self) -> bool:
        return bool(self.thumbnail)
