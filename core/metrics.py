"""Prometheus metrics of this process, served at /metrics, and the middleware that times requests.

Every label takes values from a fixed set (route names, not raw paths; the contract's event
names and error codes), so the number of series stays bounded whatever clients send. Each
daphne process keeps its own registry: Prometheus scrapes every process and sums.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest

from core.errors import ERROR_CODES, DomainError

ERRORS = Counter("chat_errors_total", "Errors answered to clients, by transport and code.", ["transport", "code"])
REQUEST_LATENCY = Histogram(
    "chat_http_request_duration_seconds",
    "HTTP request latency by route name, method and status.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

TRANSPORTS = frozenset({"rest", "ws"})
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def bounded(value: str, allowed: frozenset[str]) -> str:
    return value if value in allowed else "other"


def error(transport: str, code: str) -> None:
    ERRORS.labels(transport=bounded(transport, TRANSPORTS), code=bounded(code, ERROR_CODES)).inc()


# The REST exception handler's DRF exceptions, named like the socket's codes.
_DRF_CODES = {
    "invalid": "invalid",
    "parse_error": "invalid_json",
    "authentication_failed": "unauthenticated",
    "not_authenticated": "unauthenticated",
    "permission_denied": "forbidden",
    "not_found": "not_found",
    "method_not_allowed": "method_not_allowed",
    "not_acceptable": "not_acceptable",
    "unsupported_media_type": "unsupported_media_type",
    "throttled": "rate_limited",
    "payload_too_large": "payload_too_large",
}


def rest_error(exc: Exception) -> None:
    """Count an error the REST exception handler answers (domain errors and DRF's own)."""
    if isinstance(exc, DomainError):
        error("rest", exc.code)
    elif isinstance(exc, Http404):
        error("rest", "not_found")
    elif isinstance(exc, DjangoPermissionDenied):
        error("rest", "forbidden")
    else:
        error("rest", _DRF_CODES.get(str(getattr(exc, "default_code", "")), "other"))


def route_of(request: HttpRequest) -> str:
    """The URL pattern's name (`chat-send`, `admin:index`), never the raw path."""
    match = request.resolver_match
    if match is None:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return "unmatched"
    return match.view_name or "unnamed"


class RequestMetricsMiddleware:
    """Time every HTTP request (outermost, so 413s and static files count too)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        REQUEST_LATENCY.labels(
            route=route_of(request),
            method=bounded(request.method or "", _METHODS),
            status=str(response.status_code),
        ).observe(time.perf_counter() - started)
        if response.status_code == 413:
            error("rest", "payload_too_large")
        return response


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The Prometheus text format; with METRICS_TOKEN set, only for `Authorization: Bearer <it>`."""
    token: str = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            response = JsonResponse({"success": False, "message": "A valid metrics token is required."}, status=401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
