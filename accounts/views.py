"""The /api/auth endpoints: register, token, token/refresh, me (the user directory is the chat's)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import schemas, services
from accounts.auth import tokens_for
from accounts.models import User
from accounts.presence import online_among
from accounts.presenters import profile, user_summary
from accounts.serializers import CredentialsSerializer, RefreshSerializer, RegisterSerializer
from core.clientip import client_address
from core.openapi import RETRY_AFTER, FailureSerializer, failures
from core.rest import envelope

# Sign-up and login wait for a password hash (accounts.passwords); a long queue is a 429, and
# so is a client over its limits (accounts.limits).
SIGNUP_LIMITED = {
    429: OpenApiResponse(
        FailureSerializer,
        description="Too many sign-ups from this client address (SIGNUP_RATE_LIMIT), or too many sign-ups "
        "and logins at once (the password hash queue is full); `Retry-After` says when to retry.",
    )
}
LOGIN_LIMITED = {
    429: OpenApiResponse(
        FailureSerializer,
        description="Too many failed logins for this username or from this client address "
        "(LOGIN_FAILURES_PER_USERNAME, LOGIN_FAILURES_PER_ADDRESS), the same answer whether the name "
        "exists or not; or the password hash queue is full. `Retry-After` says when to retry.",
    )
}


def _validated(serializer_class: type[serializers.Serializer[Any]], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class RegisterView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        operation_id="register",
        tags=["auth"],
        summary="Create an account",
        description="Django's password validators apply; a name that looks like a taken one (its Unicode "
        "confusable skeleton matches) or a reserved one is a 400 on `username`. Returns the new user and a token pair.",
        request=RegisterSerializer,
        parameters=[RETRY_AFTER],
        responses={201: schemas.RegisteredEnvelope, **failures(400, 413, 415), **SIGNUP_LIMITED},
    )
    def post(self, request: Request) -> Response:
        data = _validated(RegisterSerializer, request.data)
        user = services.register(address=client_address(request.META), **data)
        return envelope(
            {"user": user_summary(user, online=()), **tokens_for(user)},
            status_code=201,
            message="Registered",
        )


class TokenView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        operation_id="obtainToken",
        tags=["auth"],
        summary="Log in: username and password for a token pair",
        request=CredentialsSerializer,
        parameters=[RETRY_AFTER],
        responses={200: schemas.TokenPairEnvelope, **failures(400, 401, 413, 415), **LOGIN_LIMITED},
    )
    def post(self, request: Request) -> Response:
        data = _validated(CredentialsSerializer, request.data)
        address = client_address(request.META)
        return envelope(services.log_in(username=data["username"], password=data["password"], address=address))


class TokenRefreshView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        operation_id="refreshToken",
        tags=["auth"],
        summary="Spend a refresh token for a new pair",
        description="Refresh tokens rotate and are single use: the one sent is spent, exactly once however "
        "many requests race with it. A reuse of a spent token is a 401 and revokes every token issued "
        "from the same login (its family).",
        request=RefreshSerializer,
        responses={200: schemas.TokenPairEnvelope, **failures(400, 401, 413, 415)},
    )
    def post(self, request: Request) -> Response:
        data = _validated(RefreshSerializer, request.data)
        return envelope(services.refresh_tokens(refresh=data["refresh"]))


class MeView(APIView):
    @extend_schema(
        operation_id="me",
        tags=["auth"],
        summary="The caller's own profile",
        responses={200: schemas.ProfileEnvelope, **failures(401)},
    )
    def get(self, request: Request) -> Response:
        user: User = request.user  # type: ignore[assignment]
        return envelope(profile(user, online_among([user.pk])))
