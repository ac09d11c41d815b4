"""HTTP middleware of every app: the body-size limit, and static files served by daphne itself."""

from __future__ import annotations

import os
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from whitenoise.middleware import WhiteNoiseMiddleware

from core.rest import failure_body


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


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, so daphne serves /static/ itself whether DEBUG is on or off.

    Daphne (unlike `runserver`) serves no static files, and Django's own static view is
    for DEBUG only. With WHITENOISE_USE_FINDERS the files come straight from each app's
    static/ folder, so `make run`, the tests and a container work without a collectstatic
    step; STATIC_ROOT is read only once collectstatic has created it, instead of
    WhiteNoise warning about the missing folder at every start.
    """

    def add_files(self, root: str, prefix: str | None = None) -> None:
        if not self.autorefresh and not os.path.isdir(root):
            return
        super().add_files(root, prefix)
