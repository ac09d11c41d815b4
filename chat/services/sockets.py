"""What an open socket changes: presence, conversation rooms and typing, announced to the others.

The socket session (chat.ws) calls these; each publishes through chat.events like every write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from accounts.auth import SocketIdentity
from accounts.models import User
from chat import events, presence, ratelimit
from chat.access import conversations_of_participants, require_participant
from chat.models import Conversation
from chat.selectors.people import SocketOwner, partner_ids, socket_owners
from core.errors import DomainError


class TooManySockets(Exception):
    """The user already has MAX_SOCKETS_PER_USER sockets open, on all processes together."""


@dataclass(frozen=True, slots=True)
class Opening:
    """A socket starting: its token's user id, its channel, and `accept`, which checks the user's
    row (None for none) against the socket's credentials and raises a DomainError to refuse it."""

    user_id: int
    channel_name: str
    accept: Callable[[User | None], SocketIdentity]


type Opened = tuple[SocketIdentity, frozenset[int]] | DomainError | TooManySockets


def sockets_opened(openings: list[Opening]) -> list[Opened]:
    """The sockets that start together on a process, in one statement and one store round trip
    (docs/benchmarks.md, "connect batches"): for each, in order, its identity and whom its user
    blocks or is blocked by (the socket drops the events between them), or what refused it: what
    `accept` raised, or TooManySockets (the socket is not kept) over MAX_SOCKETS_PER_USER. On a
    user's first socket everyone who shares a conversation with them is told, unless they were
    still announced online (back within PRESENCE_GRACE_SECONDS)."""
    owners = socket_owners([o.user_id for o in openings])
    answers: list[Opened] = []
    accepted: list[tuple[int, SocketIdentity, SocketOwner | None]] = []
    for index, opening in enumerate(openings):
        owner = owners.get(opening.user_id)
        try:
            identity = opening.accept(owner.user if owner is not None else None)
        except DomainError as exc:
            answers.append(exc)
            continue
        answers.append((identity, owner.blocked if owner is not None else frozenset()))
        accepted.append((index, identity, owner))
    recorded = presence.sockets_connected([(i.user.pk, openings[n].channel_name) for n, i, _ in accepted])
    online: list[tuple[int, bool, datetime | None, list[int]]] = []
    for (index, identity, owner), (count, news) in zip(accepted, recorded, strict=True):
        if count > settings.MAX_SOCKETS_PER_USER:
            answers[index] = TooManySockets()
        elif news and owner is not None:
            online.append((identity.user.pk, True, identity.user.last_seen_at, owner.partners))
    events.presence_changed(online)
    return answers


def socket_beat(*, user: User, channel_name: str, conversation_ids: list[int]) -> None:
    """Keep a live socket's presence and room entries from lapsing."""
    presence.heartbeat(user.pk, channel_name, conversation_ids)


@dataclass(frozen=True, slots=True)
class Closing:
    """A socket that closed: its user, its channel and the conversation rooms it sat in."""

    user_id: int
    channel_name: str
    conversation_ids: tuple[int, ...]


def sockets_closed(closings: list[Closing]) -> list[datetime | None]:
    """Forget the sockets that close together on a process and their rooms, in one store round
    trip (docs/benchmarks.md, "close batches"). For each that was its user's last, store
    last_seen_at (one statement for all) and return it: the caller calls `went_offline`
    PRESENCE_GRACE_SECONDS later (at once with no grace), so a user who comes back within it is
    not announced offline and online again. None for the others."""
    lasts = presence.sockets_closed([(c.user_id, c.channel_name, c.conversation_ids) for c in closings])
    gone = sorted({c.user_id for c, last in zip(closings, lasts, strict=True) if last})
    if not gone:
        return [None] * len(closings)
    now = timezone.now()
    User.objects.filter(pk__in=gone).update(last_seen_at=now)
    presence.went_away(gone, _since(now))
    return [now if last else None for last in lasts]


def went_offline(*, user_ids: list[int], last_seen_at: datetime) -> None:
    """Tell each user's partners they went offline, unless a socket of theirs came back since
    their last one closed at `last_seen_at` (once, on whichever process asks first): the users
    of one close batch, in one store round trip and one publish."""
    announced = presence.announce_offline(user_ids, _since(last_seen_at))
    gone = [user_id for user_id, announce in zip(user_ids, announced, strict=True) if announce]
    events.presence_changed([(user_id, False, last_seen_at, partner_ids(user_id)) for user_id in gone])


def _since(moment: datetime) -> str:
    return f"{moment.timestamp():.6f}"


@dataclass(frozen=True, slots=True)
class Joining:
    """A socket asking into a conversation room."""

    user: User
    conversation_id: int
    channel_name: str


def rooms_joined(joinings: list[Joining]) -> list[Conversation | DomainError]:
    """Put the sockets that ask together into their conversation rooms (participants only) and
    tell each room of a user's first socket there (at most once per ROOM_EVENT_INTERVAL_SECONDS):
    one statement, one store round trip for the rooms and one for the throttle, one publish
    (docs/benchmarks.md, "join batches"). Each gets its conversation or its own NotFound."""
    answers: list[Conversation | DomainError] = list(
        conversations_of_participants([(j.user, j.conversation_id) for j in joinings])
    )
    entered = [(j, c) for j, c in zip(joinings, answers, strict=True) if isinstance(c, Conversation)]
    firsts = presence.rooms_joined([(c.pk, j.user.pk, j.channel_name) for j, c in entered])
    news = [(j.user, c.pk) for (j, c), first in zip(entered, firsts, strict=True) if first]
    allowed = ratelimit.allow_room_events([(user.pk, conversation_id) for user, conversation_id in news], "joined")
    events.rooms_joined([item for item, allow in zip(news, allowed, strict=True) if allow])
    return answers


def leave_room(*, user: User, conversation: Conversation, channel_name: str) -> None:
    require_participant(user, conversation)
    if presence.room_left(conversation.pk, user.pk, channel_name) and ratelimit.allow_room_event(
        user.pk, conversation.pk, "left"
    ):
        events.room_left(user, conversation.pk)


def typing(*, user: User, conversation: Conversation, stopped: bool = False) -> bool:
    """Tell the room that `user` types (at most once per TYPING_INTERVAL_SECONDS) or stopped
    (once after each typing forwarded); returns whether it was forwarded."""
    require_participant(user, conversation)
    allowed = ratelimit.allow_stop_typing if stopped else ratelimit.allow_typing
    if not allowed(user.pk, conversation.pk):
        return False
    events.typing(user.pk, conversation.pk, stopped=stopped)
    return True
