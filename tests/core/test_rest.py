"""The failure envelope's `message`: one clear sentence, said once, never Python's internals.

A 400 names its first problem as `<field>: <problem>`, the same for DRF's serializers (accounts)
and the domain's validation (chat), and `errors` keeps every problem per field.
"""

from __future__ import annotations

import sys

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from tests.support.api import SEND, assert_failure

pytestmark = pytest.mark.django_db

REGISTER = "/api/auth/register"
TOKEN = "/api/auth/token"


def test_a_refused_password_is_said_once_with_its_field(anon: APIClient) -> None:
    body = assert_failure(anon.post(REGISTER, {"username": "zed", "password": "password"}, format="json"), 400)
    assert body["message"] == "password: This password is too common."
    assert body["errors"] == {"password": ["This password is too common."]}


def test_missing_fields_name_the_first_and_list_them_all(anon: APIClient) -> None:
    body = assert_failure(anon.post(TOKEN, {}, format="json"), 400)
    assert body["message"] == "username: This field is required."
    assert body["errors"] == {"username": ["This field is required."], "password": ["This field is required."]}


def test_accounts_and_chat_name_a_bad_field_the_same_way(as_alice: APIClient, bob: User) -> None:
    body = assert_failure(as_alice.post(SEND, {"content": "hi"}, format="json"), 400)
    assert body["message"] == "receiverId: This field is required."


MALFORMED: list[tuple[bytes, str, str]] = [
    (b'{"username": "\xff"}', "application/json", "it is not valid UTF-8 JSON."),
    (b'{"username": "a"', "application/json; charset=utf-16", "it is not valid UTF-16 JSON."),
    (b'{"username": ', "application/json", "it is not valid JSON (line 1, column 14)."),
    (b'{"username": "a"}\n x', "application/json", "it is not valid JSON (line 2, column 2)."),
    (b"   ", "application/json", "it is not valid JSON (line 1, column 4)."),
    (b'{"username": NaN}', "application/json", "it is not valid JSON (NaN is not a JSON number)."),
    (b'{"username": -Infinity}', "application/json", "it is not valid JSON (-Infinity is not a JSON number)."),
    (b"1" * 5000, "application/json", f"a number in it has more than {sys.get_int_max_str_digits()} digits."),
    (b"[" * 50_000, "application/json", "its JSON is nested too deeply."),
]


@pytest.mark.parametrize(("raw", "content_type", "problem"), MALFORMED, ids=[m[2] for m in MALFORMED])
def test_a_malformed_body_is_named_in_a_sentence(anon: APIClient, raw: bytes, content_type: str, problem: str) -> None:
    body = assert_failure(anon.post(TOKEN, raw, content_type=content_type), 400)
    assert body["message"] == f"Malformed request body: {problem}"
    assert "errors" not in body
