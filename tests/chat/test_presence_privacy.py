"""Presence is private to people who share a conversation, neither blocking the other: everyone
else sees a user offline with no `last_seen_at`, in the directory and wherever a UserSummary
appears; one function decides (chat.selectors.people.presence_hidden_from)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from chat import presence
from chat.models import Block
from chat.selectors.people import presence_hidden_from
from tests.support.api import CONVERSATIONS, data_of, send

pytestmark = pytest.mark.django_db
USERS = "/api/auth/users"


@pytest.fixture
def bob_online_and_seen(bob: User) -> User:
    """Bob has an open socket and a last_seen_at from an earlier one."""
    User.objects.filter(pk=bob.pk).update(last_seen_at=timezone.now() - timedelta(hours=1))
    presence.socket_connected(bob.pk, "bob-socket")
    bob.refresh_from_db()
    return bob


def _listed(api: APIClient, search: str) -> dict[str, Any]:
    (user,) = data_of(api.get(USERS, {"search": search}))["users"]
    return dict(user)


def test_a_stranger_sees_no_presence_in_the_directory(as_alice: APIClient, bob_online_and_seen: User) -> None:
    bob = _listed(as_alice, "bob")
    assert (bob["is_online"], bob["last_seen_at"]) == (False, None)


def test_a_conversation_partner_sees_presence_in_the_directory(
    as_alice: APIClient, alice: User, bob_online_and_seen: User
) -> None:
    send(bob_online_and_seen, alice, "hi")
    bob = _listed(as_alice, "bob")
    assert bob["is_online"] is True
    assert bob["last_seen_at"] is not None


def test_partners_see_presence_in_conversations(as_alice: APIClient, alice: User, bob_online_and_seen: User) -> None:
    send(alice, bob_online_and_seen, "hi")
    (conversation,) = data_of(as_alice.get(CONVERSATIONS))["conversations"]
    first, second = conversation["participant1"], conversation["participant2"]
    other = second if first["id"] == alice.pk else first
    assert (other["is_online"], other["last_seen_at"] is not None) == (True, True)


def test_one_function_decides(alice: User, bob: User, carol: User, make_user: Any) -> None:
    dave = make_user("dave")
    send(alice, bob)
    send(alice, dave)
    Block.objects.create(blocker=dave, blocked=alice)
    # Alice sees herself and bob; carol shares nothing with her, dave blocks her.
    assert presence_hidden_from(alice.pk, [alice.pk, bob.pk, carol.pk, dave.pk]) == {carol.pk, dave.pk}
    assert presence_hidden_from(bob.pk, [alice.pk, carol.pk]) == {carol.pk}
