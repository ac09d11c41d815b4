"""OpenAPI shapes of the /api/auth responses (the dicts accounts.presenters and accounts.views build),
and the Bearer scheme every secured operation names."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import serializers

from core.openapi import PageFields, enveloped


class BearerScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]  # drf-spectacular's hook
    """`Authorization: Bearer <access JWT>` (accounts.auth.BearerAuthentication)."""

    target_class = "accounts.auth.BearerAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return build_bearer_security_scheme_object(
            header_name="HTTP_AUTHORIZATION",
            token_prefix="Bearer",  # noqa: S106 - the scheme name, not a secret
            bearer_format="JWT",
        )


class UserSummarySerializer(serializers.Serializer[Any]):
    """The only user shape chat endpoints show: never email, password or staff flags."""

    id = serializers.IntegerField()
    username = serializers.CharField()
    first_name = serializers.CharField(allow_blank=True)
    last_name = serializers.CharField(allow_blank=True)
    is_online = serializers.BooleanField()
    last_seen_at = serializers.DateTimeField(allow_null=True, help_text="When the user's last socket closed.")

    class Meta:
        ref_name = "UserSummary"


class ProfileSerializer(UserSummarySerializer):
    """The caller's own profile: the summary plus what only its owner sees."""

    email = serializers.CharField(allow_blank=True)
    date_joined = serializers.DateTimeField()

    class Meta:
        ref_name = "Profile"


class TokenPairSerializer(serializers.Serializer[Any]):
    access = serializers.CharField(help_text="Access JWT, sent as `Authorization: Bearer <access>`.")
    refresh = serializers.CharField(help_text="Refresh JWT (single use: refreshing spends it).")

    class Meta:
        ref_name = "TokenPair"


class RegisteredSerializer(TokenPairSerializer):
    user = UserSummarySerializer()

    class Meta:
        ref_name = "Registered"


class UserPageSerializer(PageFields):
    users = UserSummarySerializer(many=True)

    class Meta:
        ref_name = "UserPage"


RegisteredEnvelope = enveloped("RegisteredEnvelope", RegisteredSerializer(), message=True)
TokenPairEnvelope = enveloped("TokenPairEnvelope", TokenPairSerializer())
ProfileEnvelope = enveloped("ProfileEnvelope", ProfileSerializer())
UserPageEnvelope = enveloped("UserPageEnvelope", UserPageSerializer())
