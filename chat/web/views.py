"""The browser chat client's page at `/`.

The client itself is plain JavaScript modules in chat/static/chat/ that talk to the same REST
API and WebSocket as any other client (served by core.middleware.StaticFilesMiddleware); this
hands the browser the page, so the server holds no client state and needs no build step.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

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


def image_sources() -> str:
    """Where attachment images may load from: the app itself, or the object store's presigned links.

    With S3 the links point at the store (its endpoint, or AWS's virtual-hosted bucket names), so
    only that origin is added, for images alone; scripts and connections stay same-origin.
    """
    if not settings.S3_BUCKET:
        return ""
    endpoint = settings.S3_ENDPOINT_URL
    if not endpoint:
        return " https://*.amazonaws.com"
    scheme, _, rest = endpoint.partition("://")
    host = rest.split("/", 1)[0]
    return f" {scheme}://{host} {scheme}://*.{host}"  # path-style and virtual-hosted addressing


def content_security_policy() -> str:
    return CONTENT_SECURITY_POLICY.replace("img-src 'self' data:", f"img-src 'self' data:{image_sources()}")


def edit_window() -> str:
    """MESSAGE_EDIT_WINDOW_SECONDS as the page hands it to the client: seconds, or "unlimited"."""
    seconds = settings.MESSAGE_EDIT_WINDOW_SECONDS
    return "unlimited" if seconds is None else str(seconds)  # 0: edits are off


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    """The single page; it needs no session because the client authenticates with JWTs itself.

    It tells the client the edit window, so "Edit" is offered only while the server allows it.
    """
    response = render(request, "chat/index.html", {"edit_window": edit_window()})
    response["Content-Security-Policy"] = content_security_policy()
    response["Referrer-Policy"] = "same-origin"
    response["Cache-Control"] = "no-cache"
    return response
