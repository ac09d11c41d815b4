"""The client's address for per-address limits: the socket peer, or with TRUSTED_PROXIES the
address the nearest untrusted hop gave.

A proxy appends the address it received the request from to `X-Forwarded-For`; anything to the
left of the last trusted hop was written by the client and proves nothing, so the address is
the right-most one that is not a trusted proxy. Without TRUSTED_PROXIES the header is ignored:
whoever can reach the server directly could otherwise claim any address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from django.conf import settings

UNKNOWN = "unknown"


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(address in network for network in settings.TRUSTED_PROXIES)


def client_address(meta: Mapping[str, Any]) -> str:
    """The address a request came from (Django's `request.META`), as text."""
    peer = _ip(str(meta.get("REMOTE_ADDR") or ""))
    if peer is None:
        return UNKNOWN
    if not settings.TRUSTED_PROXIES or not _trusted(peer):
        return str(peer)
    hops = [hop for hop in str(meta.get("HTTP_X_FORWARDED_FOR") or "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _ip(hop)
        if address is None:
            return UNKNOWN  # a malformed hop: what lies left of it cannot be trusted either
        if not _trusted(address):
            return str(address)
    return str(peer)  # every hop is a proxy of ours: the request started inside
