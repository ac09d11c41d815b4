"""Security matrices: every route and every socket path against bad tokens, outsiders, mass assignment.

What tests/chat/rest/test_views.py and tests/chat/ws/test_consumer.py already pin is not repeated; this file
adds the full cross products: every protected route x every kind of bad token (REST and the
three socket paths), the list of public routes pinned so a new route cannot forget
authentication, user JSON limited to UserSummary in every response and event, privilege fields
ignored at registration, and the message rate limit under concurrent REST requests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import jwt
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.auth import tokens_for
from accounts.models import User
from chat.models import Message
from chatproject.asgi import application
from chatproject.env import RateLimit
from tests.support.api import SUMMARY_KEYS, messages_url, read_url, search_url, send
from tests.support.figures import figure

BAD_TOKENS = ["garbage", "expired", "refresh", "wrong-key", "alg-none", "deactivated", "password-changed"]


def bad_token(kind: str, user: User) -> str:
    """A token of `kind` for `user` (changing the user's state where the kind needs it)."""
    if kind == "garbage":
        return "not.a.token"
    if kind == "expired":
        expired = AccessToken.for_user(user)
        expired.set_exp(lifetime=-timedelta(seconds=1))
        return str(expired)
    if kind == "refresh":
        return tokens_for(user)["refresh"]
    claims = dict(AccessToken.for_user(user).payload)
    if kind == "wrong-key":
        return jwt.encode(claims, "another-secret-of-the-same-length-0123456789", algorithm="HS256")
    if kind == "alg-none":
        return jwt.encode(claims, "", algorithm="none")  # "none" takes no key: PyJWT reads "" as None
    token = tokens_for(user)["access"]
    if kind == "deactivated":
        User.objects.filter(pk=user.pk).update(is_active=False)
    elif kind == "password-changed":
        user.set_password("a-brand-new-pass-456")
        user.save()
    return token


# --- REST: every protected route x every bad token ---------------------------------------------

PROTECTED: list[tuple[str, Callable[[Message], tuple[str, str, dict[str, Any] | None]]]] = [
    ("send", lambda m: ("post", "/api/chat/send", {"receiverId": m.receiver_id, "content": "x"})),
    ("conversations", lambda m: ("get", "/api/chat/conversations", None)),
    ("messages", lambda m: ("get", messages_url(m.conversation_id), None)),
    ("messages after", lambda m: ("get", f"{messages_url(m.conversation_id)}?after=1", None)),
    ("read", lambda m: ("put", read_url(m.conversation_id), None)),
    ("search", lambda m: ("get", f"{search_url(m.conversation_id)}?q=hello", None)),
    ("unread-count", lambda m: ("get", "/api/chat/unread-count", None)),
    ("unread", lambda m: ("get", "/api/chat/unread", None)),
    ("delete", lambda m: ("delete", f"/api/chat/messages/{m.pk}", None)),
    ("edit", lambda m: ("patch", f"/api/chat/messages/{m.pk}", {"content": "edited"})),
    ("history", lambda m: ("get", f"/api/chat/messages/{m.pk}/history", None)),
    ("react", lambda m: ("put", f"/api/chat/messages/{m.pk}/reactions/%F0%9F%91%8D", None)),
    ("search everywhere", lambda m: ("get", "/api/chat/search?q=hello", None)),
    ("unreact", lambda m: ("delete", f"/api/chat/messages/{m.pk}/reactions/%F0%9F%91%8D", None)),
    ("blocks", lambda m: ("get", "/api/chat/blocks", None)),
    ("block", lambda m: ("put", f"/api/chat/blocks/{m.receiver_id}", None)),
    ("unblock", lambda m: ("delete", f"/api/chat/blocks/{m.receiver_id}", None)),
    ("mute", lambda m: ("put", f"/api/chat/conversations/{m.conversation_id}/mute", {"until": None})),
    ("archive", lambda m: ("put", f"/api/chat/conversations/{m.conversation_id}/archive", None)),
    ("mark unread", lambda m: ("put", f"/api/chat/conversations/{m.conversation_id}/unread", {"fromMessageId": m.pk})),
    ("delivered", lambda m: ("put", f"/api/chat/conversations/{m.conversation_id}/delivered", {"upToMessageId": m.pk})),
    ("report", lambda m: ("post", f"/api/chat/messages/{m.pk}/report", {"reason": "spam"})),
    ("me", lambda m: ("get", "/api/auth/me", None)),
    ("users", lambda m: ("get", "/api/auth/users", None)),
]


@pytest.mark.django_db
@pytest.mark.parametrize("kind", BAD_TOKENS)
@pytest.mark.parametrize("route", [r for _, r in PROTECTED], ids=[n for n, _ in PROTECTED])
def test_every_protected_route_refuses_every_bad_token(
    alice: User, bob: User, kind: str, route: Callable[[Message], tuple[str, str, dict[str, Any] | None]]
) -> None:
    message = send(alice, bob, "hello")
    method, path, body = route(message)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {bad_token(kind, alice)}")
    response = getattr(api, method)(path, body, format="json") if body else getattr(api, method)(path)
    assert response.status_code == 401, (kind, path, response.content)
    assert response.json()["success"] is False
    assert Message.all_objects.count() == 1 and not Message.objects.get().is_read
    assert Message.objects.get().content == "hello"


# Every URL under /api/ that answers without a token. A new route is protected unless listed here.
PUBLIC_API = {
    "api/auth/register",
    "api/auth/token",
    "api/auth/token/refresh",
    "api/schema/",
    "api/asyncapi.yaml",
    "api/docs/",
    # A signed link is its own credential (an <img> sends no token): tests/chat/rest/test_attachments.py.
    "api/chat/files/<str:token>",
}


def _routes(patterns: list[Any], prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


@pytest.mark.django_db
def test_every_api_route_needs_a_token_unless_it_is_listed_public(anon: APIClient) -> None:
    api_routes = sorted(r for r in _routes(get_resolver().url_patterns) if r.startswith("api/"))
    open_routes = []
    for route in api_routes:
        path = "/" + route.replace("<int:conversation_id>", "1").replace("<int:message_id>", "1")
        path = path.replace("<int:user_id>", "1")
        answers = {anon.generic(method, path).status_code for method in ("GET", "POST", "PUT", "PATCH", "DELETE")}
        if answers - {401, 405}:
            open_routes.append(route)
    assert set(open_routes) == PUBLIC_API, "a route answers without a token; protect it or list it as public"
    figure(
        f"\n{len(api_routes)} API routes: {len(api_routes) - len(open_routes)} need a token, {len(open_routes)} public"
    )


# --- Socket: every authentication path x every bad token ---------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", BAD_TOKENS)
@pytest.mark.parametrize("path", ["query", "header", "authenticate-frame"])
async def test_every_socket_auth_path_closes_4401_on_every_bad_token(alice: User, kind: str, path: str) -> None:
    token = await database_sync_to_async(bad_token)(kind, alice)
    url, headers = "/ws/chat/", []
    if path == "query":
        url += f"?token={token}"
    elif path == "header":
        headers = [(b"authorization", f"Bearer {token}".encode())]
    communicator = WebsocketCommunicator(application, url, headers=headers)
    connected, _ = await communicator.connect()
    assert connected  # accepted, then closed with the contract's code
    try:
        if path == "authenticate-frame":
            await communicator.send_json_to({"event": "authenticate", "data": {"token": token}})
        output = await communicator.receive_output(timeout=3)
        assert output == {"type": "websocket.close", "code": 4401}, output
    finally:
        await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_an_outsider_socket_never_hears_the_conversation_it_probed(alice: User, bob: User, carol: User) -> None:
    message = await database_sync_to_async(send)(alice, bob, "secret plans")
    token = await database_sync_to_async(lambda: tokens_for(carol)["access"])()
    eve = WebsocketCommunicator(application, f"/ws/chat/?token={token}")
    assert (await eve.connect())[0]
    try:
        assert (await eve.receive_json_from())["event"] == "connected"
        conversation = {"conversationId": message.conversation_id}
        for event in ("join_conversation", "typing", "stop_typing", "mark_as_read", "leave_conversation"):
            await eve.send_json_to({"event": event, "ref": event, "data": conversation})
            answer = await eve.receive_json_from()
            assert answer["data"]["code"] == "not_found" and "secret" not in str(answer), answer
        await database_sync_to_async(send)(bob, alice, "more secret plans")
        assert await eve.receive_nothing(timeout=0.3), "an outsider received an event of the conversation"
    finally:
        await eve.disconnect()


# --- User JSON is UserSummary everywhere ---------------------------------------------------------


def _user_objects(value: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object that describes a user (it has a username)."""
    if isinstance(value, dict):
        if "username" in value:
            yield value
        for inner in value.values():
            yield from _user_objects(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _user_objects(inner)


@pytest.mark.django_db
def test_every_chat_response_shows_users_as_user_summary_only(
    client_for: Callable[[User], APIClient], alice: User, bob: User
) -> None:
    alice.email, alice.is_staff = "alice@example.com", True
    alice.save()
    first = send(alice, bob, "hello")
    as_alice, as_bob = client_for(alice), client_for(bob)
    conversation = first.conversation_id
    responses = [
        as_alice.post(
            "/api/chat/send", {"receiverId": bob.pk, "content": "hi", "clientMessageId": "u1"}, format="json"
        ),
        as_alice.post(
            "/api/chat/send", {"receiverId": bob.pk, "content": "hi", "clientMessageId": "u1"}, format="json"
        ),
        as_alice.get("/api/chat/conversations"),
        as_bob.get(messages_url(conversation)),
        as_bob.get(f"{messages_url(conversation)}?after=1"),
        as_bob.get(f"{search_url(conversation)}?q=h"),
        as_bob.get("/api/chat/unread"),
        as_bob.get("/api/auth/users?search=alice"),
        APIClient().post("/api/auth/register", {"username": "newbie", "password": "correct-horse-9"}, format="json"),
    ]
    seen = 0
    for response in responses:
        assert response.status_code in (200, 201), response.content
        for user in _user_objects(response.json()):
            assert set(user) == SUMMARY_KEYS, user
            seen += 1
    assert seen >= 12
    figure(f"\n{seen} user objects in {len(responses)} responses, every one a UserSummary")


@pytest.mark.django_db(transaction=True)
async def test_every_socket_event_shows_users_as_user_summary_only(alice: User, bob: User) -> None:
    def setup() -> tuple[str, str]:
        User.objects.filter(pk=alice.pk).update(email="alice@example.com", is_staff=True)
        return tokens_for(alice)["access"], tokens_for(bob)["access"]

    alice_token, bob_token = await database_sync_to_async(setup)()
    a = WebsocketCommunicator(application, f"/ws/chat/?token={alice_token}")
    b = WebsocketCommunicator(application, f"/ws/chat/?token={bob_token}")
    try:
        await a.connect()
        await b.connect()
        frames: list[Any] = [await a.receive_json_from(), await b.receive_json_from()]
        await a.send_json_to({"event": "send_message", "ref": "s", "data": {"receiverId": bob.pk, "content": "yo"}})
        while not await a.receive_nothing(timeout=0.3):
            frames.append(await a.receive_json_from())
        while not await b.receive_nothing(timeout=0.3):
            frames.append(await b.receive_json_from())
        events = {f["event"] for f in frames}
        assert {"ack", "message_notification"} <= events, events
        users = [u for f in frames for u in _user_objects(f)]
        assert users and all(set(u) == SUMMARY_KEYS for u in users), users
    finally:
        await a.disconnect()
        await b.disconnect()


# --- Mass assignment at registration ------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("is_staff", True),
        ("is_superuser", True),
        ("is_active", False),
        ("id", 424242),
        ("last_seen_at", "2000-01-01T00:00:00Z"),
        ("date_joined", "2000-01-01T00:00:00Z"),
        ("groups", [1]),
        ("user_permissions", [1]),
        ("is_online", True),
    ],
)
def test_register_ignores_fields_the_client_may_not_set(anon: APIClient, field: str, value: Any) -> None:
    body = {"username": "mallory", "password": "correct-horse-9", field: value}
    response = anon.post("/api/auth/register", body, format="json")
    assert response.status_code == 201, response.content
    user = User.objects.get(username="mallory")
    assert (user.is_staff, user.is_superuser, user.is_active, user.last_seen_at) == (False, False, True, None)
    assert user.pk != 424242 and user.date_joined.year > 2000
    assert not user.groups.exists() and not user.user_permissions.exists()


# --- The rate limit under concurrent REST requests ----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_message_rate_limit_holds_under_concurrent_rest_requests(settings: Any, alice: User, bob: User) -> None:
    """8 threads x 10 sends at once through the whole REST stack: exactly the limit gets in."""
    settings.MESSAGE_RATE_LIMIT = RateLimit(30, 10)
    token = tokens_for(alice)["access"]
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(index: int) -> None:
        from django.db import connection

        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        start.wait()
        try:
            for n in range(10):
                body = {"receiverId": bob.pk, "content": f"{index}-{n}", "clientMessageId": f"{index}-{n}"}
                status = api.post("/api/chat/send", body, format="json").status_code
                with lock:
                    statuses.append(status)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(set(statuses)) == [201, 429]
    assert statuses.count(201) == 30 and statuses.count(429) == 50
    assert Message.objects.filter(sender=alice).count() == 30
    figure(f"\nrate limit under 8 concurrent REST senders: {statuses.count(201)} stored, {statuses.count(429)} refused")
