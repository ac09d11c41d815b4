"""Every write of accounts: registering, logging in and refreshing tokens, deactivating."""

from __future__ import annotations

from django.contrib.auth import authenticate, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts import passwords
from accounts.auth import tokens_for
from accounts.models import User
from core.errors import Invalid, Unauthenticated

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


def log_in(*, username: str, password: str) -> dict[str, str]:
    """A token pair for the right password of an active user (accounts.backends checks it)."""
    user = authenticate(None, username=username, password=password)
    if not isinstance(user, User):
        raise Unauthenticated("Invalid username or password, or the account is deactivated.")
    return tokens_for(user)


def refresh_tokens(*, refresh: str) -> dict[str, str]:
    """Spend a refresh token for a new pair (simplejwt rotates it and blacklists the one spent)."""
    serializer = TokenRefreshSerializer(data={"refresh": refresh})
    try:
        serializer.is_valid(raise_exception=True)
    except TokenError as exc:
        raise Unauthenticated("The refresh token is invalid, expired or already used.") from exc
    except User.DoesNotExist as exc:
        raise Unauthenticated("The refresh token's user no longer exists.") from exc
    return dict(serializer.validated_data)


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
