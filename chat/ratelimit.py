"""The chat's limits: messages and uploads per user over every transport, and the throttles of
what a socket makes others see (typing, stop_typing, joining and leaving a room)."""

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


# How long a forwarded typing leaves the user "typing" for a stop_typing to end: longer than any
# client's pause between keystrokes, short enough that a lost stop does not linger.
TYPING_STATE_SECONDS = 30.0


def allow_typing(user_id: int, conversation_id: int) -> bool:
    """Whether a typing event may be forwarded: at most one per TYPING_INTERVAL_SECONDS per conversation."""
    key = f"presence:rate:typing:{conversation_id}:{user_id}"
    if not ratelimit.first_in(key, seconds=float(settings.TYPING_INTERVAL_SECONDS), what="typing"):
        return False
    ratelimit.raise_flag(f"presence:typing:{conversation_id}:{user_id}", seconds=TYPING_STATE_SECONDS, what="typing")
    return True


def allow_stop_typing(user_id: int, conversation_id: int) -> bool:
    """Whether a stop_typing may be forwarded: once after each forwarded typing, so stops are
    throttled with typing (at most one per TYPING_INTERVAL_SECONDS) and never flood the room."""
    return ratelimit.lower_flag(f"presence:typing:{conversation_id}:{user_id}", what="stop_typing")


def allow_room_event(user_id: int, conversation_id: int, kind: str) -> bool:
    """Whether a user_joined / user_left (`kind`) may be forwarded: at most one of each per
    ROOM_EVENT_INTERVAL_SECONDS per user and room, so leave/join loops do not flood the room."""
    return allow_room_events([(user_id, conversation_id)], kind)[0]


def allow_room_events(rooms: list[tuple[int, int]], kind: str) -> list[bool]:
    """`allow_room_event` for each (user id, conversation id), in one store round trip."""
    keys = [f"presence:rate:room:{kind}:{conversation_id}:{user_id}" for user_id, conversation_id in rooms]
    return ratelimit.first_in_all(keys, seconds=float(settings.ROOM_EVENT_INTERVAL_SECONDS), what=kind)
