"""Refresh tokens: spent exactly once however many requests race (real threads on the database),
a reuse revokes its family, a password change revokes them all and closes the user's sockets."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.auth import FAMILY_CLAIM, tokens_for
from accounts.models import User
from chatproject.asgi import application
from tests.support.figures import figure

REFRESH = "/api/auth/token/refresh"


def _refresh(token: str) -> Any:
    return APIClient().post(REFRESH, {"refresh": token}, format="json")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_exactly_one_of_ten_parallel_refreshes_succeeds(make_user: Callable[..., User], round_: int) -> None:
    user = make_user()
    refresh = tokens_for(user)["refresh"]
    barrier = threading.Barrier(10)
    answers: list[tuple[int, Any]] = []

    def spend() -> None:
        try:
            barrier.wait()
            response = _refresh(refresh)
            answers.append((response.status_code, response.json()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=spend) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] + [401] * 9, answers
    if round_ == 2:
        figure("refresh race: 10 threads spending one refresh token at once, 3 rounds: 1 succeeded each time")
    # The losers were reuses: the winner's new token, of the same family, is revoked too.
    new_refresh = next(body["data"]["refresh"] for status, body in answers if status == 200)
    assert _refresh(new_refresh).status_code == 401


@pytest.mark.django_db
def test_rotation_keeps_the_family_and_a_reuse_revokes_it(alice: User) -> None:
    first: Any = tokens_for(alice)["refresh"]  # simplejwt's stubs type a token's text as Token
    other_login = tokens_for(alice)["refresh"]  # another device: another family
    second = _refresh(first).json()["data"]["refresh"]
    third: Any = _refresh(second).json()["data"]["refresh"]
    assert RefreshToken(third)[FAMILY_CLAIM] == RefreshToken(first, verify=False)["jti"]

    reused = _refresh(first)
    assert reused.status_code == 401
    assert "already used" in reused.json()["message"]
    assert _refresh(third).status_code == 401  # the family's live token is revoked
    assert _refresh(other_login).status_code == 200  # the other device is not


@pytest.mark.django_db
def test_a_rotated_token_is_a_good_refresh_token(alice: User) -> None:
    data = _refresh(tokens_for(alice)["refresh"]).json()["data"]
    assert OutstandingToken.objects.filter(jti=RefreshToken(data["refresh"])["jti"], user=alice).exists()
    again = _refresh(data["refresh"])
    assert again.status_code == 200
    assert set(again.json()["data"]) == {"access", "refresh"}


@pytest.mark.django_db
def test_a_forged_token_cannot_revoke_a_family(alice: User) -> None:
    first = tokens_for(alice)["refresh"]
    second = _refresh(first).json()["data"]["refresh"]
    forged = first[:-4] + ("AAAA" if not first.endswith("AAAA") else "BBBB")  # the spent token, bad signature
    assert _refresh(forged).status_code == 401
    assert _refresh(second).status_code == 200


@pytest.mark.django_db
def test_a_password_change_blacklists_every_outstanding_refresh_token(alice: User, bob: User) -> None:
    phone, laptop = tokens_for(alice)["refresh"], tokens_for(alice)["refresh"]
    rotated = _refresh(laptop).json()["data"]["refresh"]
    bobs = tokens_for(bob)["refresh"]
    alice.set_password("a-new-strong-pass-456")
    alice.save()
    live = OutstandingToken.objects.filter(user=alice, blacklistedtoken__isnull=True)
    assert not live.exists()
    for token in (phone, rotated):
        assert _refresh(token).status_code == 401
    assert _refresh(bobs).status_code == 200
    assert BlacklistedToken.objects.filter(token__user=bob).count() == 1  # only the one bob spent


@pytest.mark.django_db
def test_other_saves_and_a_login_rehash_are_no_password_change(alice: User) -> None:
    refresh = tokens_for(alice)["refresh"]
    alice.first_name = "Alicia"
    alice.save()
    User.objects.get(pk=alice.pk).save(update_fields=["password"])  # a re-hash assigns `password` itself
    assert _refresh(refresh).status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_a_password_change_closes_the_users_open_sockets_with_4401() -> None:
    def setup() -> tuple[User, str, str]:
        alice = User.objects.create_user("alice", password="a-strong-pass-123")
        bob = User.objects.create_user("bob", password="a-strong-pass-123")
        return alice, tokens_for(alice)["access"], tokens_for(bob)["access"]

    alice, access, bobs = await sync_to_async(setup)()
    sockets = [WebsocketCommunicator(application, f"/ws/chat/?token={token}") for token in (access, access, bobs)]
    for socket in sockets:
        assert (await socket.connect())[0]
        assert json.loads(await socket.receive_from())["event"] == "connected"

    def change() -> None:
        alice.set_password("a-new-strong-pass-456")
        alice.save()

    await sync_to_async(change)()
    for socket in sockets[:2]:
        output = await socket.receive_output(timeout=3)
        while output["type"] != "websocket.close":
            output = await socket.receive_output(timeout=3)
        assert output["code"] == 4401
    assert await sockets[2].receive_nothing(timeout=0.3)  # bob's stays open
    for socket in sockets:
        await socket.disconnect()
    await sync_to_async(connections.close_all)()
