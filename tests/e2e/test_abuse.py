"""Accounts and abuse, black-box against real servers: the limits hold across two processes
(with Redis), since they live in the shared store. A cluster of its own, with the limits on."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.cluster import Cluster, User, open_socket, register, run_cluster

PASSWORD = "e2e-Pass-2026!x"


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    overrides = {
        "LOGIN_FAILURES_PER_USERNAME": "4/m",
        "LOGIN_FAILURES_PER_ADDRESS": "off",
        "SIGNUP_RATE_LIMIT": "3/h",
    }
    with run_cluster(tmp_path_factory.mktemp("abuse"), overrides) as running:
        yield running


@pytest.fixture(scope="module")
def signed_up(strict: Cluster) -> list[User]:
    """The three sign-ups this address may make in the hour, on alternating processes (the
    module's users: the first is then held by the login limit, the last changes its password)."""
    return [register(server, "ab") for server in (strict.a, strict.b, strict.a)]


def test_sign_ups_per_address_count_across_processes(strict: Cluster, signed_up: list[User]) -> None:
    for server in (strict.b, strict.a):
        status, body = server.request("POST", "/api/auth/register", {"username": "ab-late", "password": PASSWORD})
        assert status == 429, body
        assert "sign-ups" in body["message"]


def test_failed_logins_count_across_processes(strict: Cluster, signed_up: list[User]) -> None:
    user = signed_up[0]
    for server in [strict.a, strict.b] * 2:  # four wrong guesses, alternating processes
        status, _ = server.request("POST", "/api/auth/token", {"username": user.username, "password": "wrong"})
        assert status == 401
    for server in (strict.a, strict.b):
        status, body = server.request("POST", "/api/auth/token", {"username": user.username, "password": PASSWORD})
        assert status == 429, body
        assert body["message"].startswith("Too many failed logins")
    other = signed_up[1]
    assert strict.b.api("POST", "/api/auth/token", {"username": other.username, "password": PASSWORD})["access"]
    unknown = {"username": f"nobody{uuid.uuid4().hex[:6]}", "password": "x"}
    assert strict.b.request("POST", "/api/auth/token", unknown)[0] == 401


def test_exactly_one_of_ten_parallel_refreshes_succeeds_across_processes(
    strict: Cluster, signed_up: list[User]
) -> None:
    user = signed_up[2]
    refresh = strict.a.api("POST", "/api/auth/token", {"username": user.username, "password": PASSWORD})["refresh"]
    servers = [strict.a, strict.b] * 5
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda s: s.request("POST", "/api/auth/token/refresh", {"refresh": refresh}), servers))
    assert sorted(status for status, _ in answers) == [200] + [401] * 9, answers


async def test_a_password_change_closes_the_users_sockets_on_every_process(
    strict: Cluster, signed_up: list[User]
) -> None:
    if not strict.cross_process:
        # The embedded run's in-memory channel layer lives inside the one server process: a change
        # made by another process (this shell) cannot reach its sockets. CI runs it with Redis.
        pytest.skip("an operator's change reaches the servers' sockets through Redis")
    user, other = signed_up[2], signed_up[1]
    sockets = [await open_socket(server, user) for server in (strict.a, strict.b)]
    bystander = await open_socket(strict.b, other)
    strict.shell(
        "from accounts.models import User; "
        f"u = User.objects.get(pk={user.id}); u.set_password('another-Pass-2026!y'); u.save()"
    )
    try:
        for sock in sockets:
            assert await sock.close_code() == 4401
        assert await bystander.drain(0.5) == []
        status, _ = strict.a.request("POST", "/api/auth/token", {"username": user.username, "password": PASSWORD})
        assert status == 401
    finally:
        for sock in [*sockets, bystander]:
            await sock.close()
