"""HTTP middleware that must run before any view parses a body."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from chatproject.api import failure_body


class BodySizeLimitMiddleware:
    """Refuse bodies over MAX_BODY_BYTES with 413 before anything reads them.

    DRF's parsers read the request stream directly, bypassing Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE check, so without this a 100 MB JSON body would be parsed.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit: int = settings.MAX_BODY_BYTES
        raw = request.META.get("CONTENT_LENGTH") or ""
        if raw:
            if not raw.isdigit():
                return JsonResponse(failure_body("Content-Length must be a whole number."), status=400)
            if int(raw) > limit:
                return JsonResponse(failure_body(f"Request body is larger than {limit} bytes."), status=413)
        return self.get_response(request)
