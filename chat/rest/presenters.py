"""REST shapes of conversations and messages (snake_case fields, createdAt/updatedAt).

Plain functions rather than DRF serializers: the shapes are fixed by the contract, and a page of
100 messages renders several times faster this way. chat.rest.schemas describes them for OpenAPI.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from accounts.models import User
from accounts.presence import online_among
from accounts.presenters import user_summary
from chat import payloads
from chat.models import Conversation, Message


def online_for(users: Iterable[User]) -> set[int]:
    """One presence round trip for every user a response shows."""
    return online_among(u.pk for u in users)


def message_body(message: Message, online: Collection[int]) -> dict[str, Any]:
    return {
        "id": message.pk,
        "seq": message.seq,
        "sender_id": message.sender_id,
        "receiver_id": message.receiver_id,
        "conversation_id": message.conversation_id,
        "content": message.content,
        "attachment_url": message.attachment_url,
        "is_read": message.is_read,
        "read_at": message.read_at,
        "client_message_id": message.client_message_id,
        "edited_at": message.edited_at,
        "createdAt": message.created_at,
        "updatedAt": message.updated_at,
        "sender": user_summary(message.sender, online),
        "receiver": user_summary(message.receiver, online),
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


def messages_body(messages: list[Message]) -> list[dict[str, Any]]:
    online = online_for(u for m in messages for u in (m.sender, m.receiver))
    return [message_body(m, online) for m in messages]


def conversation_body(conversation: Conversation, unread_count: int, online: Collection[int]) -> dict[str, Any]:
    return {
        "id": conversation.pk,
        "participant_1_id": conversation.participant_1_id,
        "participant_2_id": conversation.participant_2_id,
        "last_message": conversation.last_message,
        "last_message_at": conversation.last_message_at,
        "createdAt": conversation.created_at,
        "updatedAt": conversation.updated_at,
        "participant1": user_summary(conversation.participant_1, online),
        "participant2": user_summary(conversation.participant_2, online),
        "unread_count": unread_count,
    }


def conversations_body(conversations: list[Conversation]) -> list[dict[str, Any]]:
    online = online_for(u for c in conversations for u in (c.participant_1, c.participant_2))
    return [conversation_body(c, getattr(c, "unread_count", 0), online) for c in conversations]


def other_participant(conversation: Conversation, user_id: int) -> User:
    return conversation.participant_2 if conversation.participant_1_id == user_id else conversation.participant_1
