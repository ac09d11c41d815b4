"""The /api/auth endpoints: every success path and every bad input, in the envelope."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.auth import tokens_for
from accounts.models import User
from tests.support.api import SUMMARY_KEYS, assert_failure

pytestmark = pytest.mark.django_db

REGISTER = "/api/auth/register"
TOKEN = "/api/auth/token"
REFRESH = "/api/auth/token/refresh"
ME = "/api/auth/me"
USERS = "/api/auth/users"


# --- register ------------------------------------------------------------------------------


def test_register_creates_user_and_returns_summary_and_tokens(anon: APIClient) -> None:
    response = anon.post(
        REGISTER, {"username": "dora", "password": "correct-horse-9", "email": "d@example.com"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    assert set(body["data"]["user"]) == SUMMARY_KEYS
    assert body["data"]["user"]["username"] == "dora"
    assert int(AccessToken(body["data"]["access"])["user_id"]) == body["data"]["user"]["id"]
    assert User.objects.get(username="dora").check_password("correct-horse-9")


def test_register_then_token_then_me_works_end_to_end(anon: APIClient) -> None:
    anon.post(REGISTER, {"username": "erin", "password": "correct-horse-9"}, format="json")
    tokens = anon.post(TOKEN, {"username": "erin", "password": "correct-horse-9"}, format="json").json()["data"]
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    me = anon.get(ME).json()["data"]
    assert me["username"] == "erin"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "correct-horse-9"}, "username"),
        ({"username": "frank"}, "password"),
        ({"username": 12, "password": "correct-horse-9"}, "username"),
        ({"username": "frank", "password": 123456789}, "password"),
        ({"username": "frank", "password": ["x"]}, "password"),
        ({"username": "bad name!", "password": "correct-horse-9"}, "username"),
        ({"username": "x" * 151, "password": "correct-horse-9"}, "username"),
        ({"username": "frank", "password": "correct-horse-9", "email": "not-an-email"}, "email"),
        ({"username": "frank", "password": "correct-horse-9", "first_name": 5}, "first_name"),
        ({"username": "frank", "password": "short"}, "password"),
        ({"username": "frank", "password": "password123"}, "password"),
        ({"username": "frank", "password": "83749204857"}, "password"),
        ({"username": "frankfurter", "password": "frankfurter"}, "password"),
    ],
)
def test_register_rejects_bad_input_with_field_errors(anon: APIClient, body: dict[str, Any], field: str) -> None:
    response = anon.post(REGISTER, body, format="json")
    assert field in assert_failure(response, 400)["errors"]
    assert not User.objects.filter(username="frank").exists()


def test_register_rejects_duplicate_username_case_insensitively(anon: APIClient, alice: User) -> None:
    response = anon.post(REGISTER, {"username": "ALICE", "password": "correct-horse-9"}, format="json")
    assert "username" in assert_failure(response, 400)["errors"]


def test_register_rejects_non_object_and_malformed_json(anon: APIClient) -> None:
    assert_failure(anon.post(REGISTER, [1, 2], format="json"), 400)
    assert_failure(anon.post(REGISTER, "{not json", content_type="application/json"), 400)


def test_register_ignores_privilege_fields(anon: APIClient) -> None:
    body = {"username": "mallory", "password": "correct-horse-9", "is_staff": True, "is_superuser": True}
    assert anon.post(REGISTER, body, format="json").status_code == 201
    user = User.objects.get(username="mallory")
    assert not user.is_staff and not user.is_superuser


def test_oversized_body_is_413(anon: APIClient) -> None:
    body = '{"username": "big", "password": "' + "x" * (settings.MAX_BODY_BYTES + 10) + '"}'
    assert_failure(anon.post(REGISTER, body, content_type="application/json"), 413)


# --- token ---------------------------------------------------------------------------------


def test_token_returns_access_and_refresh(anon: APIClient, alice: User) -> None:
    data = anon.post(TOKEN, {"username": "alice", "password": "a-strong-pass-123"}, format="json").json()["data"]
    assert int(AccessToken(data["access"])["user_id"]) == alice.pk
    assert int(RefreshToken(data["refresh"])["user_id"]) == alice.pk


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"username": "alice", "password": "wrong-password"}, 401),
        ({"username": "nobody", "password": "a-strong-pass-123"}, 401),
        ({"username": "alice"}, 400),
        ({"password": "a-strong-pass-123"}, 400),
        ({"username": ["alice"], "password": "a-strong-pass-123"}, 400),
        ({"username": "alice", "password": None}, 400),
    ],
)
def test_token_rejects_bad_credentials(anon: APIClient, alice: User, body: dict[str, Any], status: int) -> None:
    body = assert_failure(anon.post(TOKEN, body, format="json"), status)
    assert "access" not in str(body)


def test_token_refuses_deactivated_user(anon: APIClient, alice: User) -> None:
    alice.is_active = False
    alice.save()
    assert_failure(anon.post(TOKEN, {"username": "alice", "password": "a-strong-pass-123"}, format="json"), 401)


# --- refresh -------------------------------------------------------------------------------


def test_refresh_returns_new_access_and_rotated_refresh(anon: APIClient, alice: User) -> None:
    refresh = tokens_for(alice)["refresh"]
    data = anon.post(REFRESH, {"refresh": refresh}, format="json").json()["data"]
    assert int(AccessToken(data["access"])["user_id"]) == alice.pk
    assert data["refresh"] != refresh


def test_refresh_token_cannot_be_used_twice(anon: APIClient, alice: User) -> None:
    refresh = tokens_for(alice)["refresh"]
    assert anon.post(REFRESH, {"refresh": refresh}, format="json").status_code == 200
    assert_failure(anon.post(REFRESH, {"refresh": refresh}, format="json"), 401)


@pytest.mark.parametrize("value", ["garbage", "", 42, None])
def test_refresh_rejects_bad_tokens(anon: APIClient, value: Any) -> None:
    response = anon.post(REFRESH, {"refresh": value}, format="json")
    assert response.status_code in (400, 401)
    assert_failure(response, response.status_code)


def test_refresh_rejects_access_token(anon: APIClient, alice: User) -> None:
    assert_failure(anon.post(REFRESH, {"refresh": tokens_for(alice)["access"]}, format="json"), 401)


def test_refresh_refuses_deactivated_and_deleted_users(anon: APIClient, alice: User, bob: User) -> None:
    alice_refresh, bob_refresh = tokens_for(alice)["refresh"], tokens_for(bob)["refresh"]
    User.objects.filter(pk=alice.pk).update(is_active=False)
    assert_failure(anon.post(REFRESH, {"refresh": alice_refresh}, format="json"), 401)
    bob.delete()
    assert_failure(anon.post(REFRESH, {"refresh": bob_refresh}, format="json"), 401)


# --- me and bearer authentication ----------------------------------------------------------


def test_me_returns_own_profile_with_email(as_alice: APIClient, alice: User) -> None:
    data = as_alice.get(ME).json()["data"]
    assert data["id"] == alice.pk and data["email"] == "alice@example.com"
    assert "password" not in data and "is_staff" not in data


def _expired_access(user: User) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=1))
    return str(token)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Bearer not-a-token",
        "Basic YWxpY2U6cGFzcw==",
        "expired",
        "refresh",
        "wrong-key",
        "alg-none",
    ],
)
def test_me_requires_a_valid_access_token(anon: APIClient, alice: User, header: str | None) -> None:
    if header == "expired":
        header = f"Bearer {_expired_access(alice)}"
    elif header == "refresh":
        header = f"Bearer {tokens_for(alice)['refresh']}"
    elif header == "wrong-key":
        claims = dict(AccessToken.for_user(alice).payload)
        header = f"Bearer {jwt.encode(claims, 'another-secret-of-the-same-length-0123456789', algorithm='HS256')}"
    elif header == "alg-none":
        claims = dict(AccessToken.for_user(alice).payload)
        header = f"Bearer {jwt.encode(claims, '', algorithm='none')}"  # "none" takes no key
    if header:
        anon.credentials(HTTP_AUTHORIZATION=header)
    response = anon.get(ME)
    assert_failure(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_deactivated_users_tokens_stop_working(as_alice: APIClient, alice: User) -> None:
    assert as_alice.get(ME).status_code == 200
    User.objects.filter(pk=alice.pk).update(is_active=False)
    assert_failure(as_alice.get(ME), 401)


def test_password_change_revokes_earlier_tokens(as_alice: APIClient, alice: User) -> None:
    alice.set_password("a-new-strong-pass-456")
    alice.save()
    assert_failure(as_alice.get(ME), 401)


def test_wrong_method_is_405_in_envelope(as_alice: APIClient) -> None:
    response = as_alice.delete(ME)
    assert_failure(response, 405)
    assert "GET" in response["Allow"]


def test_unknown_api_path_is_404_in_envelope(as_alice: APIClient) -> None:
    assert_failure(as_alice.get("/api/auth/nothing-here"), 404)


# --- users ---------------------------------------------------------------------------------


def test_users_lists_active_others_as_summaries(as_alice: APIClient, bob: User, carol: User) -> None:
    User.objects.filter(pk=carol.pk).update(is_active=False)
    assert as_alice.get(USERS, {"search": "carol"}).json()["data"]["users"] == []
    assert as_alice.get(USERS, {"search": "alice"}).json()["data"]["users"] == []  # never the caller
    data = as_alice.get(USERS, {"search": "bo"}).json()["data"]
    assert [u["username"] for u in data["users"]] == ["bob"]
    assert set(data["users"][0]) == SUMMARY_KEYS
    assert (data["total"], data["page"], data["limit"], data["totalPages"]) == (1, 1, 20, 1)


def test_users_search_matches_username_and_names_case_insensitively(as_alice: APIClient, make_user: Any) -> None:
    make_user("zed", first_name="Robert")
    make_user("bobby")
    make_user("xavier")
    names = [u["username"] for u in as_alice.get(USERS, {"search": "BOB"}).json()["data"]["users"]]
    assert names == ["bobby"]
    names = [u["username"] for u in as_alice.get(USERS, {"search": "rob"}).json()["data"]["users"]]
    assert names == ["zed"]


def test_users_paginates(as_alice: APIClient, make_user: Any) -> None:
    for i in range(5):
        make_user(f"member{i}")
    data = as_alice.get(USERS, {"search": "member", "page": "2", "limit": "2"}).json()["data"]
    assert [u["username"] for u in data["users"]] == ["member2", "member3"]
    assert (data["total"], data["totalPages"]) == (5, 3)


@pytest.mark.parametrize(
    "query", [{"page": 0}, {"page": "x"}, {"limit": 0}, {"limit": 101}, {"limit": "-1"}, {"page": "1.5"}]
)
def test_users_rejects_bad_paging(as_alice: APIClient, query: dict[str, Any]) -> None:
    assert_failure(as_alice.get(USERS, {"search": "bob", **query}), 400)


@pytest.mark.parametrize("query", [{}, {"search": ""}, {"search": "b"}, {"search": "  b  "}, {"search": "x" * 151}])
def test_users_needs_a_search_term_of_two_characters_or_more(
    as_alice: APIClient, bob: User, query: dict[str, Any]
) -> None:
    body = assert_failure(as_alice.get(USERS, query), 400)
    assert set(body["errors"]) == {"search"}
    assert body["message"].startswith("search: ")


def test_users_requires_authentication(anon: APIClient) -> None:
    assert_failure(anon.get(USERS), 401)


def test_the_token_user_loads_what_the_orm_loads_and_refuses_what_it_cannot_find(alice: User) -> None:
    from django.forms.models import model_to_dict
    from rest_framework.exceptions import AuthenticationFailed
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.auth import BearerAuthentication

    auth = BearerAuthentication()
    loaded = auth.get_user(AccessToken.for_user(alice))
    fresh = User.objects.get(pk=alice.pk)
    assert model_to_dict(loaded) == model_to_dict(fresh)
    assert (loaded.password, loaded.last_seen_at, loaded.is_active) == (fresh.password, fresh.last_seen_at, True)
    assert loaded._state.adding is False  # saves update, never insert
    for missing in (alice.pk + 1000, 0, -1, 2**63, "abc", None, "1; DROP TABLE"):
        token = AccessToken.for_user(alice)
        token["user_id"] = missing
        with pytest.raises(AuthenticationFailed):
            auth.get_user(token)


def test_a_deleted_users_access_token_stops_working(as_alice: APIClient, alice: User) -> None:
    assert as_alice.get("/api/auth/me").status_code == 200
    alice.delete()
    assert as_alice.get("/api/auth/me").status_code == 401
