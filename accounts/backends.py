"""The authentication backend: Django's ModelBackend, with the password check off the request
thread and off its database connection (accounts.passwords)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import backends
from django.http import HttpRequest

from accounts import passwords
from accounts.models import User


class ModelBackend(backends.ModelBackend):
    """Django's ModelBackend.authenticate step by step, each hash through accounts.passwords."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> User | None:
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if username is None or password is None:
            return None
        try:
            user = User._default_manager.get_by_natural_key(username)
        except User.DoesNotExist:
            # As Django does: hash once for an unknown name too, so that it answers as slowly as
            # a wrong password and names cannot be probed by timing.
            passwords.hash_password(password)
            return None
        correct, outdated = passwords.check_password(password, user.password)
        if correct and outdated:
            # Django's upgrade at login (an older PBKDF2 hash becomes Argon2); not a password change.
            user.password = passwords.hash_password(password)
            user.save(update_fields=["password"])
        return user if correct and self.user_can_authenticate(user) else None

    async def aauthenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> User | None:
        """The synchronous path in a worker thread, so there is one implementation."""
        return await sync_to_async(self.authenticate)(request, username, password, **kwargs)
