"""Look-alike and reserved usernames: refused at sign-up with a 400 on `username`, however sign-ups race."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from rest_framework.test import APIClient

from accounts.models import User
from accounts.names import LOOKS_TAKEN, RESERVED_NAME, skeleton

REGISTER = "/api/auth/register"
pytestmark = pytest.mark.django_db


def _register(client: APIClient, username: str) -> Any:
    return client.post(REGISTER, {"username": username, "password": "correct-horse-9"}, format="json")


@pytest.mark.parametrize(
    "name",
    [
        "\u0430lice",  # Cyrillic a
        "ALICE",  # any case is the same name
        "al\u0456ce",  # Cyrillic i
        "\uff41lice",  # fullwidth a (NFKC)
        "aIice",  # capital I for l
    ],
)
def test_a_name_that_looks_like_a_taken_one_is_refused(anon: APIClient, alice: User, name: str) -> None:
    response = _register(anon, name)
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body["errors"]) == {"username"}
    assert body["message"].startswith("username: ")
    assert User.objects.count() == 1


def test_the_look_alike_message_is_clear(anon: APIClient, alice: User) -> None:
    assert _register(anon, "\u0430lice").json()["errors"] == {"username": [LOOKS_TAKEN]}


@pytest.mark.parametrize("name", ["admin", "Root", "\u0430dmin", "r00t", "support", "administrator"])
def test_reserved_names_are_refused(anon: APIClient, name: str) -> None:
    response = _register(anon, name)
    assert response.status_code == 400
    assert response.json()["errors"] == {"username": [RESERVED_NAME]}
    assert not User.objects.exists()


@pytest.mark.parametrize("name", ["alicia", "alice2", "bobby", "administratrix"])
def test_names_that_only_resemble_are_accepted(anon: APIClient, alice: User, name: str) -> None:
    assert _register(anon, name).status_code == 201


def test_the_skeleton_is_stored_and_unique_so_races_cannot_slip_past(alice: User) -> None:
    assert User.objects.get(pk=alice.pk).username_skeleton == skeleton("alice")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(username="\u0430lice", password="x")


def test_renaming_keeps_the_skeleton(alice: User) -> None:
    alice.username = "alicia"
    alice.save(update_fields=["username"])
    assert User.objects.get(pk=alice.pk).username_skeleton == skeleton("alicia")


def test_the_admin_form_names_a_look_alike(alice: User, make_user: Callable[..., User]) -> None:
    """User.clean, which the admin's forms run, so an operator gets a form error, not a 500."""
    other = make_user("mallory")
    other.username = "\u0430lice"
    with pytest.raises(ValidationError) as caught:
        other.full_clean()
    assert caught.value.message_dict["username"] == [LOOKS_TAKEN]


def test_operators_may_still_create_reserved_names(make_user: Callable[..., User]) -> None:
    assert make_user("admin", is_staff=True).username_skeleton == skeleton("admin")


def test_mixed_case_tricks_are_caught_as_written(anon: APIClient, make_user: Callable[..., User]) -> None:
    make_user("paypal")
    assert _register(anon, "paypaI").json()["errors"] == {"username": [LOOKS_TAKEN]}  # capital I
    assert _register(anon, "PAYPAL").status_code == 400
