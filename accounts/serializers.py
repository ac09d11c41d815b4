"""Request validation of the /api/auth endpoints (DRF serializers)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.validators import UnicodeUsernameValidator
from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of turning them into text."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class RegisterSerializer(serializers.Serializer[Any]):
    """The shape of a sign-up; accounts.services.register applies the rules that need the database."""

    username = StrictCharField(max_length=150, validators=[UnicodeUsernameValidator()])
    password = StrictCharField(max_length=128, trim_whitespace=False, write_only=True)
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    first_name = StrictCharField(required=False, allow_blank=True, max_length=150)
    last_name = StrictCharField(required=False, allow_blank=True, max_length=150)


class CredentialsSerializer(serializers.Serializer[Any]):
    username = StrictCharField(max_length=150)
    password = StrictCharField(max_length=128, trim_whitespace=False)


class RefreshSerializer(serializers.Serializer[Any]):
    refresh = StrictCharField(max_length=4096)


SEARCH_TOO_SHORT = "Give at least 2 characters to search for."


class UserSearchSerializer(serializers.Serializer[Any]):
    # Required, and 2 characters at least (after trimming): the directory is for finding someone,
    # not for listing every account (the contract).
    search = serializers.CharField(
        min_length=2,
        max_length=150,
        help_text="Part of a username, first or last name (any case); 2 to 150 characters after trimming.",
        error_messages={"required": SEARCH_TOO_SHORT, "blank": SEARCH_TOO_SHORT, "min_length": SEARCH_TOO_SHORT},
    )
