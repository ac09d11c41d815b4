"""Every write of accounts: registering a user and deactivating one."""

from __future__ import annotations

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts import passwords
from accounts.models import User
from core.errors import Invalid

TAKEN = "A user with that username already exists."


def register(*, username: str, password: str, email: str = "", first_name: str = "", last_name: str = "") -> User:
    """A new active user; Django's password validators apply, and names are unique in any case."""
    if User.objects.filter(username__iexact=username).exists():
        raise Invalid.field("username", TAKEN)
    user = User(
        username=User.normalize_username(username),
        email=User.objects.normalize_email(email),
        first_name=first_name,
        last_name=last_name,
    )
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        raise Invalid(f"password: {exc.messages[0]}", errors={"password": list(exc.messages)}) from exc
    # What UserManager.create_user does, with the hash made first, with no connection held.
    user.password = passwords.hash_password(password)
    try:
        with transaction.atomic():  # a savepoint: a lost race leaves an enclosing transaction usable
            user.save()
    except IntegrityError:  # a concurrent registration took the name between check and insert
        raise Invalid.field("username", TAKEN) from None
    return user


def deactivate(*, user: User) -> int:
    """Deactivate one user (their sockets close after commit, on every process); returns how many
    refresh tokens were blacklisted, so no new access token can be minted either."""
    with transaction.atomic():
        if user.is_active:
            user.is_active = False
            user.save(update_fields=["is_active"])  # accounts.signals closes the sockets on commit
        outstanding = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
        BlacklistedToken.objects.bulk_create([BlacklistedToken(token=t) for t in outstanding], ignore_conflicts=True)
        return len(outstanding)
