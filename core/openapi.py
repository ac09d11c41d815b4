"""OpenAPI building blocks: the envelope, the failure shape, paging parameters.

The views render plain dicts for speed (presenters), so the schema is declared here with
serializer classes that describe those dicts; tests/test_openapi.py validates real responses
against the generated schema, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_field
from rest_framework import serializers

from core.db import MAX_ID
from core.pagination import MAX_LIMIT


@extend_schema_field({"type": "boolean", "enum": [True]})
class TrueField(serializers.BooleanField):
    """`success: true` of every success envelope."""


@extend_schema_field({"type": "boolean", "enum": [False]})
class FalseField(serializers.BooleanField):
    """`success: false` of every failure envelope."""


class FailureSerializer(serializers.Serializer[Any]):
    """`{success: false, message, errors?}`: `errors` maps a field name to its problems (400s)."""

    success = FalseField()
    message = serializers.CharField(help_text="A human sentence saying what went wrong.")
    errors = serializers.DictField(  # type: ignore[assignment]  # a field named like Serializer.errors
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Problems per field (`receiverId`, `content`, `page`, `q`, ...), on 400s about named fields.",
    )

    class Meta:
        ref_name = "Failure"


class PageFields(serializers.Serializer[Any]):
    """The paging keys every page-mode list carries beside its items (contract: Page)."""

    total = serializers.IntegerField(min_value=0)
    page = serializers.IntegerField(min_value=1)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT)
    totalPages = serializers.IntegerField(min_value=0)


def enveloped(
    name: str, data: Any, *, message: bool = False, description: str = ""
) -> type[serializers.Serializer[Any]]:
    """A component `name` = `{success: true, message?, data}` around `data` (a serializer or field)."""
    fields: dict[str, Any] = {"success": TrueField()}
    if message:
        fields["message"] = serializers.CharField(help_text="A short human sentence about what happened.")
    fields["data"] = data
    fields["__doc__"] = description or f"Success envelope around {name.removesuffix('Envelope')}."
    return type(name, (serializers.Serializer,), fields)


_FAILURES = {
    400: "Bad input (a field's type, blankness, length or format; a bad query parameter; malformed JSON).",
    401: "No token, a bad or expired one, or a deactivated user's.",
    403: "Authenticated but not allowed.",
    404: "No such thing, or not yours to see (answered exactly alike, so ids cannot be probed).",
    413: "The body is over 64 KiB, refused before it is read.",
    415: "The body is not `application/json`.",
    429: "Over the message rate limit (shared with the WebSocket); `Retry-After` says when to retry.",
    503: "The database is unreachable or restarting; nothing was stored. Retry after `Retry-After` seconds.",
}


def failures(*codes: int) -> dict[int, OpenApiResponse]:
    """Failure responses for `codes`, plus 503, which every endpoint answers while the database is down."""
    return {code: OpenApiResponse(FailureSerializer, description=_FAILURES[code]) for code in (*codes, 503)}


RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    location=OpenApiParameter.HEADER,
    response=[429],
    description="Seconds to wait before sending again.",
)

# `page` is at most nine digits (core.pagination), `limit` 1..100.
MAX_PAGE = 999_999_999


class PageQuery(serializers.Serializer[Any]):
    page = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_PAGE, help_text="Page number, from 1 (default 1)."
    )
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_LIMIT, help_text="Items per page, 1..100."
    )


class CursorQuery(PageQuery):
    before = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="The `limit` messages just older than this message id (cursor mode). Not with `after` or `page`.",
    )
    after = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_ID,
        help_text=(
            "The `limit` messages just newer than this message id (cursor mode); 0 reads from the very "
            "first message. Not with `before` or `page`."
        ),
    )


# Query parameters that may be sent empty (`?page=`), meaning their default.
EMPTY_MEANS_DEFAULT = frozenset({"page", "limit"})


def postprocess(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Postprocessing hook for what @extend_schema cannot say.

    `page`/`limit` get `allowEmptyValue` (the server reads `?page=` as the default), and every
    503 gets its `Retry-After` header.
    """
    retry_after = {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}
    for item in result.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query" and parameter.get("name") in EMPTY_MEANS_DEFAULT:
                    parameter["allowEmptyValue"] = True
                if parameter.get("in") == "query":
                    _no_nul(parameter.get("schema", {}))
            unavailable = operation.get("responses", {}).get("503")
            if unavailable is not None:
                unavailable.setdefault("headers", {})["Retry-After"] = retry_after
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request"):
            for prop in component.get("properties", {}).values():
                _no_nul(prop)
    return result


NO_NUL = "^[^\\x00]*$"


def _no_nul(schema: dict[str, Any]) -> None:
    """No text input may hold NUL (DRF refuses it, and PostgreSQL cannot store it): say so where
    a string has no pattern of its own (the ones that have one exclude NUL already)."""
    variants = schema.get("oneOf", [schema])
    for variant in variants:
        if variant.get("type") == "string" and "pattern" not in variant and variant.get("maxLength") != 0:
            variant["pattern"] = NO_NUL
