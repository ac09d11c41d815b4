"""Blocks and delivery receipts across real server processes (tests/e2e/test_realtime.py has the rest).

In CI alice's sockets sit on process A and the others' on process B, so the block has to hold on
a process other than the one that stored it, and every event crosses Redis.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.cluster import ApiError, Cluster
from tests.e2e.conftest import Connect
from tests.e2e.test_realtime import QUIET, events, rest, start_conversation, users

pytestmark = [pytest.mark.e2e]


async def test_a_blocked_users_typing_never_reaches_the_blockers_socket_on_another_process(
    cluster: Cluster, connect: Connect
) -> None:
    alice, bob, carol = await users(cluster, "alice", "bob", "carol")
    with_bob = (await start_conversation(cluster, bob, alice))["conversation_id"]
    with_carol = (await start_conversation(cluster, carol, alice))["conversation_id"]
    a = await connect(cluster.a, alice)
    b = await connect(cluster.b, bob)
    c = await connect(cluster.b, carol)
    for sock, conversation in ((a, with_bob), (a, with_carol), (b, with_bob), (c, with_carol)):
        await sock.call("join_conversation", {"conversationId": conversation})
    await b.call("typing", {"conversationId": with_bob})
    assert (await a.wait_for("user_typing"))["data"]["userId"] == bob.id  # it did pass before

    await rest(cluster.b, "PUT", f"/api/chat/blocks/{bob.id}", token=alice.token)  # stored on B
    shown = await a.wait_for(lambda f: f["event"] == "presence" and f["data"]["userId"] == bob.id)
    assert shown["data"] == {"userId": bob.id, "isOnline": False, "lastSeenAt": None}
    a.seen.clear()

    await b.call("stop_typing", {"conversationId": with_bob})
    await b.call("leave_conversation", {"conversationId": with_bob})
    await b.call("join_conversation", {"conversationId": with_bob})
    await b.call("typing", {"conversationId": with_bob})
    await b.close()  # bob's last socket: offline
    again = await connect(cluster.a, bob)  # and back, on alice's process this time
    await again.call("join_conversation", {"conversationId": with_bob})
    await again.call("typing", {"conversationId": with_bob})
    await c.call("typing", {"conversationId": with_carol})  # a barrier published after all of bob's
    assert (await a.wait_for("user_typing"))["data"]["userId"] == carol.id
    await a.drain(QUIET)
    about_bob = [f for f in a.seen if f.get("data", {}).get("userId") == bob.id]
    assert about_bob == [], about_bob

    with pytest.raises(ApiError) as refused:
        await rest(cluster.a, "POST", "/api/chat/send", {"receiverId": alice.id, "content": "hi"}, bob.token)
    assert refused.value.status == 403 and refused.value.body["message"] == "You cannot message this user."
    frame = await again.request("send_message", {"receiverId": alice.id, "content": "hi"})
    assert frame["event"] == "error" and frame["data"]["code"] == "forbidden"
    history = await rest(cluster.b, "GET", f"/api/chat/conversations/{with_bob}/messages", token=alice.token)
    assert [m["content"] for m in history["messages"]] == ["hello"]

    await rest(cluster.a, "DELETE", f"/api/chat/blocks/{bob.id}", token=alice.token)
    assert (await a.wait_for("presence"))["data"]["isOnline"] is True  # bob's real presence, again
    # Typing is throttled to one a second and a stop follows only a forwarded typing: type until
    # one is forwarded (within the throttle's second), then stop.
    deadline = asyncio.get_running_loop().time() + 5
    while not (await again.call("typing", {"conversationId": with_bob}))["forwarded"]:
        assert asyncio.get_running_loop().time() < deadline, "no typing forwarded within 5 s"
    assert (await a.wait_for("user_typing"))["data"]["userId"] == bob.id
    await again.call("stop_typing", {"conversationId": with_bob})
    assert (await a.wait_for("user_stopped_typing"))["data"]["userId"] == bob.id


async def test_delivery_receipt_reaches_the_sender_on_another_process(cluster: Cluster, connect: Connect) -> None:
    alice, bob = await users(cluster, "alice", "bob")
    a = await connect(cluster.a, alice)
    b = await connect(cluster.b, bob)
    sent = [(await a.call("send_message", {"receiverId": bob.id, "content": f"m{i}"}))["id"] for i in range(5)]
    conversation = (await b.wait_for("message_notification"))["data"]["conversationId"]
    for message_id in sent:
        await b.call("mark_delivered", {"conversationId": conversation, "upToMessageId": message_id})
    receipt = (await a.wait_for("messages_delivered"))["data"]
    assert (receipt["conversationId"], receipt["deliveredAt"].endswith("Z")) == (conversation, True)
    latest = receipt["upToMessageId"]
    while latest < sent[-1]:  # a burst split across two windows gives a second, later receipt
        latest = (await a.wait_for("messages_delivered"))["data"]["upToMessageId"]
    assert latest == sent[-1]
    await a.drain(QUIET)
    assert len(events(a.seen, "messages_delivered")) <= 2
    page = await rest(cluster.a, "GET", f"/api/chat/conversations/{conversation}/messages", token=alice.token)
    assert all(m["delivered_at"] for m in page["messages"])
