"""Every read of accounts: the directory of active users to start a chat with."""

from __future__ import annotations

from django.db.models import Q

from accounts.models import User
from core.pagination import Page, PageRequest


def active_users(*, excluding: User, search: str, page: PageRequest) -> Page:
    """Active users other than `excluding`, by username, whose username or names contain `search`."""
    users = User.objects.filter(is_active=True).exclude(pk=excluding.pk)
    if search:
        users = users.filter(
            Q(username__icontains=search) | Q(first_name__icontains=search) | Q(last_name__icontains=search)
        )
    total = users.count()
    return Page(list(users.order_by("username", "id")[page.offset : page.offset + page.limit]), total)
