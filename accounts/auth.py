"""JWT helpers shared by DRF and the WebSocket consumer.

Both paths run simplejwt's own checks (signature, expiry, token type, active user,
password-change revocation), so a token that REST refuses the socket refuses too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User
from chat.errors import Unauthenticated
from chatproject import rows

MAX_TOKEN_LENGTH = 4096


def user_by_id(user_id: Any) -> User:
    """The user with this id (one plain statement: chatproject.rows); User.DoesNotExist if none."""
    user = rows.by_pk(User, user_id)
    if user is None:
        raise User.DoesNotExist
    return user


class _UsersById:
    """The part of the user model simplejwt's `get_user` uses (`objects.get(id=…)`,
    `DoesNotExist`), backed by `user_by_id`; its checks (active user, password-change
    revocation) run unchanged on the loaded user."""

    DoesNotExist = User.DoesNotExist

    class objects:
        @staticmethod
        def get(**lookup: Any) -> User:
            (value,) = lookup.values()
            return user_by_id(value)


class BearerAuthentication(JWTAuthentication):
    """`Authorization: Bearer <access>`; refuses tokens of inactive or deleted users."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user_model = _UsersById  # type: ignore[assignment]  # duck-typed: see _UsersById


@dataclass(frozen=True)
class SocketIdentity:
    user: User
    expires_at: datetime


def identity_from_access_token(raw: Any) -> SocketIdentity:
    """Validate an access token and load its active user, or raise Unauthenticated."""
    if not isinstance(raw, str) or not raw or len(raw) > MAX_TOKEN_LENGTH:
        raise Unauthenticated("A valid access token is required.")
    auth = BearerAuthentication()
    try:
        token = auth.get_validated_token(raw.encode())
        user = auth.get_user(token)
    except (TokenError, InvalidToken, AuthenticationFailed) as exc:
        raise Unauthenticated("The access token is invalid, expired or its user is deactivated.") from exc
    expires_at = datetime.fromtimestamp(int(token["exp"]), tz=UTC)
    return SocketIdentity(user=user, expires_at=expires_at)  # type: ignore[arg-type]


def tokens_for(user: User) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}
