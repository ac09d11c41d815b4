"""Blocking: while either of two users blocks the other, nothing passes between them.

Sends between them are refused by the send's own rules (chat.services.messages); typing,
presence and join/leave events are dropped where they are routed, by each socket, which keeps
the set of people its user blocks or is blocked by (chat.ws.session) and is told of a change
by `events.block_changed` on every process.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from accounts.models import User
from chat import events
from chat.models import Block
from chat.selectors.people import is_blocked_between
from core.db import MAX_ID
from core.errors import Invalid, NotFound


def _other(user: User, other_id: int, *, active_only: bool) -> User:
    if other_id == user.pk:
        raise Invalid.field("userId", "You cannot block yourself.")
    other = User.objects.filter(pk=other_id).first() if 0 < other_id <= MAX_ID else None
    if other is None or (active_only and not other.is_active):
        raise NotFound("No such user.")
    return other


def block(*, user: User, other_id: int) -> User:
    """`user` blocks `other_id` (idempotent); returns the blocked user."""
    other = _other(user, other_id, active_only=True)
    with transaction.atomic():
        try:
            with transaction.atomic():  # a savepoint: a concurrent identical block leaves this usable
                _, created = Block.objects.get_or_create(blocker=user, blocked=other)
        except IntegrityError:
            created = False
        if created:
            events.block_changed(user, other, blocked=True)
    return other


def unblock(*, user: User, other_id: int) -> User:
    """`user` stops blocking `other_id` (idempotent); the pair stays blocked while the other blocks back."""
    other = _other(user, other_id, active_only=False)
    with transaction.atomic():
        deleted, _ = Block.objects.filter(blocker=user, blocked=other).delete()
        if deleted:
            events.block_changed(user, other, blocked=is_blocked_between(user.pk, other.pk))
    return other
