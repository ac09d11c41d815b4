"""JWT authentication shared by REST and the socket.

Both run simplejwt's own checks (signature, expiry, token type, active user, password-change
revocation), so a token that REST refuses the socket refuses too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken, Token
from rest_framework_simplejwt.utils import get_md5_hash_password

from accounts.models import User
from core.db import by_pk
from core.errors import Unauthenticated

MAX_TOKEN_LENGTH = 4096


class BearerAuthentication(JWTAuthentication):
    """`Authorization: Bearer <access>`; refuses tokens of inactive or deleted users."""

    def get_user(self, validated_token: Token) -> User:  # type: ignore[override]  # simplejwt's is a TypeVar
        """simplejwt's get_user, loading the user with one plain statement (core.db.by_pk), which
        every request makes; the checks are simplejwt's, in its order (`checked_user`)."""
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError as exc:
            raise InvalidToken(str(_("Token contained no recognizable user identification"))) from exc
        return checked_user(validated_token, by_pk(User, user_id))


def checked_user(validated_token: Token, user: User | None) -> User:
    """The token's user, loaded by the caller, if simplejwt would accept it: it exists, is active
    and its password is the one the token was issued for; raises AuthenticationFailed."""
    if user is None:
        raise AuthenticationFailed(_("User not found"), code="user_not_found")
    if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
        raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
    if api_settings.CHECK_REVOKE_TOKEN and validated_token.get(
        api_settings.REVOKE_TOKEN_CLAIM
    ) != get_md5_hash_password(user.password):
        raise AuthenticationFailed(_("The user's password has been changed."), code="password_changed")
    return user


@dataclass(frozen=True)
class SocketIdentity:
    user: User
    expires_at: datetime


_REFUSED = "The access token is invalid, expired or its user is deactivated."


def validated_access_token(raw: Any) -> Token:
    """An access token's signature, expiry and type, checked without the database; raises
    Unauthenticated. `identity_of` then checks its user."""
    if not isinstance(raw, str) or not raw or len(raw) > MAX_TOKEN_LENGTH:
        raise Unauthenticated("A valid access token is required.")
    try:
        token = BearerAuthentication().get_validated_token(raw.encode())
        int(token[api_settings.USER_ID_CLAIM])
    except (TokenError, InvalidToken, KeyError, TypeError, ValueError) as exc:
        raise Unauthenticated(_REFUSED) from exc
    return token


def token_user_id(token: Token) -> int:
    """The user id a validated token names (its user is not checked yet)."""
    return int(token[api_settings.USER_ID_CLAIM])


def identity_of(token: Token, user: User | None) -> SocketIdentity:
    """A validated token with its user (loaded by the caller, None for none), checked as
    `checked_user` does; raises Unauthenticated."""
    try:
        checked = checked_user(token, user)
    except AuthenticationFailed as exc:
        raise Unauthenticated(_REFUSED) from exc
    return SocketIdentity(user=checked, expires_at=datetime.fromtimestamp(int(token["exp"]), tz=UTC))


def identity_from_access_token(raw: Any) -> SocketIdentity:
    """Validate an access token and load its active user, or raise Unauthenticated."""
    token = validated_access_token(raw)
    return identity_of(token, by_pk(User, token_user_id(token)))


# A rotated refresh token names the login it descends from (the first token's jti), so that a
# reuse can revoke the family it belongs to (accounts.services.refresh_tokens).
FAMILY_CLAIM = "fam"


def tokens_for(user: User) -> dict[str, str]:
    """A fresh pair: a login, so its refresh token starts a family of its own."""
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def family_of(claims: dict[str, Any]) -> str:
    return str(claims.get(FAMILY_CLAIM) or claims.get(api_settings.JTI_CLAIM) or "")


def unverified_claims(stored: str) -> dict[str, Any]:
    """The claims of a token as the blacklist app stored it (our own text: no check needed)."""
    try:
        return dict(jwt.decode(stored, options={"verify_signature": False}))
    except jwt.PyJWTError:
        return {}
