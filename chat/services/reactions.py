"""Reactions: a participant's emoji on a visible message, idempotent, at most 20 distinct per message.

The emoji is validated and normalised before it gets here (chat.validation.parse_emoji). Adding
locks the message's row, so two people adding the 20th and 21st distinct emoji at once cannot
both pass the cap. `reaction_added` / `reaction_removed` leave after commit, only when something
changed; a repeat answers the same reactions and publishes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from accounts.models import User
from chat import events
from chat.access import message_of_participant
from chat.models import Message, Reaction
from core.errors import Invalid, NotFound

MAX_DISTINCT_REACTIONS = 20


@dataclass(frozen=True)
class ReactionResult:
    message: Message
    reactions: list[Reaction]  # every reaction on the message, in id order (first use first)
    changed: bool


def _reactions(message: Message) -> list[Reaction]:
    return list(Reaction.objects.filter(message=message).order_by("id"))


def _locked(user: User, message_id: int) -> Message:
    """The visible message, row-locked; NotFound for outsiders and deleted messages."""
    message = message_of_participant(user, message_id)
    if not Message.objects.select_for_update().filter(pk=message.pk).exists():  # deleted meanwhile
        raise NotFound("No such message.")
    return message


def add_reaction(*, user: User, message_id: int, emoji: str) -> ReactionResult:
    with transaction.atomic():
        message = _locked(user, message_id)
        current = _reactions(message)
        if any(r.user_id == user.pk and r.emoji == emoji for r in current):
            return ReactionResult(message, current, changed=False)
        if emoji not in {r.emoji for r in current} and len({r.emoji for r in current}) >= MAX_DISTINCT_REACTIONS:
            raise Invalid.field("emoji", f"A message can have at most {MAX_DISTINCT_REACTIONS} different reactions.")
        # ON CONFLICT DO NOTHING: where row locks are not taken (SQLite), the same user's same
        # reaction from a concurrent request may have committed first; it is then not a change.
        Reaction.objects.bulk_create([Reaction(message=message, user=user, emoji=emoji)], ignore_conflicts=True)
        after = _reactions(message)
        if [(r.user_id, r.emoji) for r in after] == [(r.user_id, r.emoji) for r in current]:
            return ReactionResult(message, after, changed=False)
        events.reaction_changed(message, user.pk, emoji, added=True)
    return ReactionResult(message, after, changed=True)


def remove_reaction(*, user: User, message_id: int, emoji: str) -> ReactionResult:
    with transaction.atomic():
        message = _locked(user, message_id)
        removed, _ = Reaction.objects.filter(message=message, user=user, emoji=emoji).delete()
        if removed:
            events.reaction_changed(message, user.pk, emoji, added=False)
        return ReactionResult(message, _reactions(message), changed=bool(removed))
