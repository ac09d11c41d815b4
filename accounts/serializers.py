"""Account request validation and the one user shape chat endpoints show (UserSummary)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.contrib.auth import password_validation
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from rest_framework import serializers

from accounts import passwords
from accounts.models import User


def user_summary(user: User, online: Collection[int]) -> dict[str, Any]:
    """UserSummary: never email, password or staff flags. `online` is a set of user ids."""
    return {
        "id": user.pk,
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "is_online": user.pk in online,
        "last_seen_at": user.last_seen_at,
    }


def profile(user: User, online: Collection[int]) -> dict[str, Any]:
    """The caller's own profile: the summary plus what only the owner may see."""
    return {**user_summary(user, online), "email": user.email, "date_joined": user.date_joined}


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of turning them into text."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class RegisterSerializer(serializers.Serializer[User]):
    username = StrictCharField(max_length=150, validators=[UnicodeUsernameValidator()])
    password = StrictCharField(max_length=128, trim_whitespace=False, write_only=True)
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    first_name = StrictCharField(required=False, allow_blank=True, max_length=150)
    last_name = StrictCharField(required=False, allow_blank=True, max_length=150)

    def validate_username(self, value: str) -> str:
        if User.objects.filter(username__iexact=value).exists():
            raise serializers.ValidationError("A user with that username already exists.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        candidate = User(
            username=attrs["username"],
            email=attrs.get("email", ""),
            first_name=attrs.get("first_name", ""),
            last_name=attrs.get("last_name", ""),
        )
        try:
            password_validation.validate_password(attrs["password"], candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from exc
        return attrs

    def create(self, validated_data: dict[str, Any]) -> User:
        """What UserManager.create_user does, with the hash made first, outside the insert's
        transaction and with no connection held (accounts.passwords)."""
        fields = dict(validated_data)
        password = fields.pop("password")
        user = User(**fields)
        user.username = User.normalize_username(user.username)
        user.email = User.objects.normalize_email(user.email)
        user.password = passwords.hash_password(password)
        # A savepoint: a concurrent registration of the same name (IntegrityError) leaves an
        # enclosing transaction usable.
        with transaction.atomic():
            user.save()
        return user


class CredentialsSerializer(serializers.Serializer[Any]):
    username = StrictCharField(max_length=150)
    password = StrictCharField(max_length=128, trim_whitespace=False)


class RefreshSerializer(serializers.Serializer[Any]):
    refresh = StrictCharField(max_length=4096)


class UserSearchSerializer(serializers.Serializer[Any]):
    search = serializers.CharField(
        required=False, allow_blank=True, max_length=150, help_text="Part of a username, first or last name (any case)."
    )
