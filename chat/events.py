"""Event payloads, group names, and publishing to the channel layer after commit.

Groups: `user.<id>` is a user's personal room (every socket of that user sits in it);
`conv.<id>` is a conversation room (sockets that joined it). Services call the
`*_after_commit` functions inside their transaction; nothing leaves the process until the
transaction commits, and a failed broadcast is logged, never raised to the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, cast

from asgiref.sync import async_to_sync
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from accounts.models import User
from accounts.serializers import user_summary
from chat import presence
from chat.models import Message

logger = logging.getLogger("chat.events")

EVENT_TYPE = "chat.event"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def conversation_group(conversation_id: int) -> str:
    return f"conv.{conversation_id}"


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 UTC with a `Z`, the same text orjson gives REST responses."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def summary_payload(user: User, online: Iterable[int]) -> dict[str, Any]:
    body = user_summary(user, set(online))
    body["last_seen_at"] = iso(body["last_seen_at"])
    return body


# --- Payloads (camelCase, as WebSocket clients see them) -----------------------------------


def new_message_payload(message: Message, online: set[int]) -> dict[str, Any]:
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
        "sender": summary_payload(message.sender, online),
    }


def notification_payload(message: Message, online: set[int]) -> dict[str, Any]:
    return {
        "from": summary_payload(message.sender, online),
        "conversationId": message.conversation_id,
        "messageId": message.pk,
        "content": message.content,
        "timestamp": iso(message.created_at),
    }


# --- Sending ---------------------------------------------------------------------------------


def send_now(groups: Iterable[str], event: str, data: dict[str, Any], *, scope: str = "room") -> None:
    """group_send to each group; a layer failure is logged and swallowed (the write is committed)."""
    layer = get_channel_layer()
    if layer is None:
        return
    payload = {"type": EVENT_TYPE, "event": event, "data": data, "scope": scope}
    publish = _sync_publisher(layer)
    for group in groups:
        try:
            if publish is not None:
                publish(group, payload)
            else:
                async_to_sync(layer.group_send)(group, payload)
        except Exception:
            logger.exception("broadcast failed", extra={"event": event, "group": group})


_PUBSUB_LAYER = "channels_redis.pubsub.RedisPubSubChannelLayer"


def _sync_publisher(layer: Any) -> Callable[[str, dict[str, Any]], None] | None:
    """A blocking PUBLISH for the Redis pub/sub layer (one host), or None to use `group_send`.

    Services publish from worker threads. `async_to_sync(layer.group_send)` hands each
    publish to the event loop's thread and waits for it there, behind the layer's one lock
    and one connection per process: with sends from many sockets, that queue, not the CPU,
    capped throughput. This publishes the same bytes to the same Redis channel
    (`<prefix>__group__<group>`, serialized by the layer itself) straight from the calling
    thread, on a connection pool. tests/test_events.py checks that a consumer's group gets it.
    """
    cached = layer.__dict__.get("_chat_sync_publish", False)  # the layer's __getattr__ needs a loop
    if cached is not False:
        return cast("Callable[[str, dict[str, Any]], None] | None", cached)
    from channels_redis.pubsub import RedisPubSubChannelLayer

    publish = None
    config: dict[str, Any] = settings.CHANNEL_LAYERS.get(DEFAULT_CHANNEL_LAYER, {})
    hosts: list[Any] = config.get("CONFIG", {}).get("hosts", [])
    if (
        type(layer) is RedisPubSubChannelLayer
        and config.get("BACKEND") == _PUBSUB_LAYER
        and len(hosts) == 1
        and isinstance(hosts[0], dict)
    ):
        import redis

        client = redis.Redis.from_url(hosts[0]["address"], max_connections=hosts[0].get("max_connections"))
        prefix = config["CONFIG"].get("prefix", "asgi")

        def publish(group: str, message: dict[str, Any]) -> None:
            client.publish(f"{prefix}__group__{group}", layer.serialize(message))

    layer.__dict__["_chat_sync_publish"] = publish
    return publish


def _after_commit(callback: Any) -> None:
    def run() -> None:
        try:
            callback()
        except Exception:
            logger.exception("publishing after commit failed")

    transaction.on_commit(run)


def message_created_after_commit(message: Message) -> None:
    """new_message to the room; message_notification to the receiver unless they sit in the room."""

    def publish() -> None:
        sender_online, receiver_in_room = presence.online_and_in_room(
            message.sender_id, message.conversation_id, message.receiver_id
        )
        online = {message.sender_id} if sender_online else set()
        send_now([conversation_group(message.conversation_id)], "new_message", new_message_payload(message, online))
        if not receiver_in_room:
            send_now(
                [user_group(message.receiver_id)],
                "message_notification",
                notification_payload(message, online),
                scope="user",
            )

    _after_commit(publish)


def messages_read_after_commit(
    conversation_id: int, reader_id: int, other_id: int, read_at: datetime, up_to_message_id: int
) -> None:
    data = {
        "conversationId": conversation_id,
        "userId": reader_id,
        "readAt": iso(read_at),
        "upToMessageId": up_to_message_id,
    }

    def publish() -> None:
        send_now([conversation_group(conversation_id)], "messages_read", data)
        send_now([user_group(other_id)], "messages_read", data, scope="user")

    _after_commit(publish)


def message_deleted_after_commit(message: Message) -> None:
    data = {"id": message.pk, "conversationId": message.conversation_id}

    def publish() -> None:
        send_now([conversation_group(message.conversation_id)], "message_deleted", data)
        send_now(
            [user_group(message.sender_id), user_group(message.receiver_id)], "message_deleted", data, scope="user"
        )

    _after_commit(publish)


def presence_changed(user_id: int, is_online: bool, last_seen_at: datetime | None, partner_ids: list[int]) -> None:
    """presence to every user who shares a conversation with `user_id` (lossy by design)."""
    data = {"userId": user_id, "isOnline": is_online, "lastSeenAt": iso(last_seen_at)}
    send_now([user_group(pid) for pid in partner_ids], "presence", data, scope="user")


def room_event(conversation_id: int, event: str, data: dict[str, Any]) -> dict[str, Any]:
    """A channel-layer message for the conversation room (used by the consumer for typing, joins)."""
    return {"type": EVENT_TYPE, "event": event, "data": data, "scope": "room"}


def close_user_sockets(user_id: int, code: int = 4401) -> None:
    """Ask every socket of a user, on every process, to close (deactivation, logout)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(user_group(user_id), {"type": "chat.close", "code": code})
    except Exception:
        logger.exception("could not close sockets", extra={"user_id": user_id})
