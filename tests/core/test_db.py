"""core.db.by_pk loads exactly what the ORM loads, with its own statement on every backend."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.forms.models import model_to_dict

from accounts.models import User
from chat.models import Conversation
from chat.selectors.people import socket_owners
from chatproject.env import EnvError
from core import db as rows
from tests.support import settings_with
from tests.support.api import send


def _fields(instance: Any) -> dict[str, Any]:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_a_user_and_a_conversation_load_as_the_orm_loads_them(alice: User, bob: User) -> None:
    message = send(alice, bob, "hello")
    for model, pk in ((User, alice.pk), (Conversation, message.conversation_id)):
        loaded = rows.by_pk(model, pk)
        assert loaded is not None
        fresh = model.objects.get(pk=pk)
        assert _fields(loaded) == _fields(fresh)
        assert {k: type(v) for k, v in _fields(loaded).items()} == {k: type(v) for k, v in _fields(fresh).items()}
        assert loaded._state.adding is False and loaded._state.db == connection.alias
    assert model_to_dict(rows.by_pk(User, str(alice.pk))) == model_to_dict(alice)  # type: ignore[arg-type]


@pytest.mark.parametrize("pk", [0, -1, 2**63, 10**30, "abc", "", None, True, 1.5, "1; DROP TABLE x", [1]])
def test_ids_that_cannot_be_a_row_give_none(pk: Any, alice: User) -> None:
    assert rows.by_pk(User, pk) is None


def test_a_missing_row_gives_none(alice: User) -> None:
    assert rows.by_pk(User, alice.pk + 10_000) is None
    assert rows.by_pk(Conversation, 10_000_000) is None


def test_the_plain_statement_is_the_path_on_postgresql(alice: User) -> None:
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        rows.by_pk(User, alice.pk)
    assert len(queries) == 1
    if connection.vendor == "postgresql":
        assert queries[0]["sql"].startswith('SELECT "id", ') and "LIMIT" not in queries[0]["sql"]


def test_the_pool_binds_on_the_server_and_prepares_unless_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    def options(prepared: str | None) -> dict[str, Any]:
        loaded = settings_with(monkeypatch, DATABASE_URL=url, DB_PREPARED_STATEMENTS=prepared)
        return loaded["DATABASES"]["default"]["OPTIONS"]

    url = "postgres://postgres@127.0.0.1:5432/chat"
    on = options(None)
    assert on["server_side_binding"] is True and on["prepare_threshold"] == 5
    off = options("off")
    assert "server_side_binding" not in off and "prepare_threshold" not in off  # Django's default: none prepared
    with pytest.raises(EnvError):
        options("sometimes")


def test_a_statement_run_again_on_a_connection_is_prepared_there(alice: User) -> None:
    # The send batch's statements and a socket's start run the same text every time: on PostgreSQL
    # their plans are then kept on the connection instead of made again.
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    for size in range(1, 7):
        assert alice.pk in socket_owners([alice.pk] * size)  # the same text for any number of users
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("string_agg" in text and "accounts_user" in text for text in prepared), prepared
