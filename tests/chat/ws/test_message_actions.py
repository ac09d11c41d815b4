"""The contract's "Message actions" over the socket: the client events, their acks and errors, and
which sockets the server events reach (the room and both personal rooms, one copy per socket)."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from accounts.auth import tokens_for
from accounts.models import User
from chat.models import Message
from tests.chat.ws.test_consumer import Client, Opener, make_conversation, open_socket
from tests.support.api import message_url

pytestmark = [pytest.mark.django_db(transaction=True)]

__all__ = ["open_socket"]  # the fixture, used by name


def rest(user: User, method: str, path: str, body: Any = None) -> Any:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for(user)['access']}")
    return getattr(api, method)(path, body, format="json")


async def first_message(alice: User, bob: User) -> Message:
    await make_conversation(alice, bob, "the first text")
    return await database_sync_to_async(Message.objects.get)()


async def sockets_around(
    open_socket: Opener, alice: User, bob: User, carol: User, message: Message
) -> tuple[Client, ...]:
    """alice in the room (and so in her personal room), bob in his personal room only, carol an outsider."""
    a = await open_socket(alice)
    b = await open_socket(bob)
    c = await open_socket(carol)
    await a.call("join_conversation", {"conversationId": message.conversation_id})
    return a, b, c


async def once(client: Client, event: str) -> dict[str, Any]:
    """The event, arriving exactly once on this socket."""
    data: dict[str, Any] = (await client.expect(event))["data"]
    assert await client.silent()
    return data


# --- edit_message / message_edited ---------------------------------------------------------------


async def test_edit_message_acks_and_reaches_the_room_and_both_personal_rooms_once(
    open_socket: Opener, alice: User, bob: User, carol: User
) -> None:
    message = await first_message(alice, bob)
    a, b, c = await sockets_around(open_socket, alice, bob, carol, message)
    ack = await a.call("edit_message", {"messageId": message.pk, "content": "the second text"})
    assert ack["changed"] is True and ack["content"] == "the second text" and ack["editedAt"]
    expected = {k: ack[k] for k in ("id", "conversationId", "content", "editedAt")}
    assert expected["id"] == message.pk and expected["conversationId"] == message.conversation_id
    assert await once(a, "message_edited") == expected
    assert await once(b, "message_edited") == expected
    assert await c.silent()
    stored = await database_sync_to_async(Message.objects.get)(pk=message.pk)
    assert stored.content == "the second text"


async def test_an_unchanged_edit_acks_changed_false_and_publishes_nothing(
    open_socket: Opener, alice: User, bob: User
) -> None:
    message = await first_message(alice, bob)
    a = await open_socket(alice)
    b = await open_socket(bob)
    ack = await a.call("edit_message", {"messageId": message.pk, "content": "the first text"})
    assert ack["changed"] is False and ack["editedAt"] is None
    assert await a.silent() and await b.silent()


async def test_a_rest_edit_reaches_sockets_like_a_socket_edit(open_socket: Opener, alice: User, bob: User) -> None:
    message = await first_message(alice, bob)
    b = await open_socket(bob)
    await b.call("join_conversation", {"conversationId": message.conversation_id})
    response = await database_sync_to_async(rest)(alice, "patch", message_url(message.pk), {"content": "via REST"})
    assert response.status_code == 200
    pushed = await once(b, "message_edited")
    assert pushed["content"] == "via REST" and pushed["editedAt"] == response.json()["data"]["edited_at"]


async def test_edit_message_refusals_keep_the_socket_open_and_change_nothing(
    open_socket: Opener, alice: User, bob: User, carol: User
) -> None:
    message = await first_message(alice, bob)
    b = await open_socket(bob)
    c = await open_socket(carol)
    cases = [
        (b, {"messageId": message.pk, "content": "not mine"}, "forbidden"),
        (c, {"messageId": message.pk, "content": "outsider"}, "not_found"),
        (c, {"messageId": message.pk + 99, "content": "nothing"}, "not_found"),
        (b, {"messageId": message.pk, "content": " "}, "invalid"),
        (b, {"messageId": "1", "content": "x"}, "invalid"),
        (b, {"content": "x"}, "invalid"),
    ]
    for client, data, code in cases:
        frame = await client.request("edit_message", data)
        assert frame["event"] == "error" and frame["data"]["code"] == code, (data, frame)
        assert "the first text" not in str(frame)
    stored = await database_sync_to_async(Message.objects.get)(pk=message.pk)
    assert (stored.content, stored.edited_at) == ("the first text", None)
    assert await b.call("join_personal_room") == {"userId": bob.pk}


async def test_edit_after_the_window_is_forbidden(open_socket: Opener, alice: User, bob: User, settings: Any) -> None:
    settings.MESSAGE_EDIT_WINDOW_SECONDS = 0
    message = await first_message(alice, bob)
    a = await open_socket(alice)
    frame = await a.request("edit_message", {"messageId": message.pk, "content": "late"})
    assert frame["event"] == "error" and frame["data"]["code"] == "forbidden"


# --- react / unreact / reaction_added / reaction_removed -------------------------------------------


async def test_react_and_unreact_ack_the_reactions_and_reach_the_room_and_both_personal_rooms_once(
    open_socket: Opener, alice: User, bob: User, carol: User
) -> None:
    message = await first_message(alice, bob)
    a, b, c = await sockets_around(open_socket, alice, bob, carol, message)
    ack = await b.call("react", {"messageId": message.pk, "emoji": "🔥"})
    assert ack == {
        "messageId": message.pk,
        "conversationId": message.conversation_id,
        "reactions": [{"emoji": "🔥", "count": 1, "userIds": [bob.pk]}],
        "changed": True,
    }
    event = {"messageId": message.pk, "conversationId": message.conversation_id, "userId": bob.pk, "emoji": "🔥"}
    assert await once(a, "reaction_added") == event
    assert await once(b, "reaction_added") == event  # the reactor's own sockets hear it too
    again = await b.call("react", {"messageId": message.pk, "emoji": "🔥"})
    assert again["changed"] is False and again["reactions"] == ack["reactions"]
    assert await a.silent() and await b.silent()
    removed = await b.call("unreact", {"messageId": message.pk, "emoji": "🔥"})
    assert removed["changed"] is True and removed["reactions"] == []
    assert await once(a, "reaction_removed") == event
    assert await once(b, "reaction_removed") == event
    assert await c.silent()


async def test_a_rest_reaction_reaches_sockets_like_a_socket_one(open_socket: Opener, alice: User, bob: User) -> None:
    message = await first_message(alice, bob)
    a = await open_socket(alice)
    response = await database_sync_to_async(rest)(bob, "put", f"{message_url(message.pk)}/reactions/%F0%9F%91%8D")
    assert response.status_code == 200
    assert (await once(a, "reaction_added"))["emoji"] == "👍"


async def test_reaction_refusals_keep_the_socket_open(open_socket: Opener, alice: User, bob: User, carol: User) -> None:
    message = await first_message(alice, bob)
    b = await open_socket(bob)
    c = await open_socket(carol)
    cases = [
        (c, "react", {"messageId": message.pk, "emoji": "👍"}, "not_found"),
        (c, "unreact", {"messageId": message.pk, "emoji": "👍"}, "not_found"),
        (b, "react", {"messageId": message.pk, "emoji": "👍👍"}, "invalid"),
        (b, "react", {"messageId": message.pk, "emoji": "yes"}, "invalid"),
        (b, "react", {"messageId": message.pk, "emoji": 128077}, "invalid"),
        (b, "unreact", {"messageId": message.pk}, "invalid"),
        (b, "react", {"emoji": "👍"}, "invalid"),
    ]
    for client, event, data, code in cases:
        frame = await client.request(event, data)
        assert frame["event"] == "error" and frame["data"]["code"] == code, (event, data, frame)
    assert await database_sync_to_async(message.reactions.count)() == 0
    assert await c.silent()


# --- replies on the socket -------------------------------------------------------------------------


async def test_a_reply_sent_on_the_socket_carries_its_quote_in_the_ack_and_new_message(
    open_socket: Opener, alice: User, bob: User
) -> None:
    parent = await first_message(alice, bob)
    a = await open_socket(alice)
    b = await open_socket(bob)
    await a.call("join_conversation", {"conversationId": parent.conversation_id})
    ack = await b.call("send_message", {"receiverId": alice.pk, "content": "replying", "replyToId": parent.pk})
    quote = {"id": parent.pk, "senderId": alice.pk, "content": "the first text", "deleted": False}
    assert (ack["replyToId"], ack["replyTo"]) == (parent.pk, quote)
    pushed = (await a.expect("new_message"))["data"]
    assert (pushed["id"], pushed["replyToId"], pushed["replyTo"]) == (ack["id"], parent.pk, quote)
    plain = await b.call("send_message", {"receiverId": alice.pk, "content": "not a reply"})
    assert (plain["replyToId"], plain["replyTo"]) == (None, None)


async def test_a_socket_reply_to_another_conversation_is_invalid(
    open_socket: Opener, alice: User, bob: User, carol: User
) -> None:
    parent = await first_message(alice, bob)
    c = await open_socket(carol)
    frame = await c.request("send_message", {"receiverId": alice.pk, "content": "sneaky", "replyToId": parent.pk})
    assert frame["event"] == "error" and frame["data"]["code"] == "invalid" and "replyToId" in frame["data"]["errors"]
    assert "the first text" not in str(frame)
    assert await database_sync_to_async(Message.objects.count)() == 1
