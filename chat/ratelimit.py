"""Per-user message rate limit and the typing throttle, shared by every server process.

Both are sliding windows kept in the presence store (Redis with REDIS_URL, memory without):
each event is a member that expires after the window, so the live count is the number of
events in the last window, on every process at once.

When Redis cannot be reached the limits fail open: a message is more valuable than the
limit, so the send goes on (and is stored), and the failure is logged once per call.
"""

from __future__ import annotations

import logging
import uuid

from django.conf import settings

from chat import presence
from chat.errors import RateLimited

log = logging.getLogger(__name__)


def _store_error(exc: Exception, what: str) -> None:
    log.warning("rate limit store unreachable; %s not limited", what, extra={"error": type(exc).__name__})


def check_message_rate(user_id: int) -> None:
    """Count one message against MESSAGE_RATE_LIMIT, or raise RateLimited (REST 429, socket error)."""
    take_message_slot(user_id)


def take_message_slot(user_id: int) -> str | None:
    """Count one message and return its slot (for `refund_message_slot`), or raise RateLimited.

    None when nothing was counted (the limit is off, or its store unreachable).
    """
    limit = settings.MESSAGE_RATE_LIMIT
    if not limit.enabled:
        return None
    store = presence.store()
    member = uuid.uuid4().hex
    try:
        if store.add(_message_key(user_id), member, float(limit.seconds)) <= limit.count:
            return member
        store.remove(_message_key(user_id), member)  # a refused message does not count against the next window
    except presence.STORE_ERRORS as exc:
        _store_error(exc, "message")
        return None
    raise RateLimited(limit.seconds)


def refund_message_slot(user_id: int, slot: str | None) -> None:
    """Give back a slot taken for a send that stored nothing (a retry answered with the first message)."""
    if slot is None:
        return
    try:
        presence.store().remove(_message_key(user_id), slot)
    except presence.STORE_ERRORS as exc:
        _store_error(exc, "message refund")


def _message_key(user_id: int) -> str:
    return f"presence:rate:message:{user_id}"


def allow_typing(user_id: int, conversation_id: int) -> bool:
    """Whether a typing event may be forwarded: at most one per TYPING_INTERVAL_SECONDS per conversation."""
    store = presence.store()
    key = f"presence:rate:typing:{conversation_id}:{user_id}"
    member = uuid.uuid4().hex
    try:
        if store.add(key, member, float(settings.TYPING_INTERVAL_SECONDS)) == 1:
            return True
        store.remove(key, member)
    except presence.STORE_ERRORS as exc:
        _store_error(exc, "typing")
        return True
    return False
