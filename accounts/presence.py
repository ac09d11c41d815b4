"""Whether a user is online: one live entry per open socket, on any process, in the shared store.

Sockets are the chat's (chat.presence adds and removes the entries as they open, beat and
close); what they mean, "this user is online", is read here.
"""

from __future__ import annotations

from collections.abc import Iterable

from core import store
from core.store import lossy


def user_key(user_id: int) -> str:
    return f"presence:user:{user_id}"


@lossy(set[int])
def online_among(user_ids: Iterable[int]) -> set[int]:
    """The ids among `user_ids` with a live socket (one store round trip)."""
    ids = list(dict.fromkeys(user_ids))
    counts = store.shared().live_counts([user_key(uid) for uid in ids])
    return {uid for uid, count in zip(ids, counts, strict=True) if count}


def is_online(user_id: int) -> bool:
    return bool(online_among([user_id]))
