"""Admin for users: the stock UserAdmin with chat columns and a "deactivate" action.

Deactivating goes through accounts.services.deactivate (one user at a time): the user's open
sockets close on every process (chat.signals) and their refresh tokens are blacklisted, so no new
access token can be minted either (old access tokens already stop working: their user is inactive).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts import services
from accounts.models import User

# The stubs make admin classes generic in their model; at run time they are not subscriptable.
if TYPE_CHECKING:
    _UserAdminBase = BaseUserAdmin[User]
else:
    _UserAdminBase = BaseUserAdmin


@admin.register(User)
class UserAdmin(_UserAdminBase):
    list_display = (
        "username",
        "email",
        "first_name",
        "last_name",
        "is_active",
        "is_staff",
        "last_seen_at",
        "date_joined",
    )
    list_filter = ("is_active", "is_staff", "is_superuser", "date_joined", "last_seen_at")
    search_fields = ("username", "email", "first_name", "last_name")
    ordering = ("username",)
    actions = ("deactivate_users",)
    readonly_fields = ("last_seen_at", "last_login", "date_joined", "messages_link")
    fieldsets = (*BaseUserAdmin.fieldsets, ("Chat", {"fields": ("last_seen_at", "messages_link")}))  # type: ignore[misc]

    @admin.display(description="messages")
    def messages_link(self, obj: User) -> SafeString:
        url = reverse("admin:chat_message_changelist")
        return format_html(
            '<a href="{}?sender__id__exact={}">Sent</a> · <a href="{}?receiver__id__exact={}">Received</a>',
            url,
            obj.pk,
            url,
            obj.pk,
        )

    @admin.action(description="Deactivate selected users", permissions=["change"])
    def deactivate_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        me: Any = request.user
        users = list(queryset.exclude(pk=me.pk))
        if len(users) < queryset.count():
            self.message_user(
                request, "You cannot deactivate yourself; your account was left active.", messages.WARNING
            )
        revoked = sum(services.deactivate(user=user) for user in users)
        self.message_user(
            request,
            f"{len(users)} user(s) deactivated; their sockets are being closed and {revoked} refresh token(s) revoked.",
            messages.SUCCESS,
        )
