"""The WebSocket consumer: authentication, every client event, every server event, every error."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.auth import tokens_for
from accounts.models import User
from chat.models import Conversation, Message
from chat.validation import SendRequest
from chatproject.asgi import application
from chatproject.env import RateLimit

pytestmark = [pytest.mark.django_db(transaction=True)]

QUIET = 0.15  # how long "nothing arrives" is watched for


class Client:
    """A test socket that speaks the contract's frames."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.c = communicator
        self._ref = 0

    async def send(self, event: str, data: Any = None, ref: Any = "auto") -> Any:
        frame: dict[str, Any] = {"event": event}
        if data is not None:
            frame["data"] = data
        if ref == "auto":
            self._ref += 1
            ref = f"r{self._ref}"
        if ref is not None:
            frame["ref"] = ref
        await self.c.send_to(text_data=json.dumps(frame))
        return ref

    async def recv(self, timeout: float = 2.0) -> dict[str, Any]:
        return json.loads(await self.c.receive_from(timeout=timeout))

    async def expect(self, event: str, timeout: float = 2.0) -> dict[str, Any]:
        """The next frame, which must be `event`; presence frames are skipped unless asked for."""
        frame = await self.recv(timeout)
        while frame["event"] == "presence" and event != "presence":
            frame = await self.recv(timeout)
        assert frame["event"] == event, frame
        return frame

    async def request(self, event: str, data: Any = None) -> dict[str, Any]:
        """Send with a ref and return its ack or error, skipping unrelated events in between."""
        ref = await self.send(event, data)
        while True:
            frame = await self.recv()
            if frame.get("ref") == ref:
                return frame

    async def call(self, event: str, data: Any = None) -> Any:
        frame = await self.request(event, data)
        assert frame["event"] == "ack", frame
        return frame["data"]

    async def silent(self, *, presence_too: bool = False) -> bool:
        """Nothing arrives for a moment (presence frames are ignored unless presence_too)."""
        while not await self.c.receive_nothing(timeout=QUIET):
            frame = await self.recv()
            if presence_too or frame["event"] != "presence":
                return False
        return True

    async def close_code(self, timeout: float = 2.0) -> int:
        output = await self.c.receive_output(timeout=timeout)
        while output["type"] != "websocket.close":
            output = await self.c.receive_output(timeout=timeout)
        return int(output.get("code", 1000))


Opener = Callable[..., Any]


async def _layer_receiving() -> None:
    """Wait until this test loop's channel layer delivers (a message sent to a group comes back).

    The Redis pub/sub layer starts its reading task on the loop's first subscribe and, for up
    to 0.1 s, does not read yet: an event published then reaches the groups as they are when
    it is read, so a socket that joined a room in that window got an event sent before it
    joined. Each test has a fresh loop, so each test would start in that window.

    A group, not the channel itself: core.layers delivers a send to a channel of this process
    without Redis. The membership stays, so the reader never idles (it polls every 0.1 s
    while the loop holds no subscription).
    """
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    channel = await layer.new_channel()
    group = f"ready.{uuid.uuid4().hex}"
    await layer.group_add(group, channel)
    await layer.group_send(group, {"type": "ready"})
    assert await asyncio.wait_for(layer.receive(channel), 5) == {"type": "ready"}


@pytest.fixture
async def open_socket() -> AsyncIterator[Opener]:
    await _layer_receiving()
    opened: list[WebsocketCommunicator] = []

    async def open_(
        user: User | None = None,
        *,
        token: str | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
        query: bool = True,
        expect_connected: bool = True,
    ) -> Client:
        if user is not None and token is None:
            token = await database_sync_to_async(lambda: tokens_for(user)["access"])()
        path = "/ws/chat/"
        if token is not None and query:
            path += f"?token={token}"
        communicator = WebsocketCommunicator(application, path, headers=headers or [])
        opened.append(communicator)
        connected, _ = await communicator.connect()
        assert connected
        client = Client(communicator)
        if expect_connected:
            frame = await client.expect("connected")
            assert frame["data"]["userId"] == user.pk  # type: ignore[union-attr]
        return client

    yield open_
    for communicator in opened:
        await communicator.disconnect()


async def make_conversation(a: User, b: User, content: str = "hello") -> Conversation:
    from chat.services.messages import send_message

    def run() -> Conversation:
        send_message(sender=a, request=SendRequest(receiver_id=b.pk, content=content))
        return Conversation.objects.get()

    return await database_sync_to_async(run)()


# --- Authentication ------------------------------------------------------------------------


async def test_token_in_query_string_connects(open_socket: Opener, alice: User) -> None:
    client = await open_socket(alice)
    assert await client.call("join_personal_room") == {"userId": alice.pk}


async def test_authorization_header_connects(open_socket: Opener, alice: User) -> None:
    token = await database_sync_to_async(lambda: tokens_for(alice)["access"])()
    await open_socket(alice, token=token, query=False, headers=[(b"authorization", f"Bearer {token}".encode())])


async def test_authenticate_as_first_frame(open_socket: Opener, alice: User) -> None:
    client = await open_socket(expect_connected=False)
    token = await database_sync_to_async(lambda: tokens_for(alice)["access"])()
    ref = await client.send("authenticate", {"token": token})
    assert (await client.expect("connected"))["data"]["userId"] == alice.pk
    ack = await client.expect("ack")
    assert ack["ref"] == ref and ack["data"]["userId"] == alice.pk


async def test_frames_before_authentication_get_unauthenticated(open_socket: Opener, alice: User) -> None:
    client = await open_socket(expect_connected=False)
    frame = await client.request("join_conversation", {"conversationId": 1})
    assert frame["event"] == "error" and frame["data"]["code"] == "unauthenticated"


async def test_no_authentication_within_the_deadline_closes_4401(open_socket: Opener, settings: Any) -> None:
    settings.WS_AUTH_TIMEOUT_SECONDS = 0.2
    client = await open_socket(expect_connected=False)
    assert await client.close_code() == 4401


def _expired(user: User) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=1))
    return str(token)


@pytest.mark.parametrize("kind", ["garbage", "expired", "refresh", "deactivated"])
async def test_bad_tokens_are_accepted_then_closed_4401(open_socket: Opener, alice: User, kind: str) -> None:
    def make() -> str:
        if kind == "expired":
            return _expired(alice)
        if kind == "refresh":
            return tokens_for(alice)["refresh"]
        if kind == "deactivated":
            token = tokens_for(alice)["access"]
            User.objects.filter(pk=alice.pk).update(is_active=False)
            return token
        return "not.a.token"

    token = await database_sync_to_async(make)()
    client = await open_socket(token=token, expect_connected=False)
    assert await client.close_code() == 4401


async def test_bad_token_in_authenticate_frame_closes_4401(open_socket: Opener) -> None:
    client = await open_socket(expect_connected=False)
    await client.send("authenticate", {"token": "nope"})
    assert await client.close_code() == 4401


def _short_lived(user: User, seconds: int = 2) -> tuple[str, int]:
    """An access token that expires `seconds` to `seconds + 1` s from now, and its `exp`.

    `exp` is whole seconds: a lifetime of 1 s (floored) could leave almost nothing, and the
    socket would close before `connected`.
    """
    token = AccessToken.for_user(user)
    exp = int(time.time()) + seconds + 1
    token["exp"] = exp
    return str(token), exp


async def test_socket_closes_4401_when_its_token_expires(open_socket: Opener, alice: User) -> None:
    token, exp = await database_sync_to_async(_short_lived)(alice)
    client = await open_socket(alice, token=token)
    assert await client.close_code(timeout=exp - time.time() + 2) == 4401
    assert time.time() >= exp - 0.05  # not before its time


async def test_fresh_token_keeps_socket_open_past_old_expiry(open_socket: Opener, alice: User) -> None:
    token, exp = await database_sync_to_async(_short_lived)(alice)
    client = await open_socket(alice, token=token)
    fresh = await database_sync_to_async(lambda: tokens_for(alice)["access"])()
    await client.call("authenticate", {"token": fresh})
    await asyncio.sleep(exp - time.time() + 0.3)  # the old token's expiry lapsing is what is tested
    assert await client.call("join_personal_room") == {"userId": alice.pk}


async def test_fresh_token_of_another_user_is_forbidden(open_socket: Opener, alice: User, bob: User) -> None:
    client = await open_socket(alice)
    other = await database_sync_to_async(lambda: tokens_for(bob)["access"])()
    frame = await client.request("authenticate", {"token": other})
    assert frame["data"]["code"] == "forbidden"
    assert await client.call("join_personal_room") == {"userId": alice.pk}


async def test_deactivating_a_user_closes_their_sockets(open_socket: Opener, alice: User) -> None:
    client = await open_socket(alice)

    def deactivate() -> None:
        user = User.objects.get(pk=alice.pk)
        user.is_active = False
        user.save()

    await database_sync_to_async(deactivate)()
    assert await client.close_code() == 4401


# --- Origin --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        (None, b"localhost:3010", True),  # no Origin: not a browser
        (b"http://localhost:3010", b"localhost:3010", True),  # the server's own origin
        (b"HTTP://LocalHost:3010", b"localhost:3010", True),
        (b"http://127.0.0.1", b"127.0.0.1:80", True),  # the default port either way
        (b"https://app.example.com", b"localhost:3010", True),  # FRONTEND_URL
        (b"https://app.example.com:443", b"localhost:3010", True),
        # Another port or scheme of an allowed host is another site (as CORS has it).
        (b"http://localhost:8080", b"localhost:3010", False),
        (b"https://localhost:3010", b"localhost:3010", False),
        (b"http://127.0.0.1:3991", b"127.0.0.1:3010", False),
        (b"http://app.example.com", b"localhost:3010", False),
        (b"https://app.example.com:8443", b"localhost:3010", False),
        # A Host outside ALLOWED_HOSTS makes no origin its own.
        (b"http://evil.example.net", b"evil.example.net", False),
        (b"https://evil.example.net", b"localhost:3010", False),
        (b"http://localhost:3010/path", b"localhost:3010", False),
        (b"http://user@localhost:3010", b"localhost:3010", False),
        (b"null", b"localhost:3010", False),
        (b"file://", b"localhost:3010", False),
    ],
)
async def test_origin_policy(settings: Any, alice: User, origin: bytes | None, host: bytes, allowed: bool) -> None:
    settings.FRONTEND_ORIGINS = ["https://app.example.com"]
    token = await database_sync_to_async(lambda: tokens_for(alice)["access"])()
    headers = [(b"host", host)] + ([(b"origin", origin)] if origin else [])
    communicator = WebsocketCommunicator(application, f"/ws/chat/?token={token}", headers=headers)
    connected, _ = await communicator.connect()
    assert connected is allowed
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("proxy", "forwarded", "allowed"), [(True, b"https", True), (False, b"https", False), (True, b"http", False)]
)
async def test_own_https_origin_behind_a_tls_proxy(
    settings: Any, alice: User, proxy: bool, forwarded: bytes, allowed: bool
) -> None:
    """Behind a proxy that ends TLS the handshake arrives as ws://, but the page was https."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if proxy else None
    token = await database_sync_to_async(lambda: tokens_for(alice)["access"])()
    headers = [(b"host", b"localhost"), (b"x-forwarded-proto", forwarded), (b"origin", b"https://localhost")]
    communicator = WebsocketCommunicator(application, f"/ws/chat/?token={token}", headers=headers)
    connected, _ = await communicator.connect()
    assert connected is allowed
    await communicator.disconnect()


# --- Rooms, messages, notifications --------------------------------------------------------


async def test_outsider_cannot_join_type_mark_or_send_into_a_conversation(
    open_socket: Opener, alice: User, bob: User, carol: User
) -> None:
    conversation = await make_conversation(alice, bob)
    eve = await open_socket(carol)
    for event in ("join_conversation", "leave_conversation", "typing", "stop_typing", "mark_as_read"):
        frame = await eve.request(event, {"conversationId": conversation.pk})
        assert frame["event"] == "error" and frame["data"]["code"] == "not_found", event
    frame = await eve.request("send_message", {"receiverId": bob.pk, "conversationId": conversation.pk, "content": "x"})
    assert frame["data"]["code"] == "not_found"
    assert await database_sync_to_async(Message.objects.count)() == 1


async def test_join_acks_and_room_gets_user_joined(open_socket: Opener, alice: User, bob: User) -> None:
    conversation = await make_conversation(alice, bob)
    a = await open_socket(alice)
    b = await open_socket(bob)
    await a.call("join_conversation", {"conversationId": conversation.pk})
    assert await b.call("join_conversation", {"conversationId": conversation.pk}) == {"conversationId": conversation.pk}
    joined = await a.expect("user_joined")
    assert joined["data"]["userId"] == bob.pk and joined["data"]["conversationId"] == conversation.pk
    assert await b.silent()  # the joiner is not told about itself


async def test_leave_sends_user_left_and_stops_room_events(open_socket: Opener, alice: User, bob: User) -> None:
    conversation = await make_conversation(alice, bob)
    a = await open_socket(alice)
    b = await open_socket(bob)
    await a.call("join_conversation", {"conversationId": conversation.pk})
    await b.call("join_conversation", {"conversationId": conversation.pk})
    await a.expect("user_joined")
    await b.call("leave_conversation", {"conversationId": conversation.pk})
    assert (await a.expect("user_left"))["data"]["userId"] == bob.pk
    await a.call("typing", {"conversationId": conversation.pk})
    assert await b.silent()


async def test_send_message_acks_stored_message_and_room_gets_new_message(
    open_socket: Opener, alice: User, bob: User
) -> None:
    conversation = await make_conversation(alice, bob)
    a = await open_socket(alice)
    b = await open_socket(bob)
    await b.call("join_conversation", {"conversationId": conversation.pk})
    ack = await a.call(
        "send_message",
        {"receiverId": bob.pk, "conversationId": conversation.pk, "content": "hi <b>", "clientMessageId": "c1"},
    )
    assert ack["content"] == "hi <b>" and ack["seq"] == 2 and ack["clientMessageId"] == "c1"
    stored = await database_sync_to_async(Message.objects.get)(pk=ack["id"])
    assert stored.content == "hi <b>"
    pushed = (await b.expect("new_message"))["data"]
    assert {k: pushed[k] for k in ("id", "seq", "senderId", "receiverId", "conversationId", "content")} == {
        "id": ack["id"],
        "seq": 2,
        "senderId": alice.pk,
        "receiverId": bob.pk,
        "conversationId": conversation.pk,
        "content": "hi <b>",
    }
    assert pushed["sender"]["username"] == "alice" and "email" not in pushed["sender"]
    assert await b.silent()  # in the room: no notification on top


async def test_send_message_with_attachment_ids_carries_them_in_the_ack_and_new_message(
    open_socket: Opener, alice: User, bob: User
) -> None:
    import io

    from chat.services.attachments import Upload, upload_attachment

    def upload() -> int:
        data = b"for the socket\n"
        return upload_attachment(uploader=alice, upload=Upload("n.txt", len(data), io.BytesIO(data))).pk

    attachment_id = await database_sync_to_async(upload)()
    conversation = await make_conversation(alice, bob)
    a = await open_socket(alice)
    b = await open_socket(bob)
    await b.call("join_conversation", {"conversationId": conversation.pk})
    ack = await a.call("send_message", {"receiverId": bob.pk, "content": "", "attachmentIds": [attachment_id]})
    assert [x["id"] for x in ack["attachments"]] == [attachment_id]
    pushed = (await b.expect("new_message"))["data"]
    (attachment,) = pushed["attachments"]
    assert (attachment["id"], attachment["name"], attachment["content_type"]) == (attachment_id, "n.txt", "text/plain")
    response = await database_sync_to_async(lambda: APIClient().get(attachment["url"]))()
    assert b"".join(response.streaming_content) == b"for the socket\n"
    error = await a.request("send_message", {"receiverId": bob.pk, "content": "", "attachmentIds": [attachment_id]})
    assert error["event"] == "error" and error["data"]["code"] == "invalid"
    assert "attachmentIds" in error["data"]["message"]


async def test_receiver_outside_the_room_gets_a_notification(open_socket: Opener, alice: User, bob: User) -> None:
    a = await open_socket(alice)
    b = await open_socket(bob)
    ack = await a.call("send_message", {"receiverId": bob.pk, "content": "knock knock"})
    note = (await b.expect("message_notification"))["data"]
    assert note["messageId"] == ack["id"] and note["from"]["id"] == alice.pk and note["content"] == "knock knock"
    assert note["conversationId"] == ack["conversationId"]


async def test_retried_client_message_id_is_stored_once_and_not_rebroadcast(
    open_socket: Opener, alice: User, bob: User
) -> None:
    a = await open_socket(alice)
    b = await open_socket(bob)
    first = await a.call("send_message", {"receiverId": bob.pk, "content": "once", "clientMessageId": "k-1"})
    await b.expect("message_notification")
    again = await a.call("send_message", {"receiverId": bob.pk, "content": "once", "clientMessageId": "k-1"})
    assert again["id"] == first["id"] and again["duplicate"] is True
    assert await b.silent()
    assert await database_sync_to_async(Message.objects.count)() == 1


async def test_rest_send_reaches_sockets_exactly_like_a_socket_send(
    open_socket: Opener, alice: User, bob: User
) -> None:
    conversation = await make_conversation(alice, bob)
    b = await open_socket(bob)
    await b.call("join_conversation", {"conversationId": conversation.pk})

    def rest_send() -> dict[str, Any]:
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for(alice)['access']}")
        return api.post("/api/chat/send", {"receiverId": bob.pk, "content": "via REST"}, format="json").json()["data"]

    sent = await database_sync_to_async(rest_send)()
    pushed = (await b.expect("new_message"))["data"]
    assert pushed["id"] == sent["id"] and pushed["content"] == "via REST" and pushed["seq"] == sent["seq"]


async def test_send_validation_errors_keep_the_socket_open(open_socket: Opener, alice: User, bob: User) -> None:
    a = await open_socket(alice)
    cases = [
        ({"receiverId": bob.pk, "content": "   "}, "invalid"),
        ({"receiverId": "2", "content": "x"}, "invalid"),
        ({"receiverId": bob.pk, "content": "x" * 10_001}, "invalid"),
        ({"receiverId": bob.pk, "content": "x", "attachmentUrl": "javascript:alert(1)"}, "invalid"),
        ({"receiverId": alice.pk, "content": "me"}, "invalid"),
        ({"receiverId": 999_999, "content": "x"}, "not_found"),
    ]
    for data, code in cases:
        frame = await a.request("send_message", data)
        assert frame["event"] == "error" and frame["data"]["code"] == code, (data, frame)
    assert await a.call("join_personal_room") == {"userId": alice.pk}


async def test_send_rate_limit_answers_rate_limited_with_retry_after(
    open_socket: Opener, alice: User, bob: User, settings: Any
) -> None:
    settings.MESSAGE_RATE_LIMIT = RateLimit(2, 10)
    a = await open_socket(alice)
    await a.call("send_message", {"receiverId": bob.pk, "content": "1"})
    await a.call("send_message", {"receiverId": bob.pk, "content": "2"})
    frame = await a.request("send_message", {"receiverId": bob.pk, "content": "3"})
    assert frame["data"]["code"] == "rate_limited" and frame["data"]["retryAfter"] >= 1
    assert await database_sync_to_async(Message.objects.count)() == 2


# --- Typing, read receipts, deletion -------------------------------------------------------


async def test_typing_reaches_the_room_but_not_the_typist(open_socket: Opener, alice: User, bob: User) -> None:
    conversation = await make_conversation(alice, bob)
    a = await open_socket(alice)
    b = await open_socket(bob)
    await a.call("join_conversation", {"conversationId": conversation.pk})
    await b.call("join_conversation", {"conversationId": conversation.pk})
    await a.expect("user_joined")
    ack = await a.call("typing", {"conversationId": conversation.pk})
    assert ack["forwarded"] is True
    assert (await b.expect("user_typing"))["data"] == {"userId": alice.pk, "conversationId": conversation.pk}
    await a.call("stop_typing", {"conversationId": conversation.pk})
    assert (await b.expect("user_stopped_typing"))["data"]["userId"] == alice.pk
    assert await a.silent()


async def test_typing_is_forwarded_at_most_once_a_second(open_socket: Opener, alice: User, bob: User) -> None:
    conversation = await make_conversation(alice, bob)
    a = await open_socket(alice)
    b = await open_socket(bob)
    await b.call("join_conversation", {"conversationId": conversation.pk})
    assert (await a.call("typing", {"conversationId": conversation.pk}))["forwarded"] is True
    assert (await a.call("typing", {"conversationId": conversation.pk}))["forwarded"] is False
    await b.expect("user_typing")
    assert await b.silent()


async def test_mark_as_read_acks_and_tells_room_and_other_participant(
    open_socket: Opener, alice: User, bob: User
) -> None:
    conversation = await make_conversation(alice, bob)  # alice → bob
    a = await open_socket(alice)
    b = await open_socket(bob)
    ack = await b.call("mark_as_read", {"conversationId": conversation.pk})
    assert ack["updated"] == 1 and ack["conversationId"] == conversation.pk
    receipt = (await a.expect("messages_read"))["data"]  # via alice's personal room
    assert receipt["userId"] == bob.pk and receipt["upToMessageId"] == ack["upToMessageId"]
    assert await database_sync_to_async(Message.objects.filter(is_read=True).count)() == 1


async def test_read_receipt_is_not_duplicated_for_a_socket_in_the_room(
    open_socket: Opener, alice: User, bob: User
) -> None:
    conversation = await make_conversation(alice, bob)
    a = await open_socket(alice)
    b = await open_socket(bob)
    await a.call("join_conversation", {"conversationId": conversation.pk})
    await b.call("mark_as_read", {"conversationId": conversation.pk})
    await a.expect("messages_read")
    assert await a.silent()


async def test_deletion_reaches_room_and_both_personal_rooms(open_socket: Opener, alice: User, bob: User) -> None:
    conversation = await make_conversation(alice, bob)
    message = await database_sync_to_async(Message.objects.get)()
    a = await open_socket(alice)
    b = await open_socket(bob)
    await b.call("join_conversation", {"conversationId": conversation.pk})

    def rest_delete() -> int:
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for(alice)['access']}")
        return api.delete(f"/api/chat/messages/{message.pk}").status_code

    assert await database_sync_to_async(rest_delete)() == 200
    expected = {"id": message.pk, "conversationId": conversation.pk}
    assert (await a.expect("message_deleted"))["data"] == expected
    assert (await b.expect("message_deleted"))["data"] == expected
    assert await b.silent()


# --- Presence ------------------------------------------------------------------------------


async def test_presence_online_on_first_socket_offline_on_last(
    open_socket: Opener, alice: User, bob: User, settings: Any
) -> None:
    settings.PRESENCE_GRACE_SECONDS = 0  # announced at once (the grace has its own tests: test_floods.py)
    await make_conversation(alice, bob)
    a = await open_socket(alice)
    b1 = await open_socket(bob)
    online = (await a.expect("presence"))["data"]
    assert online["userId"] == bob.pk and online["isOnline"] is True
    b2 = await open_socket(bob)
    assert await a.silent(presence_too=True)  # second socket: no new presence
    # Communicator.disconnect cancels the consumer after 1 s by default; on a busy machine that
    # could cut the presence bookkeeping short, which is what this test watches.
    await b2.c.disconnect(timeout=10)
    assert await a.silent(presence_too=True)
    await b1.c.disconnect(timeout=10)
    offline = (await a.expect("presence"))["data"]
    assert offline["isOnline"] is False and offline["lastSeenAt"].endswith("Z")
    stored = await database_sync_to_async(lambda: User.objects.get(pk=bob.pk).last_seen_at)()
    assert stored is not None


def _batch_sizes(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """The size of each batch `module.name` is called with from now on (it still runs)."""
    sizes: list[int] = []
    real = getattr(module, name)

    def recorded(batch: list[Any]) -> Any:
        sizes.append(len(batch))
        return real(batch)

    monkeypatch.setattr(module, name, recorded)
    return sizes


async def test_sockets_closing_together_are_recorded_in_one_call(
    open_socket: Opener, alice: User, make_user: Any, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """A mass disconnect costs a worker-thread call per batch, not per socket (chat.ws.session)."""
    from chat import presence
    from chat.services import sockets

    settings.PRESENCE_GRACE_SECONDS = 0
    from chat.services.messages import send_message

    def users_writing_to_alice() -> list[User]:
        users = [make_user(f"closer{n}") for n in range(8)]
        for user in users:
            send_message(sender=user, request=SendRequest(receiver_id=alice.pk, content="hi"))
        return users

    others = await database_sync_to_async(users_writing_to_alice)()
    watcher = await open_socket(alice)
    clients = [await open_socket(other) for other in others]
    for _ in others:
        assert (await watcher.expect("presence"))["data"]["isOnline"] is True
    batches = _batch_sizes(monkeypatch, sockets, "sockets_closed")
    await asyncio.gather(*(c.c.disconnect(timeout=10) for c in clients))
    assert sum(batches) == len(others) and len(batches) <= 2, batches
    offline = {(await watcher.expect("presence"))["data"]["userId"] for _ in others}
    assert offline == {other.pk for other in others}
    online = await database_sync_to_async(lambda: [presence.socket_connected(o.pk, "probe")[1] for o in others])()
    assert online == [True] * len(others)  # every socket was forgotten: each user's next is news


async def test_rooms_joined_at_once_are_joined_in_one_call_each_answered(
    open_socket: Opener, alice: User, bob: User, carol: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chat.services import sockets

    conversation = await make_conversation(alice, bob)
    clients = [await open_socket(alice) for _ in range(4)] + [await open_socket(carol)]
    batches = _batch_sizes(monkeypatch, sockets, "rooms_joined")
    replies = await asyncio.gather(
        *(c.request("join_conversation", {"conversationId": conversation.pk}) for c in clients)
    )
    assert [r["event"] for r in replies] == ["ack"] * 4 + ["error"]
    assert replies[-1]["data"]["code"] == "not_found"  # carol is not in it
    assert sum(batches) == len(clients) and len(batches) <= 3, batches  # two batches in flight, then the rest


async def test_a_disconnect_makes_no_hop_to_the_thread_sensitive_thread(
    open_socket: Opener, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """Channels' base handler closes old connections on the one shared thread at every close."""
    from channels.generic import websocket

    settings.PRESENCE_GRACE_SECONDS = 0
    await make_conversation(alice, bob)
    watcher = await open_socket(alice)
    token = await database_sync_to_async(lambda: tokens_for(bob)["access"])()
    leaving = WebsocketCommunicator(application, f"/ws/chat/?token={token}")
    assert (await leaving.connect())[0]
    assert (await watcher.expect("presence"))["data"]["isOnline"] is True
    hops: list[str] = []

    async def recorded() -> None:
        hops.append("aclose_old_connections")

    monkeypatch.setattr(websocket, "aclose_old_connections", recorded)
    await leaving.disconnect(timeout=10)
    assert (await watcher.expect("presence"))["data"]["isOnline"] is False  # the close was handled
    assert hops == []


async def test_a_session_stopped_while_leaving_its_groups_still_goes_offline(
    open_socket: Opener, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """daphne stops a session that outlives its application close timeout (as the communicator
    does here after 0.2 s): the close was queued before anything that can hang, so it is kept."""
    from core.layers import ChatLoopLayer

    settings.PRESENCE_GRACE_SECONDS = 0
    await make_conversation(alice, bob)
    watcher = await open_socket(alice)
    token = await database_sync_to_async(lambda: tokens_for(bob)["access"])()
    leaving = WebsocketCommunicator(application, f"/ws/chat/?token={token}")  # not the fixture's: it is stopped here
    assert (await leaving.connect())[0]
    assert (await watcher.expect("presence"))["data"]["isOnline"] is True

    async def hangs(self: Any, group: str, channel: str) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(ChatLoopLayer, "group_discard", hangs)
    with contextlib.suppress(asyncio.CancelledError):
        await leaving.disconnect(timeout=0.2)
    offline = (await watcher.expect("presence"))["data"]
    assert (offline["userId"], offline["isOnline"]) == (bob.pk, False)


async def test_presence_is_not_sent_to_strangers(open_socket: Opener, alice: User, carol: User) -> None:
    c = await open_socket(carol)
    await open_socket(alice)
    assert await c.silent(presence_too=True)


# --- Malformed frames ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "invalid_json"),
        ("", "invalid_json"),
        ("[1, 2]", "invalid"),
        ('"event"', "invalid"),
        ('{"data": {}}', "invalid"),
        ('{"event": 5}', "invalid"),
        ('{"event": "fly_away"}', "unknown_event"),
        ('{"event": "join_conversation", "data": []}', "invalid"),
        ('{"event": "join_conversation", "data": {"conversationId": "1"}}', "invalid"),
        ('{"event": "join_conversation", "data": {"conversationId": true}}', "invalid"),
        ('{"event": "join_conversation", "data": {}}', "invalid"),
        ('{"event": "join_conversation", "ref": {"a": 1}, "data": {"conversationId": 1}}', "invalid"),
        ('{"event": "typing", "data": {"conversationId": 99999999999999999999999}}', "invalid"),
    ],
)
async def test_malformed_frames_get_error_and_socket_stays_open(
    open_socket: Opener, alice: User, raw: str, code: str
) -> None:
    client = await open_socket(alice)
    await client.c.send_input({"type": "websocket.receive", "text": raw})
    frame = await client.expect("error")
    assert frame["data"]["code"] == code
    assert await client.call("join_personal_room") == {"userId": alice.pk}


async def test_binary_frame_gets_error_and_socket_stays_open(open_socket: Opener, alice: User) -> None:
    client = await open_socket(alice)
    await client.c.send_to(bytes_data=b"\x00\x01")
    assert (await client.expect("error"))["data"]["code"] == "invalid"
    assert await client.call("join_personal_room") == {"userId": alice.pk}


async def test_frame_over_64_kib_closes_1009(open_socket: Opener, alice: User, bob: User) -> None:
    client = await open_socket(alice)
    big = json.dumps({"event": "send_message", "data": {"receiverId": bob.pk, "content": "x" * 70_000}})
    await client.c.send_to(text_data=big)
    assert await client.close_code() == 1009
    assert await database_sync_to_async(Message.objects.count)() == 0


async def test_error_without_ref_still_reports_code(open_socket: Opener, alice: User) -> None:
    client = await open_socket(alice)
    await client.send("join_conversation", {"conversationId": 424242}, ref=None)
    frame = await client.expect("error")
    assert "ref" not in frame and frame["data"]["code"] == "not_found"


async def test_unexpected_fault_answers_internal_and_socket_stays_open(
    open_socket: Opener, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chat.services import conversations

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(conversations, "mark_read", broken)
    conversation = await make_conversation(alice, bob)
    client = await open_socket(bob)
    frame = await client.request("mark_as_read", {"conversationId": conversation.pk})
    assert frame["event"] == "error" and frame["data"]["code"] == "internal"
    assert "fire" not in frame["data"]["message"]  # no internals leak to the client
    assert await client.call("join_personal_room") == {"userId": bob.pk}


async def test_invalid_data_is_reported_before_any_effect_with_the_field_named(
    open_socket: Opener, alice: User
) -> None:
    client = await open_socket(alice)
    frame = await client.request("authenticate", {"token": 5})
    assert frame["data"]["code"] == "invalid" and set(frame["data"]["errors"]) == {"token"}
    frame = await client.request("send_message", {"content": 7})
    assert frame["data"]["code"] == "invalid" and set(frame["data"]["errors"]) == {"receiverId", "content"}
    assert await database_sync_to_async(Message.objects.count)() == 0


async def test_heartbeat_keeps_a_long_lived_socket_in_its_groups(
    open_socket: Opener, alice: User, bob: User, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The in-memory layer forgets group members after group_expiry (a day by default)."""
    from chat import presence

    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"group_expiry": 1}}
    }
    monkeypatch.setattr(presence, "HEARTBEAT_SECONDS", 0.25)
    conversation = await make_conversation(alice, bob)
    a = await open_socket(alice)
    b = await open_socket(bob)
    await b.call("join_conversation", {"conversationId": conversation.pk})
    await asyncio.sleep(2.2)  # past the expiry (whole seconds) of the first group_add
    ack = await a.call(
        "send_message", {"receiverId": bob.pk, "conversationId": conversation.pk, "content": "still here?"}
    )
    assert (await b.expect("new_message"))["data"]["id"] == ack["id"]


async def test_worker_threads_give_their_database_connections_back(
    open_socket: Opener, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each frame's service call closes its thread's connection (returns it to the pool), even
    under Channels' test communicator, which patches channels.db.close_old_connections away."""
    from django.db import connections

    from chat.services import sockets

    used: list[Any] = []
    real_join = sockets.rooms_joined

    def spy(*args: Any, **kwargs: Any) -> Any:
        result = real_join(*args, **kwargs)
        used.append(connections["default"])  # this worker thread's connection, open right now
        return result

    monkeypatch.setattr(sockets, "rooms_joined", spy)
    conversation = await make_conversation(alice, bob)
    client = await open_socket(alice)
    await client.call("join_conversation", {"conversationId": conversation.pk})
    assert len(used) == 1 and used[0].connection is None
