"""The `data` of every server event, as WebSocket clients see it (camelCase): pure functions.

chat.events publishes them; the consumer's acks reuse them, so an ack and the event it
answers carry the same shape.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from accounts.models import User
from accounts.presenters import user_summary
from chat.models import Message


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 UTC with a `Z`, the same text orjson gives REST responses."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def summary(user: User, online: Collection[int]) -> dict[str, Any]:
    body = user_summary(user, online)
    body["last_seen_at"] = iso(body["last_seen_at"])
    return body


def new_message(message: Message, online: Collection[int]) -> dict[str, Any]:
    return {
        "id": message.pk,
        "seq": message.seq,
        "senderId": message.sender_id,
        "receiverId": message.receiver_id,
        "conversationId": message.conversation_id,
        "content": message.content,
        "attachmentUrl": message.attachment_url,
        "isRead": message.is_read,
        "createdAt": iso(message.created_at),
        "clientMessageId": message.client_message_id,
        "sender": summary(message.sender, online),
    }


def message_notification(message: Message, online: Collection[int]) -> dict[str, Any]:
    return {
        "from": summary(message.sender, online),
        "conversationId": message.conversation_id,
        "messageId": message.pk,
        "content": message.content,
        "timestamp": iso(message.created_at),
    }


def messages_read(conversation_id: int, reader_id: int, read_at: datetime, up_to_message_id: int) -> dict[str, Any]:
    return {
        "conversationId": conversation_id,
        "userId": reader_id,
        "readAt": iso(read_at),
        "upToMessageId": up_to_message_id,
    }


def message_deleted(message: Message) -> dict[str, Any]:
    return {"id": message.pk, "conversationId": message.conversation_id}


def presence(user_id: int, is_online: bool, last_seen_at: datetime | None) -> dict[str, Any]:
    return {"userId": user_id, "isOnline": is_online, "lastSeenAt": iso(last_seen_at)}


def typing(user_id: int, conversation_id: int) -> dict[str, Any]:
    return {"userId": user_id, "conversationId": conversation_id}


def room_joined(user: User, conversation_id: int) -> dict[str, Any]:
    return {"userId": user.pk, "conversationId": conversation_id, "message": f"{user.username} joined the conversation"}


def room_left(user: User, conversation_id: int) -> dict[str, Any]:
    return {"userId": user.pk, "conversationId": conversation_id, "message": f"{user.username} left the conversation"}


def conversation_unread(conversation_id: int, from_message_id: int) -> dict[str, Any]:
    return {"conversationId": conversation_id, "fromMessageId": from_message_id}


def messages_delivered(conversation_id: int, up_to_message_id: int, delivered_at: datetime) -> dict[str, Any]:
    return {"conversationId": conversation_id, "upToMessageId": up_to_message_id, "deliveredAt": iso(delivered_at)}
