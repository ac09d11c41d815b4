"""Floods at the other participant, over real sockets in-process: stop_typing throttled with typing,
join/leave events per user and room, presence flaps within the grace, and the sockets-per-user cap."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from accounts.models import User
from chat.ws.session import CLOSE_TOO_MANY_SOCKETS
from tests.chat.ws.test_consumer import Client, Opener, make_conversation, open_socket

pytestmark = [pytest.mark.django_db(transaction=True)]
__all__ = ["open_socket"]  # the fixture, used by name below


async def _frames(client: Client, seconds: float) -> list[dict[str, Any]]:
    """Every frame that arrives within `seconds`."""
    frames: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + seconds
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        if await client.c.receive_nothing(timeout=min(left, 0.1)):
            continue
        frames.append(await client.recv())
    return frames


def _events(frames: list[dict[str, Any]], *names: str) -> list[str]:
    return [f["event"] for f in frames if f["event"] in names]


async def test_a_flood_of_stop_typing_is_not_forwarded(open_socket: Opener, alice: User, bob: User) -> None:
    conversation = await make_conversation(alice, bob)
    a, b = await open_socket(alice), await open_socket(bob)
    await a.call("join_conversation", {"conversationId": conversation.pk})
    await b.call("join_conversation", {"conversationId": conversation.pk})
    forwarded = [(await b.call("stop_typing", {"conversationId": conversation.pk}))["forwarded"] for _ in range(300)]
    assert not any(forwarded)  # no typing was forwarded: nothing to stop
    assert (await b.call("typing", {"conversationId": conversation.pk}))["forwarded"] is True
    forwarded = [(await b.call("stop_typing", {"conversationId": conversation.pk}))["forwarded"] for _ in range(50)]
    assert forwarded.count(True) == 1 and forwarded[0] is True
    frames = await _frames(a, 0.5)
    assert _events(frames, "user_typing", "user_stopped_typing") == ["user_typing", "user_stopped_typing"]


async def test_leave_join_loops_are_announced_once_per_interval(
    open_socket: Opener, alice: User, bob: User, settings: Any
) -> None:
    settings.ROOM_EVENT_INTERVAL_SECONDS = 60.0
    conversation = await make_conversation(alice, bob)
    a, b = await open_socket(alice), await open_socket(bob)
    await a.call("join_conversation", {"conversationId": conversation.pk})
    await b.call("join_conversation", {"conversationId": conversation.pk})
    for _ in range(100):
        await b.call("leave_conversation", {"conversationId": conversation.pk})
        await b.call("join_conversation", {"conversationId": conversation.pk})
    frames = await _frames(a, 0.5)
    assert _events(frames, "user_joined", "user_left") == ["user_joined", "user_left"]


async def test_a_second_socket_in_the_room_is_no_news(open_socket: Opener, alice: User, bob: User) -> None:
    conversation = await make_conversation(alice, bob)
    a, b1, b2 = await open_socket(alice), await open_socket(bob), await open_socket(bob)
    await a.call("join_conversation", {"conversationId": conversation.pk})
    await b1.call("join_conversation", {"conversationId": conversation.pk})
    assert (await a.expect("user_joined"))["data"]["userId"] == bob.pk
    await b2.call("join_conversation", {"conversationId": conversation.pk})
    await b2.call("leave_conversation", {"conversationId": conversation.pk})  # b1 still sits in it
    assert _events(await _frames(a, 0.4), "user_joined", "user_left") == []


async def test_a_user_back_within_the_grace_is_not_announced_offline_and_online(
    open_socket: Opener, alice: User, bob: User, settings: Any
) -> None:
    settings.PRESENCE_GRACE_SECONDS = 2
    await make_conversation(alice, bob)
    a = await open_socket(alice)
    first = await open_socket(bob)
    online = (await a.expect("presence"))["data"]
    assert (online["userId"], online["isOnline"]) == (bob.pk, True)
    await first.c.disconnect(timeout=10)
    for _ in range(20):  # twenty reconnects, each within the grace
        again = await open_socket(bob)
        await again.c.disconnect(timeout=10)
    assert await a.silent(presence_too=True)
    # Gone for good: one offline announcement, once the grace has passed.
    frame = await a.recv(timeout=10)
    assert frame["event"] == "presence" and frame["data"]["isOnline"] is False
    assert await a.silent(presence_too=True)


async def test_sockets_over_the_cap_are_closed_with_4429(
    open_socket: Opener, alice: User, bob: User, settings: Any
) -> None:
    settings.MAX_SOCKETS_PER_USER = 3
    kept = [await open_socket(alice) for _ in range(3)]
    over = await open_socket(alice, expect_connected=False)
    assert await over.close_code() == CLOSE_TOO_MANY_SOCKETS == 4429
    assert (await open_socket(bob)) is not None  # another user's sockets are their own
    await kept[0].c.disconnect(timeout=10)
    replacement = await open_socket(alice)  # a closed one frees its place
    assert (await replacement.call("join_personal_room"))["userId"] == alice.pk
