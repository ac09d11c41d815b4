"""Password hashing (accounts/passwords.py, accounts/backends.py): Argon2 first and PBKDF2 upgraded,
no pooled connection held while a hash runs, the unknown-name hash kept, and the wait bound.

The burst itself (200 sign-ups and 200 logins on a 4-connection pool, a real server) is
tests/test_pool_faults.py::test_a_burst_of_signups_and_logins_on_a_small_pool_has_no_5xx_and_others_stay_fast.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import hashers
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connections
from rest_framework.test import APIClient

from accounts import passwords
from accounts.models import User

REGISTER = "/api/auth/register"
TOKEN = "/api/auth/token"
PASSWORD = "a-strong-pass-123"  # what conftest's make_user gives


@pytest.fixture
def production_hashers(settings: Any) -> list[str]:
    """The real PASSWORD_HASHERS (conftest swaps in MD5 for speed)."""
    from chatproject import settings as production

    settings.PASSWORD_HASHERS = production.PASSWORD_HASHERS
    return list(production.PASSWORD_HASHERS)


def test_argon2_hashes_new_passwords_and_pbkdf2_stays_verifiable() -> None:
    from chatproject import settings as production

    assert production.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    assert "django.contrib.auth.hashers.PBKDF2PasswordHasher" in production.PASSWORD_HASHERS
    assert django_settings.AUTHENTICATION_BACKENDS == ["accounts.backends.ModelBackend"]
    assert django_settings.PASSWORD_HASH_CONCURRENCY >= 1


@pytest.mark.django_db
def test_registration_stores_an_argon2_hash(production_hashers: list[str], anon: APIClient) -> None:
    response = anon.post(REGISTER, {"username": "dora", "password": "correct-horse-9"}, format="json")
    assert response.status_code == 201, response.content
    user = User.objects.get(username="dora")
    assert user.password.startswith("argon2$") and user.check_password("correct-horse-9")


@pytest.mark.django_db
def test_a_pbkdf2_hash_verifies_at_login_and_is_upgraded_to_argon2(
    production_hashers: list[str], anon: APIClient, make_user: Callable[..., User]
) -> None:
    user = make_user("olduser")
    pbkdf2 = PBKDF2PasswordHasher()
    user.password = pbkdf2.encode(PASSWORD, pbkdf2.salt(), iterations=1000)  # few iterations: speed
    user.save(update_fields=["password"])

    wrong = anon.post(TOKEN, {"username": "olduser", "password": "not-it-123"}, format="json")
    assert wrong.status_code == 401
    user.refresh_from_db()
    assert user.password.startswith("pbkdf2_sha256$"), "a wrong password upgrades nothing"

    right = anon.post(TOKEN, {"username": "olduser", "password": PASSWORD}, format="json")
    assert right.status_code == 200, right.content
    user.refresh_from_db()
    assert user.password.startswith("argon2$")
    assert anon.post(TOKEN, {"username": "olduser", "password": PASSWORD}, format="json").status_code == 200


class HashSpy:
    """Wraps Django's make_password / check_password (which accounts.passwords calls on its
    workers) and notes, at each call, how many of the pool's connections are checked out."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, int]] = []
        self.pool = connections["default"].pool  # type: ignore[attr-defined]
        for name in ("make_password", "check_password"):
            real = getattr(hashers, name)
            monkeypatch.setattr(hashers, name, self._wrap(name, real))

    def _wrap(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def spy(*args: Any, **kwargs: Any) -> Any:
            stats = self.pool.get_stats()
            self.calls.append((name, stats["pool_size"] - stats["pool_available"]))
            return real(*args, **kwargs)

        return spy

    def take(self) -> list[tuple[str, int]]:
        calls, self.calls = self.calls, []
        return calls


@pytest.fixture
def hash_spy(monkeypatch: pytest.MonkeyPatch) -> HashSpy:
    if getattr(connections["default"], "pool", None) is None:
        pytest.skip("needs DATABASE_URL on PostgreSQL (Django's connection pool)")
    return HashSpy(monkeypatch)


@pytest.mark.django_db(transaction=True)  # outside a test transaction, as a request runs
def test_no_pooled_connection_is_held_while_a_password_is_hashed(
    hash_spy: HashSpy, anon: APIClient, make_user: Callable[..., User]
) -> None:
    """Each request has run a query before its hash (the name's lookup); the hash must find
    every pooled connection back in the pool, or a burst of them drains it."""
    make_user("erin")
    hash_spy.take()
    assert anon.post(REGISTER, {"username": "frank", "password": "correct-horse-9"}, format="json").status_code == 201
    assert hash_spy.take() == [("make_password", 0)]
    assert anon.post(TOKEN, {"username": "erin", "password": PASSWORD}, format="json").status_code == 200
    assert hash_spy.take() == [("check_password", 0)]
    assert anon.post(TOKEN, {"username": "erin", "password": "wrong-pass-123"}, format="json").status_code == 401
    assert hash_spy.take() == [("check_password", 0)]
    # An unknown name still costs one hash, as in Django's ModelBackend, so its answer is no faster.
    assert anon.post(TOKEN, {"username": "nobody", "password": PASSWORD}, format="json").status_code == 401
    assert hash_spy.take() == [("make_password", 0)]


@contextmanager
def hash_queue_full() -> Iterator[threading.Event]:
    """A single hashing worker, held busy until the event is set (or the block ends)."""
    workers = ThreadPoolExecutor(max_workers=1)
    release = threading.Event()
    workers.submit(release.wait, 30)
    real, passwords._workers = passwords._workers, workers
    try:
        yield release
    finally:
        passwords._workers = real
        release.set()
        workers.shutdown(wait=True)


@pytest.fixture
def one_busy_worker() -> Iterator[threading.Event]:
    with hash_queue_full() as release:
        yield release


@pytest.mark.django_db
def test_a_hash_still_queued_after_the_wait_is_answered_429_and_never_runs(
    settings: Any, one_busy_worker: threading.Event, anon: APIClient, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.PASSWORD_HASH_WAIT_SECONDS = 1
    ran: list[str] = []
    real = hashers.check_password

    def counted(*args: Any) -> Any:
        ran.append("hash")
        return real(*args)

    monkeypatch.setattr(hashers, "check_password", counted)
    response = anon.post(TOKEN, {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code == 429, response.content
    assert response["Retry-After"] == str(passwords.RETRY_AFTER_SECONDS)
    assert response.json()["success"] is False
    one_busy_worker.set()
    passwords._workers.shutdown(wait=True)  # every task it still had has run (or was cancelled)
    assert ran == [], "the dropped hash never ran"
