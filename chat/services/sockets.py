"""What an open socket changes: presence, conversation rooms and typing, announced to the others.

The socket session (chat.ws) calls these; each publishes through chat.events like every write.
"""

from __future__ import annotations

from django.utils import timezone

from accounts.models import User
from chat import events, presence, ratelimit
from chat.access import conversation_of_participant, require_participant
from chat.models import Conversation
from chat.selectors.people import blocked_either_way, partner_ids


def socket_opened(*, user: User, channel_name: str) -> set[int]:
    """Record a socket; on the user's first one, tell everyone who shares a conversation. Returns
    whom the user blocks or is blocked by: the socket drops the events between them. When the
    announcement fails (the partner query meets a dead connection) the socket is forgotten again:
    its session does not start, and nothing else would remove it."""
    blocked = blocked_either_way(user.pk)
    if presence.socket_connected(user.pk, channel_name):
        try:
            events.presence_changed(user.pk, True, user.last_seen_at, partner_ids(user.pk))
        except Exception:
            presence.socket_closed(user.pk, channel_name, [])
            raise
    return blocked


def socket_beat(*, user: User, channel_name: str, conversation_ids: list[int]) -> None:
    """Keep a live socket's presence and room entries from lapsing."""
    presence.heartbeat(user.pk, channel_name, conversation_ids)


def socket_closed(*, user: User, channel_name: str, conversation_ids: list[int]) -> None:
    """Forget a socket and its rooms; on the user's last one, store last_seen_at and tell partners."""
    if presence.socket_closed(user.pk, channel_name, conversation_ids):
        now = timezone.now()
        User.objects.filter(pk=user.pk).update(last_seen_at=now)
        events.presence_changed(user.pk, False, now, partner_ids(user.pk))


def join_room(*, user: User, conversation_id: int, channel_name: str) -> Conversation:
    """Put a socket in a conversation room (participants only) and tell the room."""
    conversation = conversation_of_participant(user, conversation_id)
    presence.room_joined(conversation.pk, user.pk, channel_name)
    events.room_joined(user, conversation.pk)
    return conversation


def leave_room(*, user: User, conversation: Conversation, channel_name: str) -> None:
    require_participant(user, conversation)
    presence.room_left(conversation.pk, user.pk, channel_name)
    events.room_left(user, conversation.pk)


def typing(*, user: User, conversation: Conversation, stopped: bool = False) -> bool:
    """Tell the room that `user` types (at most once per TYPING_INTERVAL_SECONDS) or stopped;
    returns whether it was forwarded."""
    require_participant(user, conversation)
    if not stopped and not ratelimit.allow_typing(user.pk, conversation.pk):
        return False
    events.typing(user.pk, conversation.pk, stopped=stopped)
    return True
