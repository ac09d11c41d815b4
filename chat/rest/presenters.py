"""REST shapes of conversations and messages (snake_case fields, createdAt/updatedAt).

Plain functions rather than DRF serializers: the shapes are fixed by the contract, and a page of
100 messages renders several times faster this way. chat.rest.schemas describes them for OpenAPI.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from accounts.models import User
from accounts.presence import online_among
from accounts.presenters import user_summary
from chat import payloads
from chat.models import Conversation, ConversationState, Message, Report
from chat.payloads import attachments
from chat.selectors.people import presence_hidden_from


@dataclass(frozen=True)
class Seen:
    """What the caller may see of the presence of the people a response shows."""

    online: set[int] = field(default_factory=set)
    hidden: set[int] = field(default_factory=set)

    def summary(self, user: User) -> dict[str, Any]:
        return user_summary(user, self.online, self.hidden)


def seen_by(viewer: User, users: Iterable[User]) -> Seen:
    """One query for whose presence the caller may not see (chat.selectors.people) and one presence
    round trip for the rest, for every user a response shows."""
    ids = {u.pk for u in users}
    hidden = presence_hidden_from(viewer.pk, ids)
    return Seen(online_among(ids - hidden), hidden)


def message_body(message: Message, seen: Seen) -> dict[str, Any]:
    return {
        "id": message.pk,
        "seq": message.seq,
        "sender_id": message.sender_id,
        "receiver_id": message.receiver_id,
        "conversation_id": message.conversation_id,
        "content": message.content,
        "attachment_url": message.attachment_url,
        "attachments": attachments(message),
        "is_read": message.is_read,
        "read_at": message.read_at,
        "delivered_at": message.delivered_at,
        "client_message_id": message.client_message_id,
        "edited_at": message.edited_at,
        "createdAt": message.created_at,
        "updatedAt": message.updated_at,
        "sender": seen.summary(message.sender),
        "receiver": seen.summary(message.receiver),
        "reply_to_id": message.reply_to_id,
        "reply_to": _reply_to(message),
        "reactions": payloads.reactions(_reaction_rows(message)),
    }


def _reply_to(message: Message) -> dict[str, Any] | None:
    quote = payloads.reply_quote(message)
    if quote is None:
        return None
    return {"id": quote["id"], "sender_id": quote["senderId"], "content": quote["content"], "deleted": quote["deleted"]}


def _reaction_rows(message: Message) -> Any:
    """The rows a read loaded with the message, or (one message shown alone) a query for them."""
    loaded = getattr(message, "reaction_list", None)
    return loaded if loaded is not None else message.reactions.order_by("id")


def messages_body(viewer: User, messages: list[Message]) -> list[dict[str, Any]]:
    seen = seen_by(viewer, (u for m in messages for u in (m.sender, m.receiver)))
    return [message_body(m, seen) for m in messages]


def _muted_until(muted: bool | None, until: datetime | None, now: datetime) -> tuple[bool, datetime | None]:
    """(muted, muted_until) as the caller sees them at `now`: a lapsed mute reads as none."""
    holding = bool(muted) and (until is None or until > now)
    return holding, until if holding else None


def conversation_body(conversation: Conversation, seen: Seen, now: datetime) -> dict[str, Any]:
    """A conversation annotated by chat.selectors.conversations (unread count, the caller's state)."""
    muted, until = _muted_until(
        getattr(conversation, "my_muted", None), getattr(conversation, "my_muted_until", None), now
    )
    return {
        "id": conversation.pk,
        "participant_1_id": conversation.participant_1_id,
        "participant_2_id": conversation.participant_2_id,
        "last_message": conversation.last_message,
        "last_message_at": conversation.last_message_at,
        "createdAt": conversation.created_at,
        "updatedAt": conversation.updated_at,
        "participant1": seen.summary(conversation.participant_1),
        "participant2": seen.summary(conversation.participant_2),
        "unread_count": getattr(conversation, "unread_count", 0),
        "blocked": bool(getattr(conversation, "blocked", False)),
        "muted": muted,
        "muted_until": until,
        "archived": getattr(conversation, "my_archived_at", None) is not None,
    }


def conversations_body(viewer: User, conversations: list[Conversation]) -> list[dict[str, Any]]:
    seen = seen_by(viewer, (u for c in conversations for u in (c.participant_1, c.participant_2)))
    now = timezone.now()
    return [conversation_body(c, seen, now) for c in conversations]


def state_body(state: ConversationState) -> dict[str, Any]:
    """The caller's own state of a conversation (mute and archive answers)."""
    muted, until = _muted_until(state.muted, state.muted_until, timezone.now())
    return {
        "conversation_id": state.conversation_id,
        "muted": muted,
        "muted_until": until,
        "archived": state.archived_at is not None,
    }


def report_body(report: Report) -> dict[str, Any]:
    return {
        "id": report.pk,
        "message_id": report.message_id,
        "reason": report.reason,
        "note": report.note,
        "status": report.status,
        "createdAt": report.created_at,
    }


def other_participant(conversation: Conversation, user_id: int) -> User:
    return conversation.participant_2 if conversation.participant_1_id == user_id else conversation.participant_1
