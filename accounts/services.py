"""Every write of accounts: registering, logging in and refreshing tokens, deactivating."""

from __future__ import annotations

from django.contrib.auth import authenticate, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts import limits, names, passwords
from accounts.auth import tokens_for
from accounts.models import User
from core.errors import Invalid, Unauthenticated

TAKEN = "A user with that username already exists."


def register(
    *, address: str, username: str, password: str, email: str = "", first_name: str = "", last_name: str = ""
) -> User:
    """A new active user; Django's password validators apply, names are unique in any case and
    by look (accounts.names), and a client `address` signs up at most SIGNUP_RATE_LIMIT times."""
    limits.signup_attempt(address=address)
    if names.is_reserved(username):
        raise Invalid.field("username", names.RESERVED_NAME)
    if User.objects.filter(username__iexact=username).exists():
        raise Invalid.field("username", TAKEN)
    if User.objects.filter(username_skeleton__in=names.looks(username)).exists():
        raise Invalid.field("username", names.LOOKS_TAKEN)
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
    except IntegrityError:  # a concurrent registration took the name (or its look) between check and insert
        raise Invalid.field("username", TAKEN) from None
    return user


def check_credentials(*, username: str, password: str, address: str) -> User:
    """The active user with this password (accounts.backends checks it), within the failed-login
    limits (accounts.limits): the one login of REST and of /admin/login/."""
    attempt = limits.login_attempt(username=username, address=address)
    try:
        user = authenticate(None, username=username, password=password)
    except BaseException:
        attempt.give_back()  # the hash queue was full: not a wrong password
        raise
    if not isinstance(user, User):
        raise Unauthenticated("Invalid username or password, or the account is deactivated.")
    attempt.give_back()
    return user


def log_in(*, username: str, password: str, address: str) -> dict[str, str]:
    """A token pair for the right password of an active user."""
    return tokens_for(check_credentials(username=username, password=password, address=address))


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
