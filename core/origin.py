"""WebSocket Origin policy: a browser's handshake must come from exactly an allowed origin; a
client that sends no Origin (a mobile app, a server) is let in on its token alone.

Allowed are the origins in FRONTEND_URL and the server's own origin (the scheme and `Host` the
handshake came with, the host one of ALLOWED_HOSTS): exactly what CORS allows for REST, scheme
and port included, so `http://localhost:8080` or `https://127.0.0.1` are not the same site as
`http://127.0.0.1:3010`. Channels' AllowedHostsOriginValidator refuses a missing Origin and
accepts any port of an allowed host, hence ours (docs/websocket.md).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _normalised(scheme: str, netloc: str) -> str | None:
    """`scheme://host[:port]` in lower case with the scheme's default port left out, or None."""
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def _header(scope: dict[str, Any], name: bytes) -> list[str]:
    return [value.decode("latin1") for key, value in scope.get("headers", []) if key == name]


def own_origin(scope: dict[str, Any]) -> str | None:
    """The origin a browser on this server's own pages sends: the handshake's scheme (https
    behind a TLS proxy that says so) and its `Host`, when that host is one of ALLOWED_HOSTS."""
    hosts = _header(scope, b"host")
    if len(hosts) != 1:
        return None
    domain, _ = split_domain_port(hosts[0])
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    secure = scope.get("scheme") == "wss"
    if settings.SECURE_PROXY_SSL_HEADER:
        forwarded = _header(scope, b"x-forwarded-proto")
        secure = secure or (len(forwarded) == 1 and forwarded[0].strip().lower() == "https")
    return _normalised("https" if secure else "http", hosts[0])


def origin_allowed(origin: str | None, scope: dict[str, Any]) -> bool:
    if origin is None:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.path or parts.query or parts.fragment:
        return False  # an Origin is scheme://host[:port] and nothing else
    normalised = _normalised(parts.scheme, parts.netloc)
    if normalised is None:
        return False  # includes the opaque origin "null" and non-http schemes
    allowed = {_normalised(*o.split("://", 1)) for o in settings.FRONTEND_ORIGINS}
    return normalised in allowed or normalised == own_origin(scope)


class OriginPolicy:
    """ASGI middleware in front of the consumer: refuse a foreign Origin before accepting."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        origins = _header(scope, b"origin")
        origin = origins[0] if origins else None
        if len(origins) > 1 or not origin_allowed(origin, scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
