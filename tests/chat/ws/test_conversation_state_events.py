"""Conversation state and safety over the socket: blocks where events are routed, mute, mark
unread, and delivery receipts coalesced per burst."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from accounts.models import User
from chat.models import ConversationState
from chat.services import blocks, conversations
from chat.services.messages import send_message
from chat.validation import SendRequest
from tests.chat.ws.test_consumer import Client, Opener, make_conversation, open_socket

__all__ = ["open_socket"]  # the fixture, used by name

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_rate_limit")]


async def in_rooms(conversation_id: int, *sockets: Client) -> None:
    for sock in sockets:
        await sock.call("join_conversation", {"conversationId": conversation_id})


# --- Blocks --------------------------------------------------------------------------------


@pytest.mark.parametrize("blocker", ["alice", "bob"])
async def test_no_typing_or_join_passes_between_a_blocked_pair_either_way(
    open_socket: Opener, alice: User, bob: User, settings: Any, blocker: str
) -> None:
    settings.TYPING_INTERVAL_SECONDS = 0
    conversation = await make_conversation(alice, bob)
    a, b = await open_socket(alice), await open_socket(bob)
    await in_rooms(conversation.pk, a, b)
    await a.expect("user_joined")
    assert (await a.call("typing", {"conversationId": conversation.pk}))["forwarded"] is True
    await b.expect("user_typing")

    me, other = (alice, bob) if blocker == "alice" else (bob, alice)
    await database_sync_to_async(blocks.block)(user=me, other_id=other.pk)
    for sock, them in ((a, bob), (b, alice)):
        shown = (await sock.expect("presence"))["data"]
        assert shown == {"userId": them.pk, "isOnline": False, "lastSeenAt": None}

    for by, to in ((a, b), (b, a)):
        await by.call("typing", {"conversationId": conversation.pk})
        await by.call("stop_typing", {"conversationId": conversation.pk})
        await by.call("leave_conversation", {"conversationId": conversation.pk})
        await by.call("join_conversation", {"conversationId": conversation.pk})
        assert await to.silent(presence_too=True), "an event passed between a blocked pair"
    frame = await a.request("send_message", {"receiverId": bob.pk, "content": "hi"})
    assert frame["event"] == "error" and frame["data"]["code"] == "forbidden"
    assert frame["data"]["message"] == "You cannot message this user."

    await database_sync_to_async(blocks.unblock)(user=me, other_id=other.pk)
    assert (await a.expect("presence"))["data"]["isOnline"] is True  # bob's real presence, again
    assert (await b.expect("presence"))["data"]["userId"] == alice.pk
    await a.call("typing", {"conversationId": conversation.pk})
    assert (await b.expect("user_typing"))["data"]["userId"] == alice.pk


async def test_a_socket_opened_after_the_block_drops_the_events_too(
    open_socket: Opener, alice: User, bob: User
) -> None:
    conversation = await make_conversation(alice, bob)
    await database_sync_to_async(blocks.block)(user=bob, other_id=alice.pk)
    b = await open_socket(bob)
    a = await open_socket(alice)  # online: bob hears no presence of it
    await in_rooms(conversation.pk, b, a)
    await a.call("typing", {"conversationId": conversation.pk})
    assert await b.silent(presence_too=True)


async def test_blocks_do_not_touch_other_conversations(
    open_socket: Opener, alice: User, bob: User, carol: User
) -> None:
    with_bob = await make_conversation(alice, bob)
    await database_sync_to_async(blocks.block)(user=alice, other_id=bob.pk)
    with_carol = await database_sync_to_async(
        lambda: send_message(sender=carol, request=SendRequest(receiver_id=alice.pk, content="hey")).message
    )()
    a, c = await open_socket(alice), await open_socket(carol)
    await in_rooms(with_carol.conversation_id, a, c)
    assert (await a.expect("user_joined"))["data"]["userId"] == carol.pk
    await c.call("typing", {"conversationId": with_carol.conversation_id})
    assert (await a.expect("user_typing"))["data"]["userId"] == carol.pk
    assert with_bob.pk != with_carol.conversation_id


# --- Mute ----------------------------------------------------------------------------------


async def test_muted_receiver_gets_no_notification_until_the_mute_lapses(
    open_socket: Opener, alice: User, bob: User
) -> None:
    conversation = await make_conversation(alice, bob)
    until = timezone.now() + timedelta(hours=1)
    await database_sync_to_async(conversations.mute)(user=bob, conversation_id=conversation.pk, until=until)
    a, b = await open_socket(alice), await open_socket(bob)
    await a.call("send_message", {"receiverId": bob.pk, "content": "quiet"})
    assert await b.silent()
    # The same row, its time now behind: no job ran, and the next message notifies.
    await database_sync_to_async(ConversationState.objects.filter(user=bob).update)(
        muted_until=timezone.now() - timedelta(seconds=1)
    )
    sent = await a.call("send_message", {"receiverId": bob.pk, "content": "loud"})
    assert (await b.expect("message_notification"))["data"]["messageId"] == sent["id"]


async def test_mute_leaves_the_room_and_the_sender_alone(open_socket: Opener, alice: User, bob: User) -> None:
    conversation = await make_conversation(alice, bob)
    await database_sync_to_async(conversations.mute)(user=bob, conversation_id=conversation.pk, until=None)
    a, b = await open_socket(alice), await open_socket(bob)
    await in_rooms(conversation.pk, b)
    sent = await a.call("send_message", {"receiverId": bob.pk, "content": "still here"})
    assert (await b.expect("new_message"))["data"]["id"] == sent["id"]
    back = await b.call("send_message", {"receiverId": alice.pk, "content": "reply"})
    assert (await a.expect("message_notification"))["data"]["messageId"] == back["id"]


# --- Mark unread ---------------------------------------------------------------------------


async def test_mark_unread_tells_the_callers_sockets_and_not_the_sender(
    open_socket: Opener, alice: User, bob: User
) -> None:
    conversation = await make_conversation(alice, bob)
    a, b1, b2 = await open_socket(alice), await open_socket(bob), await open_socket(bob)
    await b1.call("mark_as_read", {"conversationId": conversation.pk})
    await a.expect("messages_read")
    first = await database_sync_to_async(lambda: conversation.messages.get().pk)()
    await database_sync_to_async(conversations.mark_unread)(
        user=bob, conversation_id=conversation.pk, from_message_id=first
    )
    for sock in (b1, b2):
        data = (await sock.expect("conversation_unread"))["data"]
        assert data == {"conversationId": conversation.pk, "fromMessageId": first}
    assert await a.silent()


# --- Delivery receipts ---------------------------------------------------------------------


async def test_a_burst_of_mark_delivered_is_one_pointer_write_and_one_event(
    open_socket: Opener, alice: User, bob: User, settings: Any
) -> None:
    settings.DELIVERY_RECEIPT_WINDOW_MS = 300
    conversation = await make_conversation(alice, bob)
    a, b = await open_socket(alice), await open_socket(bob)
    await in_rooms(conversation.pk, b)
    ids = [(await a.call("send_message", {"receiverId": bob.pk, "content": f"m{i}"}))["id"] for i in range(20)]
    real = conversations.mark_delivered
    with mock.patch.object(conversations, "mark_delivered", wraps=real) as flushes:
        for message_id in ids:
            ack = await b.call("mark_delivered", {"conversationId": conversation.pk, "upToMessageId": message_id})
            assert ack == {"conversationId": conversation.pk, "upToMessageId": message_id}
        receipt = None
        while receipt is None:
            frame = await a.recv(timeout=3)
            if frame["event"] == "messages_delivered":
                receipt = frame["data"]
        assert await a.silent(), "more than one messages_delivered for one burst"
    assert flushes.call_count == 1
    assert [len(call.kwargs["marks"]) for call in flushes.call_args_list] == [1]
    assert receipt["conversationId"] == conversation.pk and receipt["upToMessageId"] == ids[-1]
    state = await database_sync_to_async(ConversationState.objects.get)(user=bob)
    assert state.delivered_up_to_id == ids[-1]


async def test_mark_delivered_checks_membership_and_fields_before_acking(
    open_socket: Opener, alice: User, bob: User, carol: User
) -> None:
    conversation = await make_conversation(alice, bob)
    c = await open_socket(carol)
    frame = await c.request("mark_delivered", {"conversationId": conversation.pk, "upToMessageId": 1})
    assert frame["event"] == "error" and frame["data"]["code"] == "not_found"
    frame = await c.request("mark_delivered", {"conversationId": conversation.pk})
    assert frame["data"]["code"] == "invalid" and set(frame["data"]["errors"]) == {"upToMessageId"}
    assert not await database_sync_to_async(ConversationState.objects.exists)()
