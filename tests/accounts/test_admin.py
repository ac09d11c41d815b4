"""The users admin: columns, search, filters, the message links, and "Deactivate selected users",
which closes the users' open sockets and revokes their refresh tokens."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test import Client
from rest_framework.test import APIClient

from accounts.auth import tokens_for
from accounts.models import User
from chatproject.asgi import application
from tests.support.api import send

USERS = "/admin/accounts/user/"


def _admin(make_user: Callable[..., User]) -> Client:
    client = Client()
    client.force_login(make_user("root", is_staff=True, is_superuser=True, email="root@example.com"))
    return client


@pytest.mark.django_db
def test_user_changelist_shows_chat_columns(make_user: Callable[..., User], alice: User) -> None:
    html = _admin(make_user).get(USERS).content.decode()
    for column in ("column-username", "column-email", "column-is_active", "column-last_seen_at", "column-date_joined"):
        assert column in html, column
    assert "alice@example.com" in html


@pytest.mark.django_db
def test_user_search_and_filters(make_user: Callable[..., User], alice: User, bob: User) -> None:
    make_user("mallory", is_active=False)
    admin = _admin(make_user)
    found = admin.get(USERS, {"q": "alice@example"}).content.decode()
    assert ">alice<" in found and ">bob<" not in found
    inactive = admin.get(USERS, {"is_active__exact": "0"}).content.decode()
    assert ">mallory<" in inactive and ">alice<" not in inactive


@pytest.mark.django_db
def test_user_page_links_to_their_messages(make_user: Callable[..., User], alice: User, bob: User) -> None:
    send(alice, bob, "from alice")
    send(bob, alice, "from bob")
    admin = _admin(make_user)
    page = admin.get(f"{USERS}{alice.pk}/change/").content.decode()
    assert f"sender__id__exact={alice.pk}" in page
    sent = admin.get("/admin/chat/message/", {"sender__id__exact": alice.pk})
    assert sent.status_code == 200
    assert "from alice" in sent.content.decode() and "from bob" not in sent.content.decode()


@pytest.mark.django_db
def test_deactivate_action_revokes_refresh_tokens(make_user: Callable[..., User], alice: User, bob: User) -> None:
    admin = _admin(make_user)
    tokens = tokens_for(alice)
    response = admin.post(USERS, {"action": "deactivate_users", "_selected_action": [alice.pk]})
    assert response.status_code == 302
    alice.refresh_from_db()
    bob.refresh_from_db()
    assert (alice.is_active, bob.is_active) == (False, True)
    # Reactivated by mistake later, the old refresh token still does not work.
    User.objects.filter(pk=alice.pk).update(is_active=True)
    refreshed = APIClient().post("/api/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 401


@pytest.mark.django_db
def test_deactivate_action_leaves_the_acting_admin_active(make_user: Callable[..., User], alice: User) -> None:
    admin = _admin(make_user)
    root = User.objects.get(username="root")
    response = admin.post(USERS, {"action": "deactivate_users", "_selected_action": [root.pk, alice.pk]}, follow=True)
    root.refresh_from_db()
    alice.refresh_from_db()
    assert root.is_active and not alice.is_active
    assert "You cannot deactivate yourself" in response.content.decode()


@pytest.mark.django_db(transaction=True)
async def test_deactivate_action_closes_the_users_open_sockets() -> None:
    def setup() -> tuple[Client, User, str]:
        admin = Client()
        admin.force_login(
            User.objects.create_user("root", password="x-strong-pass-1", is_staff=True, is_superuser=True)
        )
        alice = User.objects.create_user("alice", password="a-strong-pass-123")
        return admin, alice, tokens_for(alice)["access"]

    admin, alice, access = await sync_to_async(setup)()
    socket = WebsocketCommunicator(application, f"/ws/chat/?token={access}")
    connected, _ = await socket.connect()
    assert connected
    assert json.loads(await socket.receive_from())["event"] == "connected"

    post = sync_to_async(admin.post)
    response: Any = await post(USERS, {"action": "deactivate_users", "_selected_action": [alice.pk]})
    assert response.status_code == 302

    output = await socket.receive_output(timeout=3)
    while output["type"] != "websocket.close":
        output = await socket.receive_output(timeout=3)
    assert output["code"] == 4401
    await socket.wait()
    # The sync thread ran queries for setup and the admin post: give its connection back to the pool.
    await sync_to_async(connections.close_all)()
