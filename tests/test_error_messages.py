"""The failure envelope's `message`: one clear sentence, never Python's internals."""

from __future__ import annotations

import sys

import pytest
from rest_framework.test import APIClient

from tests.chat_support import assert_failure

pytestmark = pytest.mark.django_db

TOKEN = "/api/auth/token"


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
