"""The REST envelope shared by every API: renderer, parser, success helper, exception handler.

Success is `{"success": true, "message"?, "data"}`; failure is
`{"success": false, "message", "errors"?}` with the contract's status codes.
"""

from __future__ import annotations

import codecs
import json
import logging
import math
import sys
from collections.abc import Mapping
from typing import Any

import orjson
from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from django.utils.functional import Promise
from rest_framework import exceptions, parsers, renderers, status
from rest_framework.response import Response

from core import metrics
from core.errors import DomainError, Invalid

logger = logging.getLogger("chat.api")

UNAVAILABLE_MESSAGE = "The service is briefly unavailable; retry in a moment."


def _default(obj: Any) -> Any:
    if isinstance(obj, Promise):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def dumps(data: Any) -> bytes:
    """Serialise with orjson; datetimes come out as ISO 8601 UTC with a `Z`."""
    return orjson.dumps(data, default=_default, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS)


class JSONRenderer(renderers.JSONRenderer):
    """DRF's JSON renderer on orjson: several times faster on message pages."""

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if data is None:
            return b""
        return dumps(data)


class _NotJSONNumber(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotJSONNumber(name)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, whose errors say in a sentence what is wrong with the body instead of
    Python's exception text ("'utf-8' codec can't decode byte 0xff in position 30"); a body nested
    deeper than Python's decoder can follow (`[[[[...`, well under the size limit) is a 400, not a 500.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        try:
            text = codecs.getreader(encoding)(stream).read()
        except UnicodeDecodeError:
            raise exceptions.ParseError(f"it is not valid {codecs.lookup(encoding).name.upper()} JSON.") from None
        try:
            return json.loads(text, parse_constant=_refuse_constant)
        except json.JSONDecodeError as exc:
            raise exceptions.ParseError(f"it is not valid JSON (line {exc.lineno}, column {exc.colno}).") from None
        except _NotJSONNumber as exc:
            raise exceptions.ParseError(f"it is not valid JSON ({exc} is not a JSON number).") from None
        except RecursionError:
            raise exceptions.ParseError("its JSON is nested too deeply.") from None
        except ValueError:  # int() refuses a number this long (CVE-2020-10735)
            raise exceptions.ParseError(
                f"a number in it has more than {sys.get_int_max_str_digits()} digits."
            ) from None


def envelope(data: Any, *, status_code: int = 200, message: str | None = None) -> Response:
    body: dict[str, Any] = {"success": True}
    if message:
        body["message"] = message
    body["data"] = data
    return Response(body, status=status_code)


def failure_body(message: str, errors: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"success": False, "message": message}
    if errors:
        body["errors"] = dict(errors)
    return body


def _flatten(detail: Any) -> list[str]:
    if isinstance(detail, dict):
        return [f"{key}: {msg}" for key, value in detail.items() for msg in _flatten(value)]
    if isinstance(detail, list):
        return [msg for item in detail for msg in _flatten(item)]
    return [str(detail)]


def _field_errors(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {str(key): _flatten(value) for key, value in detail.items()}
    return {"non_field_errors": _flatten(detail)}


def _first_problem(errors: Mapping[str, list[str]]) -> str:
    """A 400's message: its first problem as `<field>: <problem>`, the way core.errors.Invalid.field
    names one, so a client that shows the message and then `errors` can leave out what it has shown."""
    for name, problems in errors.items():
        if problems:
            return problems[0] if name == "non_field_errors" else f"{name}: {problems[0]}"
    return Invalid.default_message


def _auth_message(detail: Any) -> str:
    if isinstance(detail, dict):
        inner = detail.get("detail")
        if inner:
            return str(inner)
    return str(detail)


def exception_handler(exc: Exception, context: Mapping[str, Any]) -> Response | None:
    """Map domain and DRF errors to the envelope; anything else is a real 500 (logged)."""
    headers: dict[str, str] = {}
    if isinstance(exc, (DomainError, Http404, DjangoPermissionDenied, exceptions.APIException)):
        metrics.rest_error(exc)
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The database is unreachable or restarting (or chose this transaction as a deadlock
        # victim): nothing was committed, so the client may retry, with the same clientMessageId.
        logger.warning("database unavailable", extra={"error": type(exc).__name__})
        metrics.error("rest", "unavailable")
        return Response(failure_body(UNAVAILABLE_MESSAGE), status=503, headers={"Retry-After": "1"})
    if isinstance(exc, DomainError):
        if getattr(exc, "retry_after", None):
            headers["Retry-After"] = str(exc.retry_after)  # type: ignore[attr-defined]
        return Response(failure_body(exc.message, exc.errors), status=exc.status, headers=headers)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None

    if isinstance(exc, exceptions.ValidationError):
        errors = _field_errors(exc.detail)
        return Response(failure_body(_first_problem(errors), errors), status=400)
    if isinstance(exc, exceptions.ParseError):
        return Response(failure_body(f"Malformed request body: {exc.detail}"), status=400)
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        authenticate_header = None
        view = context.get("view")
        request = context.get("request")
        if view is not None and request is not None:
            authenticate_header = view.get_authenticate_header(request)
        if authenticate_header:
            headers["WWW-Authenticate"] = authenticate_header
        return Response(failure_body(_auth_message(exc.detail)), status=401, headers=headers)
    wait = getattr(exc, "wait", None)
    if isinstance(exc, exceptions.Throttled) and wait is not None:
        headers["Retry-After"] = str(math.ceil(wait))
    if isinstance(exc, exceptions.MethodNotAllowed):
        view = context.get("view")
        if view is not None:
            headers["Allow"] = ", ".join(view.allowed_methods)
    return Response(failure_body(_auth_message(exc.detail)), status=exc.status_code, headers=headers)


# --- Django-level fallbacks (outside DRF views) --------------------------------------------


def json_error(request: HttpRequest, message: str, status_code: int) -> JsonResponse:
    return JsonResponse(failure_body(message), status=status_code)


def handler404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(request, "Not found.", status.HTTP_404_NOT_FOUND)


def handler500(request: HttpRequest) -> JsonResponse:
    return json_error(request, "Internal server error.", status.HTTP_500_INTERNAL_SERVER_ERROR)


def handler400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(request, "Bad request.", status.HTTP_400_BAD_REQUEST)


def handler403(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return json_error(request, "Forbidden.", status.HTTP_403_FORBIDDEN)
