"""The chat's limits: messages per user over every transport, uploads per user, and the typing throttle."""

from __future__ import annotations

from django.conf import settings

from core import ratelimit


def check_message_rate(user_id: int) -> None:
    """Count one message against MESSAGE_RATE_LIMIT, or raise RateLimited (REST 429, socket error)."""
    limit = settings.MESSAGE_RATE_LIMIT
    if limit.enabled:
        ratelimit.take(f"presence:rate:message:{user_id}", count=limit.count, seconds=limit.seconds, what="message")


def check_upload_rate(user_id: int) -> None:
    """Count one upload against ATTACHMENT_UPLOAD_RATE_LIMIT, or raise RateLimited (429)."""
    limit = settings.ATTACHMENT_UPLOAD_RATE_LIMIT
    if limit.enabled:
        ratelimit.take(
            f"presence:rate:upload:{user_id}",
            count=limit.count,
            seconds=limit.seconds,
            what="upload",
            message=f"Too many uploads; retry in {limit.seconds} s.",
        )


def allow_typing(user_id: int, conversation_id: int) -> bool:
    """Whether a typing event may be forwarded: at most one per TYPING_INTERVAL_SECONDS per conversation."""
    key = f"presence:rate:typing:{conversation_id}:{user_id}"
    return ratelimit.first_in(key, seconds=float(settings.TYPING_INTERVAL_SECONDS), what="typing")
