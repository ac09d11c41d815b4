"""Every write of accounts: registering, logging in and refreshing tokens, deactivating."""

from __future__ import annotations

import logging

from django.contrib.auth import authenticate, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch, get_md5_hash_password

from accounts import limits, names, passwords
from accounts.auth import FAMILY_CLAIM, family_of, tokens_for, unverified_claims
from accounts.models import User
from core.db import by_pk
from core.errors import Invalid, Unauthenticated

log = logging.getLogger("accounts")

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
    """Spend a refresh token for a new pair: exactly once, however many requests race with it.

    Spending is the insert of its blacklist row, whose uniqueness decides the race (the database,
    not a check made before the insert). A token spent before, or at the same moment, is a reuse:
    OAuth's rotation advice says one of its holders is not its owner, so every token issued from
    it (its family: the login it descends from) is revoked, and the caller gets a 401.
    """
    token = _authentic_refresh(refresh)
    user = by_pk(User, token.payload.get(api_settings.USER_ID_CLAIM))
    if user is None or not user.is_active:
        raise Unauthenticated("The refresh token's user no longer exists or is deactivated.")
    if token.payload.get(api_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password):
        raise Unauthenticated("The refresh token was issued before the password changed.")
    jti, family = token[api_settings.JTI_CLAIM], family_of(token.payload)
    with transaction.atomic():
        outstanding, _ = OutstandingToken.objects.get_or_create(
            jti=jti,
            defaults={
                "user": user,
                "token": refresh,
                "created_at": token.current_time,
                "expires_at": datetime_from_epoch(token["exp"]),
            },
        )
        try:
            with transaction.atomic():
                BlacklistedToken.objects.create(token=outstanding)
        except IntegrityError:
            reused = True
            revoked = _revoke_family(user.pk, family)
        else:
            reused = False
            access = str(token.access_token)
            token.set_jti()
            token.set_exp()
            token.set_iat()
            token[FAMILY_CLAIM] = family
            OutstandingToken.objects.create(
                user=user,
                jti=token[api_settings.JTI_CLAIM],
                token=str(token),
                created_at=token.current_time,
                expires_at=datetime_from_epoch(token["exp"]),
            )
    if reused:
        log.warning("refresh token reused: its family revoked", extra={"user_id": user.pk, "revoked": revoked})
        raise Unauthenticated("The refresh token was already used; every token issued from it is now revoked.")
    return {"access": access, "refresh": str(token)}


def _authentic_refresh(raw: str) -> RefreshToken:
    """A refresh token with a good signature, not expired, of the refresh type; whether it was
    spent is the caller's question (RefreshToken's own check would not say which failed)."""
    try:
        payload = token_backend.decode(raw, verify=True)  # type: ignore[arg-type]  # the stubs say Token; it takes text
        token = RefreshToken(raw, verify=False)  # type: ignore[arg-type]  # verified just above
    except (TokenBackendError, TokenError) as exc:
        raise Unauthenticated("The refresh token is invalid, expired or already used.") from exc
    if payload.get(api_settings.TOKEN_TYPE_CLAIM) != RefreshToken.token_type or api_settings.JTI_CLAIM not in payload:
        raise Unauthenticated("The refresh token is invalid, expired or already used.")
    return token


def _revoke_family(user_id: int, family: str) -> int:
    """Blacklist the user's live refresh tokens of `family` (read from the tokens as stored)."""
    live = OutstandingToken.objects.filter(
        user_id=user_id, blacklistedtoken__isnull=True, expires_at__gt=timezone.now()
    ).values_list("pk", "token")
    ids = [pk for pk, text in live if family_of(unverified_claims(text)) == family]
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token_id=pk) for pk in ids], ignore_conflicts=True)
    return len(ids)


def revoke_refresh_tokens(*, user: User) -> int:
    """Blacklist every outstanding refresh token of the user (deactivation, a password change);
    returns how many, so no new access token can be minted from any of them."""
    outstanding = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
    ids = list(outstanding.values_list("pk", flat=True))
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token_id=pk) for pk in ids], ignore_conflicts=True)
    return len(ids)


def deactivate(*, user: User) -> int:
    """Deactivate one user (their sockets close after commit, on every process); returns how many
    refresh tokens were blacklisted, so no new access token can be minted either."""
    with transaction.atomic():
        if user.is_active:
            user.is_active = False
            user.save(update_fields=["is_active"])  # accounts.signals closes the sockets on commit
        return revoke_refresh_tokens(user=user)
