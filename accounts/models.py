"""The custom user: Django's user plus when it was last seen on a socket."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower


class User(AbstractUser):
    """A chat user. Online state lives in the presence store; `last_seen_at` is persisted
    when the user's last socket closes, so it survives restarts."""

    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        indexes = [models.Index(fields=["is_active", "username"], name="user_active_username")]
        constraints = [
            # "Alice" and "alice" are one name: a second registration must not impersonate the first.
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
        ]
