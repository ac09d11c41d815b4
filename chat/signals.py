"""Deactivating a user closes their open sockets at once, on every process."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import User
from chat.events import close_user_sockets


@receiver(post_save, sender=User)
def close_sockets_of_deactivated_user(sender: type[User], instance: User, created: bool, **kwargs: Any) -> None:
    if not created and not instance.is_active:
        close_user_sockets(instance.pk)
