"""The browser chat client's HTTP side: the page at `/` and static-file serving under daphne.

The client itself is plain JavaScript modules in chat/static/chat/ that talk to the same
REST API and WebSocket as any other client; this module only hands the browser the page
and its files, so the server holds no client state and needs no build step.
"""

from __future__ import annotations

import os

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe
from whitenoise.middleware import WhiteNoiseMiddleware

# The page loads only its own files and talks only to its own origin (REST and the
# same-origin WebSocket): even if a message ever reached the DOM as HTML, an injected
# script, style or image from elsewhere would not run or load.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    """The single page; it needs no session because the client authenticates with JWTs itself."""
    response = render(request, "chat/index.html")
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response["Referrer-Policy"] = "same-origin"
    response["Cache-Control"] = "no-cache"
    return response


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
