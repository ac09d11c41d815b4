"""Who a user shares a conversation with, whom they block, and whose presence they may see:
presence is private to people who share a conversation and neither of whom blocks the other."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection
from django.db.models import Exists, OuterRef, Q

from accounts.models import User
from chat.models import Block, Conversation
from core.db import by_pks_with

_CONVERSATION = Conversation._meta.db_table
_BLOCK = Block._meta.db_table

# Partners of {me} in pairs in which neither blocks the other: a blocked pair hears nothing of each other.
_PARTNERS = """
SELECT CASE WHEN c.participant_1_id = {me} THEN c.participant_2_id ELSE c.participant_1_id END AS other
  FROM {conversation} c
 WHERE (c.participant_1_id = {me} OR c.participant_2_id = {me})
   AND NOT EXISTS (SELECT 1 FROM {block} b
                    WHERE (b.blocker_id = c.participant_1_id AND b.blocked_id = c.participant_2_id)
                       OR (b.blocker_id = c.participant_2_id AND b.blocked_id = c.participant_1_id))
"""

_BLOCKED_EITHER_WAY = """
SELECT blocked_id AS other FROM {block} WHERE blocker_id = {me}
UNION
SELECT blocker_id FROM {block} WHERE blocked_id = {me}
"""

_PARTNERS_SQL = _PARTNERS.format(me="%s", conversation=_CONVERSATION, block=_BLOCK)

# Beside each user's row (core.db.by_pks_with), by database: whom they block or are blocked by, and
# their partners, each as one comma-separated value, so the rows and their lists are one statement.
_OUTER_USER = f'"{User._meta.db_table}"."{User._meta.pk.column}"'
_OWNERS_BLOCKED = _BLOCKED_EITHER_WAY.format(me=_OUTER_USER, block=_BLOCK)
_OWNERS_PARTNERS = _PARTNERS.format(me=_OUTER_USER, conversation=_CONVERSATION, block=_BLOCK)
_SOCKET_OWNER_LISTS = {
    vendor: [
        f"(SELECT {aggregate} FROM ({_OWNERS_BLOCKED}) AS blocked)",  # noqa: S608 - constants only
        f"(SELECT {aggregate} FROM ({_OWNERS_PARTNERS}) AS partners)",  # noqa: S608 - constants only
    ]
    for vendor, aggregate in (
        ("postgresql", "string_agg(CAST(other AS TEXT), ',')"),
        ("sqlite", "group_concat(other, ',')"),
    )
}


def partner_ids(user_id: int) -> list[int]:
    """Ids of everyone who shares a conversation with the user and is not blocked either way
    (presence recipients).

    Runs on every socket's last disconnect, so it is a plain statement (docs/benchmarks.md,
    "partners"); a socket's start reads it with `socket_owners`.
    """
    with connection.cursor() as cursor:
        cursor.execute(_PARTNERS_SQL, [user_id] * 3)
        return [int(row[0]) for row in cursor.fetchall()]


@dataclass(frozen=True, slots=True)
class SocketOwner:
    """What a socket's start reads of its user: the row, whom they block or are blocked by
    (between them no typing, presence or join/leave event passes: the session keeps this set and
    chat.ws.consumer drops those events), and their partners (`partner_ids`)."""

    user: User
    blocked: frozenset[int]
    partners: list[int]


def socket_owners(user_ids: list[int]) -> dict[int, SocketOwner]:
    """Each user's row, whom they block or are blocked by and `partner_ids`, in one statement for
    them all (the sockets that start together make it: docs/benchmarks.md, "connect batches");
    users that do not exist are left out."""
    found = by_pks_with(User, user_ids, _SOCKET_OWNER_LISTS[connection.vendor])
    return {
        pk: SocketOwner(user, frozenset(_ids(blocked)), _ids(partners))
        for pk, (user, (blocked, partners)) in found.items()
    }


def _ids(joined: str | None) -> list[int]:
    return [int(i) for i in joined.split(",")] if joined else []


def is_blocked_between(a: int, b: int) -> bool:
    return Block.objects.filter(Q(blocker_id=a, blocked_id=b) | Q(blocker_id=b, blocked_id=a)).exists()


def blocked_by(user: User) -> list[User]:
    """The users `user` blocks, most recently blocked first."""
    blocks = Block.objects.filter(blocker=user).select_related("blocked").order_by("-created_at", "-id")
    return [b.blocked for b in blocks]


def presence_hidden_from(viewer_id: int, user_ids: Iterable[int]) -> set[int]:
    """The one rule of whose presence a viewer may not see, among `user_ids` (one query): anyone
    who shares no conversation with the viewer, and anyone blocked either way. They show as
    offline with no last_seen_at (every REST user shape and the directory ask this; socket events
    that carry presence go to partners only, `partner_ids`, by the same rule); the viewer always
    sees themself."""
    ids = {i for i in user_ids if i != viewer_id}
    if not ids:
        return set()
    blocked = Block.objects.filter(
        Q(blocker_id=OuterRef("participant_1_id"), blocked_id=OuterRef("participant_2_id"))
        | Q(blocker_id=OuterRef("participant_2_id"), blocked_id=OuterRef("participant_1_id"))
    )
    shared = (
        Conversation.objects.filter(
            Q(participant_1_id=viewer_id, participant_2_id__in=ids)
            | Q(participant_2_id=viewer_id, participant_1_id__in=ids)
        )
        .filter(~Exists(blocked))
        .values_list("participant_1_id", "participant_2_id")
    )
    partners = {p2 if p1 == viewer_id else p1 for p1, p2 in shared}
    return ids - partners
