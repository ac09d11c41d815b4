"""The custom user: Django's user plus when it was last seen on a socket, and its name's look."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models.functions import Lower
from django.dispatch import Signal

from accounts.names import LOOKS_TAKEN, looks, skeleton

# Sent by User.save, inside its transaction, when set_password() changed the password:
# accounts.signals revokes the user's refresh tokens, chat.signals closes their sockets.
password_changed = Signal()


class User(AbstractUser):
    """A chat user. Online state lives in the presence store; `last_seen_at` is persisted
    when the user's last socket closes, so it survives restarts."""

    last_seen_at = models.DateTimeField(null=True, blank=True)
    # The name's confusable skeleton (accounts.names), kept by save(): unique, so `\u0430lice` cannot
    # stand beside `alice` however two sign-ups race. Null only for accounts that predate it and
    # looked like an older one.
    username_skeleton = models.TextField(null=True, blank=True, editable=False)  # noqa: DJ001 - null: unique yet absent

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        indexes = [models.Index(fields=["is_active", "username"], name="user_active_username")]
        constraints = [
            # "Alice" and "alice" are one name: a second registration must not impersonate the first.
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
            models.UniqueConstraint(fields=["username_skeleton"], name="user_username_skeleton_unique"),
        ]

    def clean(self) -> None:
        """The admin's forms call this: a look-alike name is a form error there, not a 500."""
        super().clean()
        if User.objects.filter(username_skeleton__in=looks(self.username)).exclude(pk=self.pk).exists():
            raise ValidationError({"username": LOOKS_TAKEN})

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.username_skeleton = skeleton(self.username)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "username" in update_fields:
            kwargs["update_fields"] = {*update_fields, "username_skeleton"}
        # set_password() keeps the raw password until the save (Django's AbstractBaseUser does the
        # same to call its validators' password_changed); a login's re-hash assigns `password`
        # directly and is no change. A new user has no tokens to revoke.
        changed = getattr(self, "_password", None) is not None and self.pk is not None and not self._state.adding
        with transaction.atomic():
            super().save(*args, **kwargs)
            if changed:
                password_changed.send(sender=User, user=self)
