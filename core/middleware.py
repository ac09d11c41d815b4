"""HTTP middleware of every app: how large a request body may be, per route, and static files
served by daphne itself."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from whitenoise.middleware import WhiteNoiseMiddleware

from core.rest import failure_body

# Routes whose bodies may be larger than MAX_BODY_BYTES: (path prefix, name of the setting with
# their limit), the first match wins. `manage.py serve` and BodySizeLimitMiddleware both ask
# body_limit(), so a route that needs more (uploads) adds one line here.
ROUTE_BODY_LIMITS: tuple[tuple[str, str], ...] = (
    # Uploads: the file's limit plus its multipart framing (chat/rest/uploads.py).
    ("/api/chat/attachments", "ATTACHMENT_REQUEST_MAX_BYTES"),
)


def body_limit(path: str) -> int:
    """The most bytes a request body to `path` may have."""
    for prefix, setting in ROUTE_BODY_LIMITS:
        if path.startswith(prefix):
            return int(getattr(settings, setting))
    return int(settings.MAX_BODY_BYTES)


def too_large_body(limit: int) -> dict[str, Any]:
    """The envelope of a 413, the same whether the server or Django refuses the body."""
    return failure_body(f"Request body is larger than {limit} bytes.")


class BodySizeLimitMiddleware:
    """Refuse a body over its route's limit with 413 before a view reads it.

    `manage.py serve` refuses it earlier, from the headers (core/daphne_body_limit.py); this covers
    any other server, and DRF's parsers, which bypass DATA_UPLOAD_MAX_MEMORY_SIZE.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = body_limit(request.path_info)
        raw = request.META.get("CONTENT_LENGTH") or ""
        if raw:
            if not (raw.isascii() and raw.isdigit()):
                return JsonResponse(failure_body("Content-Length must be a whole number."), status=400)
            if int(raw) > limit:
                return JsonResponse(too_large_body(limit), status=413)
        return self.get_response(request)


class StaticFilesMiddleware(WhiteNoiseMiddleware):  # type: ignore[misc]  # whitenoise ships no types
    """WhiteNoise, so daphne serves /static/ itself whether DEBUG is on or off.

    Files come from each app's static/ folder (WHITENOISE_USE_FINDERS), so nothing needs a
    collectstatic step; a missing STATIC_ROOT is skipped instead of warned about at every start.
    """

    def add_files(self, root: str, prefix: str | None = None) -> None:
        if not self.autorefresh and not os.path.isdir(root):
            return
        super().add_files(root, prefix)
