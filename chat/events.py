"""Event payloads, group names, and publishing to the channel layer after commit.

Groups: `user.<id>` is a user's personal room (every socket of that user sits in it);
`conv.<id>` is a conversation room (sockets that joined it). Services call the
`*_after_commit` functions inside their transaction; nothing leaves the process until the
transaction commits, and a failed broadcast is logged, never raised to the caller.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, cast

from asgiref.sync import async_to_sync
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

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


def layer_message(event: str, data: dict[str, Any], scope: str = "room") -> dict[str, Any]:
    """The channel-layer message a consumer's `chat_event` turns into a frame."""
    return {"type": EVENT_TYPE, "event": event, "data": data, "scope": scope}


def send_now(groups: Iterable[str], event: str, data: dict[str, Any], *, scope: str = "room") -> None:
    """group_send to each group; a layer failure is logged and swallowed (the write is committed)."""
    layer = get_channel_layer()
    if layer is None:
        return
    payload = layer_message(event, data, scope)
    publisher = _sync_publisher(layer)
    if publisher is not None:
        targets = list(groups)
        try:
            publisher.publish(targets, payload)
        except Exception:
            logger.exception("broadcast failed", extra={"event": event, "groups": len(targets)})
        return
    for group in groups:
        try:
            async_to_sync(layer.group_send)(group, payload)
        except Exception:
            logger.exception("broadcast failed", extra={"event": event, "group": group})


# The Redis pub/sub layers whose group_send is a PUBLISH of `layer.serialize(message)` to
# `<prefix>__group__<group>` (chat.layers.ChatChannelLayer keeps the base layer's group_send).
_PUBSUB_LAYERS = frozenset({"channels_redis.pubsub.RedisPubSubChannelLayer", "chat.layers.ChatChannelLayer"})


# new_message to the room and, unless one of the receiver's sockets sits in that room, the
# notification to the receiver's personal room: one round trip instead of a presence lookup
# and one or two PUBLISHes. KEYS: the receiver's room-presence key, the room's channel, the
# receiver's personal channel. ARGV: now (expired entries do not count), the two messages.
_NEW_MESSAGE_SCRIPT = """
redis.call('PUBLISH', KEYS[2], ARGV[2])
if redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf') > 0 then
  return 1
end
redis.call('PUBLISH', KEYS[3], ARGV[3])
return 0
"""


class _RedisPublisher:
    """Blocking publishes of the layer's own serialized messages, on a pooled connection."""

    def __init__(self, layer: Any, url: str, prefix: str, max_connections: int | None) -> None:
        import redis

        self._layer = layer
        self._prefix = prefix
        self.url = url
        # A Redis that hangs must not hang the send whose ack waits for this publish.
        self._client = redis.Redis.from_url(
            url,
            max_connections=max_connections,
            socket_timeout=presence.STORE_TIMEOUT_SECONDS,
            socket_connect_timeout=presence.STORE_TIMEOUT_SECONDS,
        )
        self._new_message = self._client.register_script(_NEW_MESSAGE_SCRIPT)

    def _channel(self, group: str) -> str:
        return f"{self._prefix}__group__{group}"

    def publish(self, groups: list[str], message: dict[str, Any]) -> None:
        """Serialize once; several groups (a user's presence to all partners) share one round trip."""
        body = self._layer.serialize(message)
        if len(groups) == 1:
            self._client.publish(self._channel(groups[0]), body)
        elif groups:
            pipe = self._client.pipeline(transaction=False)
            for group in groups:
                pipe.publish(self._channel(group), body)
            pipe.execute()

    def publish_new_message(
        self, presence_key: str, room: str, room_message: dict[str, Any], user: str, user_message: dict[str, Any]
    ) -> bool:
        """Publish to `room`, and to `user` unless `presence_key` has a live entry; True if it had."""
        keys = [presence_key, self._channel(room), self._channel(user)]
        args = [time.time(), self._layer.serialize(room_message), self._layer.serialize(user_message)]
        return bool(self._new_message(keys=keys, args=args))


def _sync_publisher(layer: Any) -> _RedisPublisher | None:
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
        return cast("_RedisPublisher | None", cached)
    publisher = None
    config: dict[str, Any] = settings.CHANNEL_LAYERS.get(DEFAULT_CHANNEL_LAYER, {})
    hosts: list[Any] = config.get("CONFIG", {}).get("hosts", [])
    backend = config.get("BACKEND")
    if (
        backend in _PUBSUB_LAYERS
        and type(layer) is import_string(str(backend))  # exactly: a subclass's group_send may differ
        and len(hosts) == 1
        and isinstance(hosts[0], dict)
    ):
        publisher = _RedisPublisher(
            layer, hosts[0]["address"], config["CONFIG"].get("prefix", "asgi"), hosts[0].get("max_connections")
        )

    layer.__dict__["_chat_sync_publish"] = publisher
    return publisher


def _after_commit(callback: Any) -> None:
    def run() -> None:
        try:
            callback()
        except Exception:
            logger.exception("publishing after commit failed")

    transaction.on_commit(run)


def message_created_after_commit(message: Message, *, sender_online: bool | None = None) -> None:
    """new_message to the room; message_notification to the receiver unless they sit in the room.

    `sender_online`, when the caller knows it (a send over a socket: that socket is open),
    saves asking the presence store; with Redis both events then go out in one round trip.
    """

    def publish() -> None:
        if sender_online is not None and _publish_new_message_at_once(message, sender_online):
            return
        if sender_online is None:
            online_now, receiver_in_room = presence.online_and_in_room(
                message.sender_id, message.conversation_id, message.receiver_id
            )
        else:
            online_now, receiver_in_room = (
                sender_online,
                presence.user_in_room(message.conversation_id, message.receiver_id),
            )
        online = {message.sender_id} if online_now else set()
        send_now([conversation_group(message.conversation_id)], "new_message", new_message_payload(message, online))
        if not receiver_in_room:
            send_now(
                [user_group(message.receiver_id)],
                "message_notification",
                notification_payload(message, online),
                scope="user",
            )

    _after_commit(publish)


def _publish_new_message_at_once(message: Message, sender_online: bool) -> bool:
    """Both events of a new message in one Redis script; False when this setup cannot (no Redis
    pub/sub layer, or presence kept elsewhere), and the caller publishes them one by one."""
    layer = get_channel_layer()
    publisher = _sync_publisher(layer) if layer is not None else None
    presence_key = presence.redis_room_key(message.conversation_id, message.receiver_id)
    if publisher is None or presence_key is None or presence.redis_url() != publisher.url:
        return False
    online = {message.sender_id} if sender_online else set()
    room = layer_message("new_message", new_message_payload(message, online))
    notification = layer_message("message_notification", notification_payload(message, online), "user")
    try:
        publisher.publish_new_message(
            presence_key,
            conversation_group(message.conversation_id),
            room,
            user_group(message.receiver_id),
            notification,
        )
    except Exception:
        logger.exception(
            "broadcast failed", extra={"event": "new_message", "group": conversation_group(message.conversation_id)}
        )
    return True


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
    return layer_message(event, data)


def close_user_sockets(user_id: int, code: int = 4401) -> None:
    """Ask every socket of a user, on every process, to close (deactivation, logout)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(user_group(user_id), {"type": "chat.close", "code": code})
    except Exception:
        logger.exception("could not close sockets", extra={"user_id": user_id})
