"""GET /api/asyncapi.yaml: the WebSocket protocol's AsyncAPI document, kept in docs/asyncapi.yaml.

Served as the file itself (no token needed), so what clients download is exactly what
tests/chat/ws/test_protocol_docs.py validated against the AsyncAPI schema and chat/ws/protocol.py.
"""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

CONTENT_TYPE = "application/yaml; charset=utf-8"


@cache
def document() -> bytes:
    return (settings.BASE_DIR / "docs" / "asyncapi.yaml").read_bytes()


@require_safe
def asyncapi_yaml(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(document(), content_type=CONTENT_TYPE)
    response["Cache-Control"] = "public, max-age=300"
    return response
