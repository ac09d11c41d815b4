"""Probes for load balancers and orchestrators: /healthz (process alive) and /readyz (dependencies).

/healthz touches nothing, so a slow database never gets a live process restarted. /readyz
asks the database for `SELECT 1` and the channel layer's Redis for a PING, each bounded
in time, and answers 503 naming what failed, so traffic is routed elsewhere until both answer.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe

logger = logging.getLogger("chat.health")

REDIS_TIMEOUT_SECONDS = 2.0


@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


DATABASE_TIMEOUT_SECONDS = 2.0


def pool_of(connection: Any) -> Any | None:
    """The psycopg connection pool behind a Django connection (Django's `pool` property), if any."""
    return getattr(connection, "pool", None)


def check_database() -> None:
    """SELECT 1 on a connection from the pool, waiting at most DATABASE_TIMEOUT_SECONDS for one.

    Through Django's cursor a down database would hold the probe for the pool's whole timeout
    (10 s), longer than a load balancer waits; the fault test measured exactly that.
    """
    connection = connections["default"]
    pool = pool_of(connection)
    if pool is None:  # SQLite, or PostgreSQL without the pool
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return
    # Django opens its pool at the first query (and makes a new, unopened one after close_pool),
    # so in a fresh process the probe may be the first to use it: open it the way Django's
    # get_new_connection does (idempotent, returns at once while the pool fills).
    pool.open()
    with pool.connection(timeout=DATABASE_TIMEOUT_SECONDS) as conn:
        conn.execute("SELECT 1").fetchone()


def _layer_redis_address() -> str | None:
    """The Redis URL behind the default channel layer, or None for a layer without one."""
    layer: dict[str, Any] = settings.CHANNEL_LAYERS.get("default", {})
    backend = str(layer.get("BACKEND", ""))
    if "channels_redis" not in backend and backend != "core.layers.ChatChannelLayer":  # ours is channels-redis'
        return None
    host = layer.get("CONFIG", {}).get("hosts", [None])[0]
    if isinstance(host, dict):
        return str(host["address"])
    return str(host) if host else None


@cache
def _redis_client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(
        url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS, max_connections=4
    )


def check_channel_layer() -> None:
    """PING the layer's Redis; the in-memory layer lives in this process and is always there."""
    url = _layer_redis_address()
    if url is not None:
        _redis_client(url).ping()


CHECKS = {"database": check_database, "channel_layer": check_channel_layer}


@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:  # any failure means "not ready"; the kind is enough to act on
            logger.warning("readiness check failed", extra={"check": name, "error": type(exc).__name__})
            results[name] = f"unavailable ({type(exc).__name__})"
        else:
            results[name] = "ok"
    ready = all(value == "ok" for value in results.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": results}, status=200 if ready else 503)
