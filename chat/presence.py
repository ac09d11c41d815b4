"""Sockets and conversation rooms across processes: who came online, who sits in which room.

Each open socket is an entry with an expiry time in the shared store (core.store). A socket
refreshes its entries with a heartbeat; a process that dies without running `disconnect`
stops refreshing, so its entries lapse after PRESENCE_TTL_SECONDS instead of leaving the user
online or in a room forever.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings

from accounts.presence import user_key
from core import store
from core.store import RedisStore, lossy

PRESENCE_TTL_SECONDS = float(settings.PRESENCE_TTL_SECONDS)
HEARTBEAT_SECONDS = PRESENCE_TTL_SECONDS / 3


def room_key(conversation_id: int, user_id: int) -> str:
    return f"presence:room:{conversation_id}:{user_id}"


# --- Sockets and users ---------------------------------------------------------------------


@lossy(bool)
def socket_connected(user_id: int, channel_name: str) -> bool:
    """Record a socket; True when it is the user's first live one (the user came online)."""
    return store.shared().add(user_key(user_id), channel_name, PRESENCE_TTL_SECONDS) == 1


@lossy(bool)
def socket_closed(user_id: int, channel_name: str, conversation_ids: Iterable[int]) -> bool:
    """Forget a socket and its room entries in one round trip; True when it was the user's last."""
    pairs = [(room_key(conversation_id, user_id), channel_name) for conversation_id in conversation_ids]
    pairs.append((user_key(user_id), channel_name))
    return store.shared().remove_all(pairs)[-1] == 0


@lossy(lambda: None)
def heartbeat(user_id: int, channel_name: str, conversation_ids: Iterable[int]) -> None:
    """Refresh a live socket's entries so they outlast the TTL while it stays open."""
    pairs = [(user_key(user_id), channel_name)]
    pairs += [(room_key(conversation_id, user_id), channel_name) for conversation_id in conversation_ids]
    store.shared().add_all(pairs, PRESENCE_TTL_SECONDS)


# --- Conversation rooms --------------------------------------------------------------------


@lossy(lambda: None)
def room_joined(conversation_id: int, user_id: int, channel_name: str) -> None:
    store.shared().add(room_key(conversation_id, user_id), channel_name, PRESENCE_TTL_SECONDS)


@lossy(lambda: None)
def room_left(conversation_id: int, user_id: int, channel_name: str) -> None:
    store.shared().remove(room_key(conversation_id, user_id), channel_name)


@lossy(lambda: (False, False))
def online_and_in_room(user_id: int, conversation_id: int, room_user_id: int) -> tuple[bool, bool]:
    """Whether `user_id` is online and whether `room_user_id` sits in the room: one store round trip."""
    online, in_room = store.shared().live_counts([user_key(user_id), room_key(conversation_id, room_user_id)])
    return bool(online), bool(in_room)


def redisroom_key(conversation_id: int, user_id: int) -> str | None:
    """The Redis key of a user's sockets in a room (for scripts that check it), or None without Redis."""
    s = store.shared()
    return s.key(room_key(conversation_id, user_id)) if isinstance(s, RedisStore) else None


@lossy(bool)
def user_in_room(conversation_id: int, user_id: int) -> bool:
    """Whether any of the user's sockets, on any process, sits in the conversation room."""
    return bool(store.shared().live_counts([room_key(conversation_id, user_id)])[0])
