"""Django admin for conversations and messages: read-only views, soft-delete moderation, and the
moderation queue of reports.

Staff see soft-deleted messages too (the admin reads `Message.all_objects`). Nothing is edited
in place: conversations and messages are written only by chat.services, so the admin's two
actions (soft-delete, restore) call the service (chat.services.moderation), which keeps seq and the conversation preview
right. Hard deletes are not offered: a removed row would leave a hole in a conversation's seq.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import Case, QuerySet, When
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from accounts.models import User
from chat.models import Conversation, Message, MessageVersion, Report
from chat.services import moderation, reports

# The stubs make ModelAdmin generic in its model; at run time it is not subscriptable.
if TYPE_CHECKING:
    _ConversationAdminBase = admin.ModelAdmin[Conversation]
    _MessageAdminBase = admin.ModelAdmin[Message]
    _ReportAdminBase = admin.ModelAdmin[Report]
    _VersionInlineBase = admin.TabularInline[MessageVersion, Message]
else:
    _ConversationAdminBase = _MessageAdminBase = _ReportAdminBase = admin.ModelAdmin
    _VersionInlineBase = admin.TabularInline

PREVIEW_CHARS = 80


def _user_link(user: User) -> SafeString:
    return format_html('<a href="{}">{}</a>', reverse("admin:accounts_user_change", args=[user.pk]), user.username)


def _conversation_link(conversation_id: int) -> SafeString:
    url = reverse("admin:chat_conversation_change", args=[conversation_id])
    return format_html('<a href="{}">Conversation {}</a>', url, conversation_id)


def _messages_link(conversation_id: int, label: str) -> SafeString:
    url = reverse("admin:chat_message_changelist") + f"?conversation__id__exact={conversation_id}"
    return format_html('<a href="{}">{}</a>', url, label)


class DeletedFilter(admin.SimpleListFilter):
    """Soft-deleted or not, by `deleted_at`."""

    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        return queryset


@admin.register(Conversation)
class ConversationAdmin(_ConversationAdminBase):
    list_display = (
        "id",
        "participant_1_link",
        "participant_2_link",
        "preview",
        "last_message_at",
        "message_count",
        "messages_column",
        "created_at",
    )
    list_display_links = ("id",)
    list_select_related = ("participant_1", "participant_2")
    search_fields = ("participant_1__username", "participant_2__username", "last_message")
    date_hierarchy = "last_message_at"
    ordering = ("-last_message_at", "-id")
    fields = (
        "participant_1_link",
        "participant_2_link",
        "last_message",
        "last_message_at",
        "message_count",
        "messages_link",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    @admin.display(description="participant 1", ordering="participant_1__username")
    def participant_1_link(self, obj: Conversation) -> SafeString:
        return _user_link(obj.participant_1)

    @admin.display(description="participant 2", ordering="participant_2__username")
    def participant_2_link(self, obj: Conversation) -> SafeString:
        return _user_link(obj.participant_2)

    @admin.display(description="last message")
    def preview(self, obj: Conversation) -> str:
        return Truncator(obj.last_message or "").chars(PREVIEW_CHARS)

    @admin.display(description="messages sent", ordering="last_seq")
    def message_count(self, obj: Conversation) -> int:
        """Every message ever sent in it (seq never reuses a number, deleted ones included)."""
        return obj.last_seq

    @admin.display(description="messages")
    def messages_link(self, obj: Conversation) -> SafeString:
        return _messages_link(obj.pk, "Show the messages (deleted ones included)")

    @admin.display(description="messages")
    def messages_column(self, obj: Conversation) -> SafeString:
        return _messages_link(obj.pk, "show")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a conversation is created by its first message

    def has_delete_permission(self, request: HttpRequest, obj: Conversation | None = None) -> bool:
        return False


class MessageVersionInline(_VersionInlineBase):
    """The texts an edit replaced, oldest first (read-only, like the message itself)."""

    model = MessageVersion
    fields = ("content", "at")
    readonly_fields = fields
    ordering = ("id",)
    extra = 0
    can_delete = False
    verbose_name = "earlier text"
    verbose_name_plural = "earlier texts (before each edit)"

    def has_add_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(_MessageAdminBase):
    list_display = (
        "id",
        "conversation_link",
        "seq",
        "sender_link",
        "receiver_link",
        "short_content",
        "is_read",
        "is_deleted",
        "created_at",
    )
    list_display_links = ("id",)
    list_filter = (DeletedFilter, "is_read")
    date_hierarchy = "created_at"
    list_select_related = ("sender", "receiver")
    search_fields = ("content", "sender__username", "receiver__username")
    ordering = ("-id",)
    actions = ("soft_delete", "restore")
    inlines = (MessageVersionInline,)
    fields = (
        "conversation_link",
        "seq",
        "sender_link",
        "receiver_link",
        "content",
        "attachment_url",
        "client_message_id",
        "is_read",
        "read_at",
        "is_deleted",
        "deleted_at",
        "edited_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        """Soft-deleted rows included: staff moderate them."""
        return Message.all_objects.select_related("sender", "receiver")

    @admin.display(description="conversation", ordering="conversation_id")
    def conversation_link(self, obj: Message) -> SafeString:
        return _conversation_link(obj.conversation_id)

    @admin.display(description="sender", ordering="sender__username")
    def sender_link(self, obj: Message) -> SafeString:
        return _user_link(obj.sender)

    @admin.display(description="receiver", ordering="receiver__username")
    def receiver_link(self, obj: Message) -> SafeString:
        return _user_link(obj.receiver)

    @admin.display(description="content")
    def short_content(self, obj: Message) -> str:
        return Truncator(obj.content).chars(PREVIEW_CHARS)

    @admin.display(description="deleted", boolean=True, ordering="deleted_at")
    def is_deleted(self, obj: Message) -> bool:
        return obj.is_deleted

    @admin.action(description="Soft-delete the selected messages", permissions=["change"])
    def soft_delete(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        changed = moderation.moderate_messages(message_ids=queryset.values_list("pk", flat=True), deleted=True)
        self.message_user(request, f"{changed} message(s) deleted.", messages.SUCCESS)

    @admin.action(description="Restore the selected messages", permissions=["change"])
    def restore(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        changed = moderation.moderate_messages(message_ids=queryset.values_list("pk", flat=True), deleted=False)
        self.message_user(request, f"{changed} message(s) restored.", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # messages are sent by users, through chat.services

    def has_delete_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False  # soft-delete instead: a hard delete would leave a hole in seq


@admin.register(Report)
class ReportAdmin(_ReportAdminBase):
    """The moderation queue: open reports first. Staff act through chat.services.reports, never by
    editing rows: dismiss, soft-delete the message, or deactivate its sender."""

    list_display = (
        "id",
        "status",
        "reason",
        "message_link",
        "short_content",
        "sender_link",
        "reporter_link",
        "created_at",
        "resolution",
    )
    list_display_links = ("id",)
    list_filter = ("status", "reason")
    list_select_related = ("message", "sender", "reporter")
    search_fields = ("content", "sender__username", "reporter__username", "note")
    date_hierarchy = "created_at"
    actions = ("dismiss", "delete_messages", "deactivate_senders")
    fields = (
        "status",
        "reason",
        "note",
        "message_link",
        "content",
        "sender_link",
        "reporter_link",
        "created_at",
        "resolution",
        "resolved_at",
        "resolved_by",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Report]:
        # Open ones first (by name "actioned" and "dismissed" would sort before "open"), newest first.
        queryset = super().get_queryset(request).select_related("message", "sender", "reporter")
        open_first = Case(When(status=Report.Status.OPEN, then=0), default=1)
        return queryset.order_by(open_first, "-created_at", "-id")

    @admin.display(description="message", ordering="message_id")
    def message_link(self, obj: Report) -> SafeString:
        if obj.message is None:
            return format_html("{}", "purged")
        url = reverse("admin:chat_message_change", args=[obj.message_id])
        deleted = " (deleted)" if obj.message.is_deleted else ""
        return format_html('<a href="{}">Message {}</a>{}', url, obj.message_id, deleted)

    @admin.display(description="content as reported")
    def short_content(self, obj: Report) -> str:
        return Truncator(obj.content).chars(PREVIEW_CHARS)

    @admin.display(description="sender", ordering="sender__username")
    def sender_link(self, obj: Report) -> SafeString:
        return _user_link(obj.sender) if obj.sender is not None else format_html("{}", "deleted user")

    @admin.display(description="reporter", ordering="reporter__username")
    def reporter_link(self, obj: Report) -> SafeString:
        return _user_link(obj.reporter)

    def _staff(self, request: HttpRequest) -> User:
        assert isinstance(request.user, User)
        return request.user

    @admin.action(description="Dismiss the selected reports", permissions=["change"])
    def dismiss(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        closed = reports.dismiss(report_ids=queryset.values_list("pk", flat=True), staff=self._staff(request))
        self.message_user(request, f"{closed} report(s) dismissed.", messages.SUCCESS)

    @admin.action(description="Soft-delete the reported messages", permissions=["change"])
    def delete_messages(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        deleted = reports.delete_reported_messages(
            report_ids=queryset.values_list("pk", flat=True), staff=self._staff(request)
        )
        self.message_user(request, f"{deleted} message(s) deleted.", messages.SUCCESS)

    @admin.action(description="Deactivate the senders of the reported messages", permissions=["change"])
    def deactivate_senders(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        deactivated = reports.deactivate_reported_senders(
            report_ids=queryset.values_list("pk", flat=True), staff=self._staff(request)
        )
        self.message_user(request, f"{deactivated} user(s) deactivated.", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # reports come from receivers, through the API

    def has_delete_permission(self, request: HttpRequest, obj: Report | None = None) -> bool:
        return False  # closed, never removed: the queue is the record of what staff did
