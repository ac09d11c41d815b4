"""Brute-force limits: failed logins per username and per client address (REST and /admin/login/),
sign-ups per address, in the shared store; the client address from the socket peer or trusted proxies."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from chatproject.env import RateLimit, parse_networks
from core.clientip import client_address
from tests.support.figures import figure

REGISTER = "/api/auth/register"
TOKEN = "/api/auth/token"
PASSWORD = "a-strong-pass-123"


@pytest.fixture
def limits(settings: Any) -> Any:
    settings.LOGIN_FAILURES_PER_USERNAME = RateLimit(3, 60)
    settings.LOGIN_FAILURES_PER_ADDRESS = RateLimit(5, 60)
    settings.SIGNUP_RATE_LIMIT = RateLimit(2, 3600)
    return settings


def _login(client: APIClient, username: str, password: str, address: str = "127.0.0.1") -> Any:
    return client.post(TOKEN, {"username": username, "password": password}, format="json", REMOTE_ADDR=address)


@pytest.mark.django_db
def test_failed_logins_per_username_end_in_429_with_retry_after(limits: Any, anon: APIClient, alice: User) -> None:
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):  # other addresses: the name's count alone
        assert _login(anon, "alice", "wrong-password", address).status_code == 401
    refused = _login(anon, "ALICE", PASSWORD, "10.0.0.4")  # names count in any case; even the right password waits
    assert refused.status_code == 429
    assert refused["Retry-After"] == "60"
    assert refused.json() == {"success": False, "message": "Too many failed logins; retry in 60 s."}
    assert _login(anon, "bob", "wrong-password", "10.0.0.4").status_code == 401  # another name is not held


@pytest.mark.django_db
def test_successful_logins_do_not_count(limits: Any, anon: APIClient, alice: User) -> None:
    for _ in range(6):
        assert _login(anon, "alice", PASSWORD).status_code == 200
    assert _login(anon, "alice", "wrong-password").status_code == 401


@pytest.mark.django_db
def test_existing_and_unknown_names_get_the_same_refusal(limits: Any, anon: APIClient, alice: User) -> None:
    limits.LOGIN_FAILURES_PER_ADDRESS = RateLimit(0, 1)
    for name in ("alice", "nobody"):
        for _ in range(3):
            assert _login(anon, name, "wrong-password").status_code == 401
    known, unknown = _login(anon, "alice", "wrong-password"), _login(anon, "nobody", "wrong-password")
    assert (known.status_code, known.content, known["Retry-After"]) == (
        unknown.status_code,
        unknown.content,
        unknown["Retry-After"],
    )


@pytest.mark.django_db
def test_refused_logins_take_the_same_short_time_for_existing_and_unknown_names(
    limits: Any, anon: APIClient, alice: User
) -> None:
    """With the real Argon2 hasher: a refused attempt hashes nothing, whichever the name, so both
    answer in a small fraction of a checked wrong password's time."""
    limits.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    limits.LOGIN_FAILURES_PER_USERNAME = RateLimit(1, 60)
    limits.LOGIN_FAILURES_PER_ADDRESS = RateLimit(0, 1)
    User.objects.filter(pk=alice.pk).update(password=make_password(PASSWORD))

    def timed(name: str) -> tuple[int, float]:
        start = time.perf_counter()
        status = _login(anon, name, "wrong-password").status_code
        return status, time.perf_counter() - start

    checked = [timed(name)[1] for name in ("alice", "nobody")]  # one checked failure each, then both are held
    refused = {name: [timed(name) for _ in range(5)] for name in ("alice", "nobody")}
    for name, answers in refused.items():
        assert {status for status, _ in answers} == {429}, name
    slowest_refusal = max(statistics.median(t for _, t in answers) for answers in refused.values())
    assert slowest_refusal < min(checked) / 3, (refused, checked)
    figure(
        f"login refused by the limit: {slowest_refusal * 1000:.1f} ms (median, known and unknown name); "
        f"a checked wrong password: {min(checked) * 1000:.0f} ms (Argon2)"
    )


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_passwords_are_counted_before_they_are_checked(limits: Any, alice: User) -> None:
    """20 guesses at once: exactly the limit's 3 are checked (401), the rest are refused (429)."""
    limits.LOGIN_FAILURES_PER_ADDRESS = RateLimit(0, 1)
    statuses: list[int] = []
    barrier = threading.Barrier(20)

    def guess() -> None:
        client = APIClient()
        barrier.wait()
        statuses.append(_login(client, "alice", "wrong-password").status_code)

    threads = [threading.Thread(target=guess) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [401] * 3 + [429] * 17


@pytest.mark.django_db
def test_failed_logins_per_address_end_in_429(limits: Any, anon: APIClient, alice: User) -> None:
    for index in range(5):  # five names, one guess each: under the per-name limit
        assert _login(anon, f"name{index}", "wrong-password", "10.1.1.1").status_code == 401
    assert _login(anon, "alice", PASSWORD, "10.1.1.1").status_code == 429
    assert _login(anon, "alice", PASSWORD, "10.1.1.2").status_code == 200  # another client is not held


@pytest.mark.django_db
def test_sign_ups_per_address_end_in_429(limits: Any, anon: APIClient) -> None:
    def sign_up(name: str, address: str) -> Any:
        return anon.post(REGISTER, {"username": name, "password": PASSWORD}, format="json", REMOTE_ADDR=address)

    assert sign_up("first", "10.2.0.1").status_code == 201
    assert sign_up("second", "10.2.0.1").status_code == 201
    refused = sign_up("third", "10.2.0.1")
    assert refused.status_code == 429
    assert refused["Retry-After"] == "3600"
    assert "sign-ups" in refused.json()["message"]
    assert not User.objects.filter(username="third").exists()
    assert sign_up("third", "10.2.0.2").status_code == 201


@pytest.mark.django_db
def test_spoofed_forwarded_for_is_ignored_without_trusted_proxies(limits: Any, anon: APIClient, alice: User) -> None:
    for index in range(5):
        response = anon.post(
            TOKEN,
            {"username": f"name{index}", "password": "x"},
            format="json",
            REMOTE_ADDR="10.3.0.1",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{index}",
        )
        assert response.status_code == 401
    assert _login(anon, "alice", PASSWORD, "10.3.0.1").status_code == 429


# --- /admin/login/ ---------------------------------------------------------------------------


def _admin_login(client: Client, username: str, password: str) -> Any:
    return client.post("/admin/login/", {"username": username, "password": password, "next": "/admin/"})


@pytest.mark.django_db
def test_admin_logins_share_the_limits(limits: Any, make_user: Callable[..., User]) -> None:
    make_user("boss", is_staff=True, is_superuser=True)
    client = Client()
    assert _admin_login(client, "boss", "wrong-password").status_code == 200  # the form again, with its error
    assert _login(APIClient(), "boss", "wrong-password").status_code == 401
    assert _admin_login(client, "boss", "wrong-password").status_code == 200
    refused = _admin_login(client, "boss", PASSWORD)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "60"
    assert _login(APIClient(), "boss", PASSWORD).status_code == 429


@pytest.mark.django_db
def test_admin_login_still_logs_staff_in(limits: Any, make_user: Callable[..., User]) -> None:
    make_user("boss", is_staff=True, is_superuser=True)
    client = Client()
    response = _admin_login(client, "boss", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_admin_login_refuses_non_staff_with_the_form_error(limits: Any, alice: User) -> None:
    response = _admin_login(Client(), "alice", PASSWORD)
    assert response.status_code == 200
    assert "staff account" in response.content.decode()


# --- the client address ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trusted", "meta", "expected"),
    [
        ("", {"REMOTE_ADDR": "10.0.0.9", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}, "10.0.0.9"),
        ("10.0.0.0/8", {"REMOTE_ADDR": "10.0.0.9", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}, "1.2.3.4"),
        # The client wrote the left-most hop itself: the right-most untrusted one counts.
        ("10.0.0.0/8", {"REMOTE_ADDR": "10.0.0.9", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 1.2.3.4, 10.0.0.3"}, "1.2.3.4"),
        # A peer that is not a trusted proxy cannot forward for anyone.
        ("10.0.0.0/8", {"REMOTE_ADDR": "192.0.2.7", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}, "192.0.2.7"),
        ("10.0.0.0/8", {"REMOTE_ADDR": "10.0.0.9", "HTTP_X_FORWARDED_FOR": "not-an-ip, 1.2.3.4"}, "1.2.3.4"),
        ("10.0.0.0/8", {"REMOTE_ADDR": "10.0.0.9", "HTTP_X_FORWARDED_FOR": "1.2.3.4, garbage"}, "unknown"),
        ("10.0.0.0/8", {"REMOTE_ADDR": "10.0.0.9"}, "10.0.0.9"),
        ("::1", {"REMOTE_ADDR": "::1", "HTTP_X_FORWARDED_FOR": "2001:db8::5"}, "2001:db8::5"),
        ("", {}, "unknown"),
    ],
)
def test_client_address(settings: Any, trusted: str, meta: dict[str, str], expected: str) -> None:
    settings.TRUSTED_PROXIES = parse_networks("TRUSTED_PROXIES", [t for t in trusted.split(",") if t])
    assert client_address(meta) == expected


def test_the_defaults_limit_logins_and_sign_ups() -> None:
    assert RateLimit(10, 900) == settings.LOGIN_FAILURES_PER_USERNAME
    assert RateLimit(50, 900) == settings.LOGIN_FAILURES_PER_ADDRESS
    assert RateLimit(10, 3600) == settings.SIGNUP_RATE_LIMIT
    assert settings.TRUSTED_PROXIES == ()
