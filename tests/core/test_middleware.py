"""The body limit's one policy: a limit per route, read by the server and by Django's middleware."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from core import middleware
from tests.support.api import assert_failure

TOKEN = "/api/auth/token"


def test_every_route_has_the_default_limit_unless_it_names_its_own(settings: Any, monkeypatch: Any) -> None:
    settings.MAX_BODY_BYTES = 1000
    settings.BIG_ROUTE_MAX_BYTES = 5000
    monkeypatch.setattr(middleware, "ROUTE_BODY_LIMITS", (("/api/big/", "BIG_ROUTE_MAX_BYTES"),))
    assert middleware.body_limit("/api/auth/token") == 1000
    assert middleware.body_limit("/api/big/upload") == 5000
    assert middleware.body_limit("/api/bigger") == 1000


@pytest.mark.django_db
def test_the_middleware_applies_the_routes_own_limit(anon: APIClient, settings: Any, monkeypatch: Any) -> None:
    settings.MAX_BODY_BYTES = 100
    settings.TOKEN_MAX_BYTES = 10_000
    body = '{"username": "nobody", "password": "' + "x" * 100 + '"}'
    assert_failure(anon.post(TOKEN, body, content_type="application/json"), 413)
    monkeypatch.setattr(middleware, "ROUTE_BODY_LIMITS", ((TOKEN, "TOKEN_MAX_BYTES"),))
    assert_failure(anon.post(TOKEN, body, content_type="application/json"), 401)


@pytest.mark.django_db
@pytest.mark.parametrize("length", ["12a", "²", "-1"])
def test_a_content_length_that_is_not_ascii_digits_is_a_400(anon: APIClient, length: str) -> None:
    response = anon.post(TOKEN, "{}", content_type="application/json", CONTENT_LENGTH=length)
    assert_failure(response, 400)
    assert response.json()["message"] == "Content-Length must be a whole number."
