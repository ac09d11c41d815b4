"""Fixtures: users, tokens, authenticated API clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _pytest.nodeid import coerce_node_id
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from accounts.auth import tokens_for
from accounts.models import User
from chatproject.env import RateLimit
from core import store
from tests.support.factories import UserFactory


@pytest.fixture(autouse=True)
def _fast_hasher(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Any) -> Any:
    """Each test's uploads go to a folder of its own (never the project's data/media)."""
    root = tmp_path / "media"
    settings.MEDIA_ROOT = str(root)
    settings.STORAGES = {
        **django_settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    return root


@pytest.fixture(autouse=True)
def _sync_thread_connection_returned() -> Iterator[None]:
    """Async tests reach the database through asgiref's one thread-sensitive thread
    (database_sync_to_async), whose connection stays checked out of the pool after the test: the
    next test would count it as held by its own code. Nothing in the app uses that thread (the
    consumer's `in_thread` has its own workers, and Channels' per-close hop to it is gone)."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=30)


@pytest.fixture(autouse=True)
def _clean_presence() -> Iterator[None]:
    store.shared().clear()
    yield
    store.shared().clear()


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    def make(username: str | None = None, **fields: Any) -> User:
        if username:
            fields["username"] = username
        return UserFactory.create(**fields)

    return make


@pytest.fixture
def no_rate_limit(settings: Any) -> None:
    """The message and upload limits off, for tests that send or upload more than the limits allow
    and test something else."""
    settings.MESSAGE_RATE_LIMIT = RateLimit(0, 1)
    settings.ATTACHMENT_UPLOAD_RATE_LIMIT = RateLimit(0, 1)


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    return make_user("alice", first_name="Alice", email="alice@example.com")


@pytest.fixture
def bob(make_user: Callable[..., User]) -> User:
    return make_user("bob", first_name="Bob")


@pytest.fixture
def carol(make_user: Callable[..., User]) -> User:
    return make_user("carol", first_name="Carol")


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for() -> Callable[[User], APIClient]:
    def make(user: User) -> APIClient:
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for(user)['access']}")
        return api

    return make


@pytest.fixture
def as_alice(client_for: Callable[[User], APIClient], alice: User) -> APIClient:
    return client_for(alice)


@pytest.fixture
def as_bob(client_for: Callable[[User], APIClient], bob: User) -> APIClient:
    return client_for(bob)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None,  # pytest-xdist's workers: a database each
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """On SQLite, test in a file of this run's own rather than Django's shared-cache in-memory
    database: there a second writing thread fails at once ("database table is locked") instead
    of waiting, so the concurrency tests could not run. PostgreSQL is left as configured."""
    db = django_settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        db.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("db") / "test.sqlite3")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A test's figures travel in its report (to pytest-xdist's controller, too)."""
    from tests.support.figures import PENDING

    report = yield
    if PENDING:
        report.user_properties.append(("figures", tuple(PENDING)))
        PENDING.clear()
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    from tests.support.figures import FIGURES

    for name, value in report.user_properties:
        if name == "figures" and isinstance(value, (tuple, list)):
            FIGURES.extend(str(line) for line in value)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The figures docs/guarantees.md quotes, as this run measured them."""
    from tests.support.figures import FIGURES

    if FIGURES:
        terminalreporter.section("reliability figures (docs/guarantees.md)")
        for line in FIGURES:
            terminalreporter.write_line(line)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """schemathesis names each operation's item (`test_x[GET /path]`) but gives all of them the
    test function's node id; pytest-xdist tells items apart by node id, so each gets its name's."""
    for item in items:
        name = item.nodeid.rsplit("::", 1)[-1]
        if type(item).__name__ == "SchemathesisFunction" and item.name != name:
            item._id = coerce_node_id(f"{item.nodeid[: -len(name)]}{item.name}")  # pytest 9 keeps it as `_id`
