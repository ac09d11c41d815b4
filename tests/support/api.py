"""Helpers shared by the chat test modules: paths, a direct send, envelope checks."""

from __future__ import annotations

from typing import Any

from accounts.models import User
from chat.models import Message
from chat.services.messages import send_message
from chat.validation import SendRequest

CHAT = "/api/chat"
SEND = f"{CHAT}/send"
CONVERSATIONS = f"{CHAT}/conversations"
UNREAD_COUNT = f"{CHAT}/unread-count"
UNREAD = f"{CHAT}/unread"
ATTACHMENTS = f"{CHAT}/attachments"
ATTACHMENT_KEYS = {"id", "name", "content_type", "size", "width", "height", "url", "thumbnail_url"}
SUMMARY_KEYS = {"id", "username", "first_name", "last_name", "is_online", "last_seen_at"}
MESSAGE_KEYS = {
    "id",
    "seq",
    "sender_id",
    "receiver_id",
    "conversation_id",
    "content",
    "attachment_url",
    "attachments",
    "is_read",
    "read_at",
    "delivered_at",
    "client_message_id",
    "edited_at",
    "createdAt",
    "updatedAt",
    "sender",
    "receiver",
    "reply_to_id",
    "reply_to",
    "reactions",
}
CONVERSATION_KEYS = {
    "id",
    "participant_1_id",
    "participant_2_id",
    "last_message",
    "last_message_at",
    "createdAt",
    "updatedAt",
    "participant1",
    "participant2",
    "unread_count",
    "blocked",
    "muted",
    "muted_until",
    "archived",
}


def messages_url(conversation_id: int | str) -> str:
    return f"{CONVERSATIONS}/{conversation_id}/messages"


def read_url(conversation_id: int | str) -> str:
    return f"{CONVERSATIONS}/{conversation_id}/read"


def search_url(conversation_id: int | str) -> str:
    return f"{CONVERSATIONS}/{conversation_id}/search"


def message_url(message_id: int | str) -> str:
    return f"{CHAT}/messages/{message_id}"


def history_url(message_id: int | str) -> str:
    return f"{CHAT}/messages/{message_id}/history"


def send(sender: User, receiver: User, content: str = "hello", **fields: Any) -> Message:
    """Store a message through the service layer (fast seeding; REST sends are tested apart)."""
    return send_message(sender=sender, request=SendRequest(receiver_id=receiver.pk, content=content, **fields)).message


def assert_failure(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False
    assert isinstance(body["message"], str) and body["message"]
    return body


def data_of(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is True
    return body["data"]
