"""Every server event leaves through here, after the transaction that caused it commits.

Groups: `user.<id>` is a user's personal room (every socket of that user sits in it);
`conv.<id>` is a conversation room (sockets that joined it). A service calls these functions
inside its transaction; nothing leaves the process until the transaction commits (outside one,
at once), and a failed broadcast is logged, never raised to the caller: the write is committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from typing import Any

from django.db import transaction

from accounts.models import User
from accounts.presence import online_among, user_key
from chat import payloads
from chat.models import Message
from chat.presence import room_key
from core.layers import Publish, publisher

logger = logging.getLogger("chat.events")

EVENT_TYPE = "chat.event"
CLOSE_TYPE = "chat.close"
BLOCKS_TYPE = "chat.blocks"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def conversation_group(conversation_id: int) -> str:
    return f"conv.{conversation_id}"


def layer_message(event: str, data: dict[str, Any], scope: str = "room") -> dict[str, Any]:
    """The channel-layer message a consumer's `chat_event` turns into a frame.

    `scope` is "room" for a conversation room's copy and "user" for a personal room's, so a
    socket that sits in both takes one.
    """
    return {"type": EVENT_TYPE, "event": event, "data": data, "scope": scope}


def _send(items: list[Publish], event: str) -> None:
    out = publisher()
    if out is None:
        return
    try:
        out.publish(items)
    except Exception:
        logger.exception("broadcast failed", extra={"event": event, "groups": sum(len(i.groups) for i in items)})


def _after_commit(event: str, build: Callable[[], list[Publish]]) -> None:
    def run() -> None:
        try:
            items = build()
        except Exception:
            logger.exception("building an event failed", extra={"event": event})
            return
        _send(items, event)

    transaction.on_commit(run)


def _to(groups: Iterable[str], event: str, data: dict[str, Any], scope: str = "room") -> Publish:
    return Publish(tuple(groups), layer_message(event, data, scope))


def messages_created(messages: list[Message], *, muted: Collection[int] = ()) -> None:
    """For each message: new_message to the room, and message_notification to the receiver unless
    one of their sockets sits in the room or the receiver muted the conversation (`muted`: those
    messages' ids). The sender's `is_online` is read when publishing, by the same round trip, which
    carries every message of the batch."""
    if messages:
        _after_commit(
            "new_message", lambda: [item for m in messages for item in _new_message_items(m, notify=m.pk not in muted)]
        )


def _new_message_items(message: Message, *, notify: bool) -> list[Publish]:
    sender, receiver = message.sender_id, message.receiver_id
    shown = payloads.new_message(message, {sender})
    items = [
        Publish(
            (conversation_group(message.conversation_id),),
            layer_message("new_message", shown),
            live_key=user_key(sender),
            otherwise=layer_message("new_message", payloads.shown_offline(shown, "sender")),
        ),
    ]
    if not notify:
        return items
    notice = payloads.message_notification(message, {sender})
    return [
        *items,
        Publish(
            (user_group(receiver),),
            layer_message("message_notification", notice, "user"),
            live_key=user_key(sender),
            otherwise=layer_message("message_notification", payloads.shown_offline(notice, "from"), "user"),
            unless_live=room_key(message.conversation_id, receiver),
        ),
    ]


def messages_read(conversation_id: int, reader_id: int, other_id: int, read_at: datetime, up_to: int) -> None:
    data = payloads.messages_read(conversation_id, reader_id, read_at, up_to)
    _after_commit(
        "messages_read",
        lambda: [
            _to([conversation_group(conversation_id)], "messages_read", data),
            _to([user_group(other_id)], "messages_read", data, "user"),
        ],
    )


def conversation_unread(user_id: int, conversation_id: int, from_message_id: int) -> None:
    """To the caller's own sockets only: the sender is told nothing of a mark unread."""
    data = payloads.conversation_unread(conversation_id, from_message_id)
    _after_commit("conversation_unread", lambda: [_to([user_group(user_id)], "conversation_unread", data, "user")])


def messages_delivered(moved: list[tuple[int, int, int]], delivered_at: datetime) -> None:
    """To each sender's sockets, for each (conversation, sender, up to) whose receiver's pointer
    moved: the receiver's client has everything up to it. A burst's events leave in one round trip."""
    if not moved:
        return
    items = [
        _to([user_group(sender)], "messages_delivered", payloads.messages_delivered(cid, up_to, delivered_at), "user")
        for cid, sender, up_to in moved
    ]
    _after_commit("messages_delivered", lambda: items)


def _to_room_and_participants(message: Message, event: str, data: dict[str, Any]) -> None:
    """`event` about a message to its conversation room and both participants' personal rooms
    (a socket in the room takes the room's copy: chat.ws.consumer's _ROOM_FIRST)."""
    _after_commit(
        event,
        lambda: [
            _to([conversation_group(message.conversation_id)], event, data),
            _to([user_group(message.sender_id), user_group(message.receiver_id)], event, data, "user"),
        ],
    )


def message_deleted(message: Message) -> None:
    _to_room_and_participants(message, "message_deleted", payloads.message_deleted(message))


def message_edited(message: Message) -> None:
    _to_room_and_participants(message, "message_edited", payloads.message_edited(message))


def reaction_changed(message: Message, user_id: int, emoji: str, *, added: bool) -> None:
    data = payloads.reaction_changed(message, user_id, emoji)
    if added:
        _to_room_and_participants(message, "reaction_added", data)
    else:
        _to_room_and_participants(message, "reaction_removed", data)


def presence_changed(changes: list[tuple[int, bool, datetime | None, list[int]]]) -> None:
    """For each (user id, online, last seen, partner ids): presence to every user who shares a
    conversation with that user, all in one publish (lossy by design)."""
    items = [
        _to([user_group(p) for p in partners], "presence", payloads.presence(user_id, is_online, seen), "user")
        for user_id, is_online, seen, partners in changes
        if partners
    ]
    if items:
        _after_commit("presence", lambda: items)


def typing(user_id: int, conversation_id: int, *, stopped: bool) -> None:
    data = payloads.typing(user_id, conversation_id)
    room = [conversation_group(conversation_id)]
    _after_commit("typing", lambda: [_to(room, "user_stopped_typing" if stopped else "user_typing", data)])


def rooms_joined(joined: list[tuple[User, int]]) -> None:
    """user_joined to each (user, conversation id)'s room, in one publish."""
    if joined:
        items = [(conversation_id, payloads.room_joined(user, conversation_id)) for user, conversation_id in joined]
        _after_commit("user_joined", lambda: [_to([conversation_group(c)], "user_joined", data) for c, data in items])


def room_left(user: User, conversation_id: int) -> None:
    data = payloads.room_left(user, conversation_id)
    _after_commit("user_left", lambda: [_to([conversation_group(conversation_id)], "user_left", data)])


def close_user_sockets(user_id: int, code: int = 4401) -> None:
    """Ask every socket of a user, on every process, to close (deactivation, logout)."""
    _after_commit("close", lambda: [Publish((user_group(user_id),), {"type": CLOSE_TYPE, "code": code})])


def block_changed(user: User, other: User, *, blocked: bool) -> None:
    """Tell every socket of both users, on every process, whether the pair is now blocked (either
    way), with the presence each may now see of the other: offline and no last_seen_at while
    blocked, the real one once not. The sockets' sessions drop events between a blocked pair."""

    def build() -> list[Publish]:
        online = set() if blocked else online_among([user.pk, other.pk])
        items = []
        for me, them in ((user, other), (other, user)):
            seen = payloads.presence(them.pk, them.pk in online, None if blocked else them.last_seen_at)
            message = {"type": BLOCKS_TYPE, "userId": them.pk, "blocked": blocked, "presence": seen}
            items.append(Publish((user_group(me.pk),), message))
        return items

    _after_commit("blocks", build)
