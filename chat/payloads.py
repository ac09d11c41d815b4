"""The `data` of every server event, as WebSocket clients see it (camelCase): pure functions.

chat.events publishes them; the consumer's acks reuse them, so an ack and the event it
answers carry the same shape.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from typing import Any

from accounts.models import User
from accounts.presenters import user_summary
from chat import links
from chat.models import REPLY_SNIPPET_LENGTH, Attachment, Message, Reaction


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 UTC with a `Z`, the same text orjson gives REST responses."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def summary(user: User, online: Collection[int]) -> dict[str, Any]:
    body = user_summary(user, online)
    body["last_seen_at"] = iso(body["last_seen_at"])
    return body


def shown_offline(data: dict[str, Any], key: str) -> dict[str, Any]:
    """`data` with the user summary under `key` shown offline: what building it with that user
    not among `online` gives, without building the rest again (chat.events publishes both)."""
    return {**data, key: {**data[key], "is_online": False}}


def reply_quote(message: Message) -> dict[str, Any] | None:
    """What a reply shows of its parent (None when it is not a reply): the first 200 characters,
    or, once the parent is deleted, no text and `deleted: true`. The parent must be loaded with
    the message (select_related, or the send's stand-in). Keys are camelCase; REST renames them."""
    if message.reply_to_id is None:
        return None
    parent = message.reply_to
    assert parent is not None  # reply_to_id set and the row kept (a purge sets it to NULL)
    deleted = parent.deleted_at is not None
    return {
        "id": parent.pk,
        "senderId": parent.sender_id,
        "content": None if deleted else parent.content[:REPLY_SNIPPET_LENGTH],
        "deleted": deleted,
    }


def attachment(item: Attachment) -> dict[str, Any]:
    """An attachment as REST and sockets show it (the contract's snake_case shape), with fresh links."""
    return {
        "id": item.pk,
        "name": item.name,
        "content_type": item.content_type,
        "size": item.size,
        "width": item.width,
        "height": item.height,
        "url": links.link(item, links.FILE),
        "thumbnail_url": links.link(item, links.THUMBNAIL),
    }


def attachments(message: Message) -> list[dict[str, Any]]:
    return [attachment(item) for item in message.attachment_items()]


def new_message(message: Message, online: Collection[int]) -> dict[str, Any]:
    return {
        "id": message.pk,
        "seq": message.seq,
        "senderId": message.sender_id,
        "receiverId": message.receiver_id,
        "conversationId": message.conversation_id,
        "content": message.content,
        "attachmentUrl": message.attachment_url,
        "attachments": attachments(message),
        "isRead": message.is_read,
        "createdAt": iso(message.created_at),
        "clientMessageId": message.client_message_id,
        "sender": summary(message.sender, online),
        "replyToId": message.reply_to_id,
        "replyTo": reply_quote(message),
    }


def reactions(rows: Iterable[Reaction]) -> list[dict[str, Any]]:
    """A message's reactions, from its rows in id order: per emoji, in order of first use, who
    reacted in the order they did. The same shape on REST messages and in socket acks."""
    users: dict[str, list[int]] = {}
    for row in rows:
        users.setdefault(row.emoji, []).append(row.user_id)
    return [{"emoji": emoji, "count": len(ids), "userIds": ids} for emoji, ids in users.items()]


def reaction_changed(message: Message, user_id: int, emoji: str) -> dict[str, Any]:
    return {"messageId": message.pk, "conversationId": message.conversation_id, "userId": user_id, "emoji": emoji}


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


def message_edited(message: Message) -> dict[str, Any]:
    return {
        "id": message.pk,
        "conversationId": message.conversation_id,
        "content": message.content,
        "editedAt": iso(message.edited_at),
    }


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
