"""The one user shape every endpoint and event shows (UserSummary), and the caller's own profile."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from accounts.models import User


def user_summary(user: User, online: Collection[int], hidden: Collection[int] = ()) -> dict[str, Any]:
    """UserSummary: never email, password or staff flags. `online` is a set of user ids; users in
    `hidden` (whose presence the viewer may not see) show offline with no last_seen_at."""
    shown = user.pk not in hidden
    return {
        "id": user.pk,
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "is_online": shown and user.pk in online,
        "last_seen_at": user.last_seen_at if shown else None,
    }


def profile(user: User, online: Collection[int]) -> dict[str, Any]:
    """The caller's own profile: the summary plus what only the owner may see."""
    return {**user_summary(user, online), "email": user.email, "date_joined": user.date_joined}
