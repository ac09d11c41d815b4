"""End to end over real daphne processes and real WebSockets: events cross processes.

In CI (DATABASE_URL and REDIS_URL set) alice's sockets sit on process A and bob's on
process B, so every event below travels through Redis from one process to the other.
Without them the same tests run against one embedded process (`cluster.b is cluster.a`).
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from tests.e2e.cluster import ApiError, Cluster, Frame, Server, Socket, User, register
from tests.e2e.conftest import Connect

pytestmark = [pytest.mark.e2e]

QUIET = 0.5  # how long "nothing more arrives" is watched for, after an ordering barrier


async def rest(server: Server, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    return await asyncio.to_thread(server.api, method, path, body, token)


async def users(cluster: Cluster, *prefixes: str) -> list[User]:
    return [await asyncio.to_thread(register, cluster.a, prefix) for prefix in prefixes]


async def start_conversation(cluster: Cluster, sender: User, receiver: User) -> dict[str, Any]:
    body = {"receiverId": receiver.id, "content": "hello"}
    return dict(await rest(cluster.a, "POST", "/api/chat/send", body, sender.token))


def events(frames: list[Frame], *names: str) -> list[Frame]:
    return [f for f in frames if f["event"] in names]


def test_ci_runs_the_cross_process_cluster(cluster: Cluster) -> None:
    """With PostgreSQL and Redis configured (CI), two processes run: never a silent downgrade."""
    if os.environ.get("REDIS_URL"):
        assert cluster.cross_process and cluster.a.port != cluster.b.port
        assert "_e2e_" in cluster.database and cluster.database.startswith("postgres")
    else:
        assert not cluster.cross_process and cluster.database.startswith("sqlite")


async def test_messages_typing_receipts_and_deletions_cross_processes(cluster: Cluster, connect: Connect) -> None:
    alice, bob = await users(cluster, "alice", "bob")
    conversation = (await start_conversation(cluster, alice, bob))["conversation_id"]
    a = await connect(cluster.a, alice)
    b = await connect(cluster.b, bob)
    await a.call("join_conversation", {"conversationId": conversation})
    await b.call("join_conversation", {"conversationId": conversation})
    assert (await a.wait_for("user_joined"))["data"]["userId"] == bob.id

    ack = await a.call(
        "send_message", {"receiverId": bob.id, "conversationId": conversation, "content": "over <b>A</b>"}
    )
    pushed = (await b.wait_for("new_message"))["data"]
    assert (pushed["id"], pushed["seq"], pushed["senderId"]) == (ack["id"], 2, alice.id)
    assert pushed["content"] == "over <b>A</b>"
    assert pushed["sender"]["username"] == alice.username and "email" not in pushed["sender"]

    assert (await a.call("typing", {"conversationId": conversation}))["forwarded"] is True
    assert (await b.wait_for("user_typing"))["data"] == {"userId": alice.id, "conversationId": conversation}
    await a.call("stop_typing", {"conversationId": conversation})
    assert (await b.wait_for("user_stopped_typing"))["data"]["userId"] == alice.id

    read = await b.call("mark_as_read", {"conversationId": conversation})
    assert read["updated"] == 2 and read["upToMessageId"] == ack["id"]
    receipt = (await a.wait_for("messages_read"))["data"]
    assert (receipt["userId"], receipt["conversationId"], receipt["upToMessageId"]) == (bob.id, conversation, ack["id"])

    await rest(cluster.b, "DELETE", f"/api/chat/messages/{ack['id']}", token=alice.token)
    expected = {"id": ack["id"], "conversationId": conversation}
    assert (await b.wait_for("message_deleted"))["data"] == expected
    assert (await a.wait_for("message_deleted"))["data"] == expected

    await a.drain(QUIET)
    await b.drain(0.05)
    assert not events(a.seen, "user_typing", "user_stopped_typing"), "typing echoed to the typist"
    assert not events(b.seen, "message_notification"), "a receiver in the room was also notified"
    assert len(events(a.seen, "messages_read")) == 1 and len(events(a.seen, "message_deleted")) == 1
    assert len(events(b.seen, "message_deleted")) == 1 and len(events(b.seen, "new_message")) == 1


async def test_notification_only_while_none_of_the_receivers_sockets_is_in_the_room(
    cluster: Cluster, connect: Connect
) -> None:
    alice, bob = await users(cluster, "alice", "bob")
    a = await connect(cluster.a, alice)
    b_room = await connect(cluster.b, bob)
    b_other = await connect(cluster.a, bob)  # bob's second device, on the other process

    first = await a.call("send_message", {"receiverId": bob.id, "content": "knock knock"})
    conversation = first["conversationId"]
    for sock in (b_room, b_other):
        note = (await sock.wait_for("message_notification"))["data"]
        assert (note["messageId"], note["conversationId"], note["from"]["id"]) == (first["id"], conversation, alice.id)
        assert note["content"] == "knock knock" and note["timestamp"].endswith("Z")

    await b_room.call("join_conversation", {"conversationId": conversation})
    second = await a.call("send_message", {"receiverId": bob.id, "conversationId": conversation, "content": "in"})
    assert (await b_room.wait_for("new_message"))["data"]["id"] == second["id"]
    await a.call("typing", {"conversationId": conversation})  # a barrier published after the message
    await b_room.wait_for("user_typing")
    await b_other.drain(QUIET)
    assert len(events(b_other.seen, "message_notification")) == 1, "notified although bob sits in the room on B"
    assert len(events(b_room.seen, "message_notification")) == 1

    await b_room.call("leave_conversation", {"conversationId": conversation})
    third = await a.call("send_message", {"receiverId": bob.id, "conversationId": conversation, "content": "out"})
    for sock in (b_room, b_other):
        assert (await sock.wait_for("message_notification"))["data"]["messageId"] == third["id"]


async def test_rest_send_reaches_sockets_on_both_processes(cluster: Cluster, connect: Connect) -> None:
    alice, bob = await users(cluster, "alice", "bob")
    conversation = (await start_conversation(cluster, alice, bob))["conversation_id"]
    a = await connect(cluster.a, alice)
    b = await connect(cluster.b, bob)
    for sock in (a, b):
        await sock.call("join_conversation", {"conversationId": conversation})

    sent = await rest(cluster.a, "POST", "/api/chat/send", {"receiverId": alice.id, "content": "via REST"}, bob.token)
    for sock in (a, b):
        pushed = (await sock.wait_for("new_message"))["data"]
        assert (pushed["id"], pushed["seq"], pushed["content"]) == (sent["id"], sent["seq"], "via REST")
        assert pushed["senderId"] == bob.id and pushed["conversationId"] == conversation


async def test_presence_crosses_processes(cluster: Cluster, connect: Connect) -> None:
    alice, bob = await users(cluster, "alice", "bob")
    await start_conversation(cluster, alice, bob)
    a = await connect(cluster.a, alice)
    b = await connect(cluster.b, bob)
    online = (await a.wait_for(lambda f: f["event"] == "presence" and f["data"]["userId"] == bob.id))["data"]
    assert online["isOnline"] is True
    await b.close()
    offline = (await a.wait_for(lambda f: f["event"] == "presence" and f["data"]["isOnline"] is False))["data"]
    assert offline["userId"] == bob.id and offline["lastSeenAt"].endswith("Z")
    listed = await rest(cluster.b, "GET", f"/api/auth/users?search={bob.username}", token=alice.token)
    assert listed["users"][0]["is_online"] is False and listed["users"][0]["last_seen_at"] is not None


async def test_reconnect_then_after_cursor_misses_nothing(cluster: Cluster, connect: Connect) -> None:
    alice, bob = await users(cluster, "alice", "bob")
    conversation = (await start_conversation(cluster, alice, bob))["conversation_id"]
    a = await connect(cluster.a, alice)
    b = await connect(cluster.b, bob)
    await b.call("join_conversation", {"conversationId": conversation})
    live = await a.call("send_message", {"receiverId": bob.id, "conversationId": conversation, "content": "m1"})
    last = (await b.wait_for("new_message"))["data"]
    assert last["id"] == live["id"]
    await b.close()  # the network drops

    missed = [
        (await a.call("send_message", {"receiverId": bob.id, "content": "m2"}))["id"],
        (await rest(cluster.b, "POST", "/api/chat/send", {"receiverId": bob.id, "content": "m3"}, alice.token))["id"],
        (await a.call("send_message", {"receiverId": bob.id, "content": "m4"}))["id"],
    ]

    again = await connect(cluster.a, bob)  # back, on the other process this time
    await again.call("join_conversation", {"conversationId": conversation})
    page = await rest(
        cluster.a, "GET", f"/api/chat/conversations/{conversation}/messages?after={last['id']}", token=bob.token
    )
    assert [m["id"] for m in page["messages"]] == missed and page["hasMore"] is False
    assert [m["seq"] for m in page["messages"]] == [last["seq"] + 1, last["seq"] + 2, last["seq"] + 3]
    after = await a.call("send_message", {"receiverId": bob.id, "conversationId": conversation, "content": "m5"})
    assert (await again.wait_for("new_message"))["data"]["id"] == after["id"]


async def test_outsider_can_neither_join_send_mark_nor_observe(cluster: Cluster, connect: Connect) -> None:
    alice, bob, carol = await users(cluster, "alice", "bob", "carol")
    conversation = (await start_conversation(cluster, alice, bob))["conversation_id"]
    a = await connect(cluster.a, alice)
    b = await connect(cluster.b, bob)
    c = await connect(cluster.b, carol)
    for sock in (a, b):
        await sock.call("join_conversation", {"conversationId": conversation})

    for event in ("join_conversation", "typing", "stop_typing", "mark_as_read", "leave_conversation"):
        frame = await c.request(event, {"conversationId": conversation})
        assert frame["event"] == "error" and frame["data"]["code"] == "not_found", (event, frame)
    frame = await c.request("send_message", {"receiverId": bob.id, "conversationId": conversation, "content": "x"})
    assert frame["event"] == "error" and frame["data"]["code"] == "not_found"

    sent = await a.call("send_message", {"receiverId": bob.id, "conversationId": conversation, "content": "secret"})
    await a.call("typing", {"conversationId": conversation})
    await b.call("mark_as_read", {"conversationId": conversation})
    await rest(cluster.a, "DELETE", f"/api/chat/messages/{sent['id']}", token=alice.token)
    await b.wait_for("message_deleted")
    observed = await c.drain(QUIET)
    assert observed == [], f"the outsider observed {observed}"

    for method, path in (
        ("GET", f"/api/chat/conversations/{conversation}/messages"),
        ("PUT", f"/api/chat/conversations/{conversation}/read"),
    ):
        with pytest.raises(ApiError) as refused:
            await rest(cluster.b, method, path, token=carol.token)
        assert refused.value.status == 404
    history = await rest(cluster.a, "GET", f"/api/chat/conversations/{conversation}/messages", token=bob.token)
    assert [m["sender_id"] for m in history["messages"]] == [alice.id]  # "secret" is deleted, nothing of carol's
    assert history["messages"][0]["is_read"] is True  # bob's read stands, carol's mark changed nothing else


async def test_authentication_paths_on_a_real_server(cluster: Cluster, connect: Connect) -> None:
    (alice,) = await users(cluster, "alice")
    first_frame = await connect(cluster.b, None)
    ref = await first_frame.send("authenticate", {"token": alice.token})
    assert (await first_frame.wait_for("connected"))["data"]["userId"] == alice.id
    assert (await first_frame.wait_for(lambda f: f.get("ref") == ref))["event"] == "ack"

    async with ws_connect(cluster.a.ws_url, additional_headers={"Authorization": f"Bearer {alice.token}"}) as ws:
        assert (await Socket(ws=ws).wait_for("connected"))["data"]["userId"] == alice.id
    async with ws_connect(cluster.a.ws_url + "?token=not.a.token") as ws:
        assert await Socket(ws=ws).close_code() == 4401
    with pytest.raises(InvalidStatus) as refused:
        await ws_connect(f"{cluster.a.ws_url}?token={alice.token}", origin=Origin("https://evil.example.net"))
    assert refused.value.response.status_code == 403


async def test_bad_frames_leave_the_socket_open_and_big_frames_close_it(cluster: Cluster, connect: Connect) -> None:
    (alice,) = await users(cluster, "alice")
    sock = await connect(cluster.a, alice)
    for raw, code in (
        ("not json", "invalid_json"),
        ("[]", "invalid"),
        ('{"event": "fly_away"}', "unknown_event"),
        ('{"event": "typing", "data": {"conversationId": "7"}}', "invalid"),
        (b"\x00\x01", "invalid"),
    ):
        await sock.ws.send(raw)
        frame = await sock.wait_for("error")
        assert frame["data"]["code"] == code, (raw, frame)
    assert await sock.call("join_personal_room") == {"userId": alice.id}

    await sock.ws.send(json.dumps({"event": "send_message", "data": {"receiverId": 1, "content": "x" * 70_000}}))
    assert await sock.close_code() == 1009
    with pytest.raises(ConnectionClosed):
        await sock.ws.send("{}")
