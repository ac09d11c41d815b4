"""WebSocket Origin policy: browsers must come from an allowed origin; non-browsers need none.

Channels' AllowedHostsOriginValidator refuses a handshake without an Origin header, but
mobile apps and servers send none and are let in on their token alone (docs/websocket.md).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import validate_host


def origin_allowed(origin: str | None) -> bool:
    if origin is None:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return False  # includes the opaque origin "null"
    normalised = f"{parts.scheme}://{parts.netloc}".lower()
    if normalised in settings.FRONTEND_ORIGINS:
        return True
    return validate_host(parts.hostname, settings.ALLOWED_HOSTS)


class OriginPolicy:
    """ASGI middleware in front of the consumer: refuse a foreign Origin before accepting."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        origins = [value for name, value in scope.get("headers", []) if name == b"origin"]
        origin = origins[0].decode("latin1") if origins else None
        if len(origins) > 1 or not origin_allowed(origin):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
