"""Admin for users: the stock UserAdmin plus last_seen_at."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "is_active", "is_staff", "last_seen_at")
    list_filter = ("is_active", "is_staff", "is_superuser")
    readonly_fields = ("last_seen_at", "last_login", "date_joined")
    fieldsets = (*BaseUserAdmin.fieldsets, ("Chat", {"fields": ("last_seen_at",)}))  # type: ignore[misc]
