"""A password change revokes every refresh token of the user, in the change's transaction
(chat.signals closes their sockets)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from accounts import services
from accounts.models import User, password_changed


@receiver(password_changed, sender=User)
def revoke_refresh_tokens_on_password_change(sender: type[User], user: User, **kwargs: Any) -> None:
    services.revoke_refresh_tokens(user=user)
