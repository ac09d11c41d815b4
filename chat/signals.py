"""Deactivating a user or changing their password closes their open sockets at once (4401), on
every process: their access tokens no longer authenticate, so the sockets must not outlive them."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import User, password_changed
from chat.events import close_user_sockets


@receiver(post_save, sender=User)
def close_sockets_of_deactivated_user(sender: type[User], instance: User, created: bool, **kwargs: Any) -> None:
    if not created and not instance.is_active:
        close_user_sockets(instance.pk)


@receiver(password_changed, sender=User)
def close_sockets_on_password_change(sender: type[User], user: User, **kwargs: Any) -> None:
    close_user_sockets(user.pk)
