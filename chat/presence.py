"""Sockets and conversation rooms across processes: who came online, who sits in which room.

Each open socket is an entry with an expiry time in the shared store (core.store). A socket
refreshes its entries with a heartbeat; a process that dies without running `disconnect`
stops refreshing, so its entries lapse after PRESENCE_TTL_SECONDS instead of leaving the user
online or in a room forever.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings

from accounts.presence import user_key
from core import store
from core.store import FirstMember, PopIf, RedisStore, lossy

PRESENCE_TTL_SECONDS = float(settings.PRESENCE_TTL_SECONDS)
HEARTBEAT_SECONDS = PRESENCE_TTL_SECONDS / 3


def room_key(conversation_id: int, user_id: int) -> str:
    return f"presence:room:{conversation_id}:{user_id}"


def announced_key(user_id: int) -> str:
    """Raised while the user's partners were last told "online" (presence flaps, below)."""
    return f"presence:announced:{user_id}"


def _announced_ttl() -> float:
    # Refreshed by the heartbeat while a socket is open, and it must outlast the grace after the
    # last one closes; a process that dies lets it lapse like every other entry.
    return PRESENCE_TTL_SECONDS + float(settings.PRESENCE_GRACE_SECONDS)


# --- Sockets and users ---------------------------------------------------------------------


def gone_key(user_id: int) -> str:
    """When the user's last socket closed (one member per such close), until a socket comes back."""
    return f"presence:gone:{user_id}"


def socket_connected(user_id: int, channel_name: str) -> tuple[int, bool]:
    """`sockets_connected` for one socket."""
    return sockets_connected([(user_id, channel_name)])[0]


def sockets_connected(sockets: list[tuple[int, str]]) -> list[tuple[int, bool]]:
    """Record each (user id, channel name) socket, in order and in one round trip: how many live
    sockets its user then has on every process, and whether coming online is news. Over
    MAX_SOCKETS_PER_USER the socket is not kept. On the user's first socket the closes they came
    back from no longer count, and it is news unless they were announced online and their offline
    was not announced yet (back within PRESENCE_GRACE_SECONDS). (0, False) for each when the store
    is unreachable: then neither the cap nor an announcement applies."""
    recorded = _sockets_connected(sockets)
    return recorded if recorded is not None else [(0, False)] * len(sockets)


def _unknown() -> Any:
    """The batched calls' answer when the store is unreachable: their callers fill in each item."""
    return None


@lossy(_unknown)
def _sockets_connected(sockets: list[tuple[int, str]]) -> list[tuple[int, bool]] | None:
    entries = [
        (
            user_key(user_id),
            channel_name,
            FirstMember(
                cap=settings.MAX_SOCKETS_PER_USER,
                clear_key=gone_key(user_id),
                flag_key=announced_key(user_id),
                flag_member="online",
                flag_ttl=_announced_ttl(),
            ),
        )
        for user_id, channel_name in sockets
    ]
    return store.shared().add_first_all(entries, PRESENCE_TTL_SECONDS)


@lossy(lambda: None)
def went_away(user_ids: list[int], since: str) -> None:
    """These users' last sockets closed at `since` (their offline is announced after the grace),
    in one round trip."""
    store.shared().add_all([(gone_key(user_id), since) for user_id in user_ids], _announced_ttl())


def announce_offline(user_ids: list[int], since: str) -> list[bool]:
    """For each user, whether to announce them offline now: no socket of theirs came back since
    `since` and none is open on any process, and they were announced online. Atomic for each, so
    of the processes whose last socket of the user closed one announces, and none while a socket
    came back; one round trip for all. False for each when the store is unreachable."""
    announced = _announce_offline(user_ids, since)
    return announced if announced is not None else [False] * len(user_ids)


@lossy(_unknown)
def _announce_offline(user_ids: list[int], since: str) -> list[bool] | None:
    entries = [
        PopIf(announced_key(user_id), "online", empty_key=user_key(user_id), present_key=gone_key(user_id),
              present_member=since)
        for user_id in user_ids
    ]  # fmt: skip
    return store.shared().pop_if_all(entries)


def socket_closed(user_id: int, channel_name: str, conversation_ids: Iterable[int]) -> bool:
    """`sockets_closed` for one socket."""
    return sockets_closed([(user_id, channel_name, conversation_ids)])[0]


def sockets_closed(sockets: Sequence[tuple[int, str, Iterable[int]]]) -> list[bool]:
    """Forget each (user id, channel name, conversation ids) socket and its room entries, in order
    and in one round trip: whether it was its user's last. False for each when the store is
    unreachable (the entries lapse after PRESENCE_TTL_SECONDS)."""
    closed = _sockets_closed(sockets)
    return closed if closed is not None else [False] * len(sockets)


@lossy(_unknown)
def _sockets_closed(sockets: Sequence[tuple[int, str, Iterable[int]]]) -> list[bool] | None:
    pairs: list[tuple[str, str]] = []
    users: list[int] = []  # where each socket's user entry sits in `pairs`
    for user_id, channel_name, conversation_ids in sockets:
        pairs += [(room_key(conversation_id, user_id), channel_name) for conversation_id in conversation_ids]
        pairs.append((user_key(user_id), channel_name))
        users.append(len(pairs) - 1)
    left = store.shared().remove_all(pairs)
    return [left[index] == 0 for index in users]


@lossy(lambda: None)
def heartbeat(user_id: int, channel_name: str, conversation_ids: Iterable[int]) -> None:
    """Refresh a live socket's entries so they outlast the TTL while it stays open."""
    pairs = [(user_key(user_id), channel_name)]
    pairs += [(room_key(conversation_id, user_id), channel_name) for conversation_id in conversation_ids]
    store.shared().add_all(pairs, PRESENCE_TTL_SECONDS)
    store.shared().add(announced_key(user_id), "online", _announced_ttl())


# --- Conversation rooms --------------------------------------------------------------------


def room_joined(conversation_id: int, user_id: int, channel_name: str) -> bool:
    """Put a socket in a room; whether it is the user's first there (on any process)."""
    return rooms_joined([(conversation_id, user_id, channel_name)])[0]


def rooms_joined(entries: Sequence[tuple[int, int, str]]) -> list[bool]:
    """Put each (conversation id, user id, channel name) socket in its room, in order and in one
    round trip: whether it is its user's first there. True for each when the store is unreachable."""
    joined = _rooms_joined(entries)
    return joined if joined is not None else [True] * len(entries)


@lossy(_unknown)
def _rooms_joined(entries: Sequence[tuple[int, int, str]]) -> list[bool] | None:
    pairs = [(room_key(conversation_id, user_id), channel) for conversation_id, user_id, channel in entries]
    return [count == 1 for count in store.shared().add_all(pairs, PRESENCE_TTL_SECONDS)]


@lossy(lambda: True)
def room_left(conversation_id: int, user_id: int, channel_name: str) -> bool:
    """Take a socket out of a room; whether it was the user's last there."""
    return store.shared().remove(room_key(conversation_id, user_id), channel_name) == 0


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
