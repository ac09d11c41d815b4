"""core.db.by_pk loads exactly what the ORM loads, with its own statement on every backend."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.forms.models import model_to_dict

from accounts.models import User
from chat.models import Conversation
from core import db as rows
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
