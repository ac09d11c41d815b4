"""Bad input to /api/chat: every field, every bound, malformed bodies and absurd ids (4xx, never 500)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.models import User
from chat.models import Conversation, Message
from tests.support.api import (
    CONVERSATIONS,
    SEND,
    UNREAD,
    UNREAD_COUNT,
    assert_failure,
    data_of,
    message_url,
    messages_url,
    read_url,
    search_url,
    send,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rate_limit")]

HUGE_ID = "99999999999999999999"  # larger than a 64-bit integer
ENORMOUS_ID = "9" * 5000  # larger than Python will parse from text by default


@pytest.fixture
def conversation_id(alice: User, bob: User) -> int:
    return send(alice, bob, "hello there").conversation_id


def valid_body(receiver: User, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"receiverId": receiver.pk, "content": "hello"}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ABSENT}


ABSENT = object()


def url_of_length(length: int) -> str:
    base = "https://example.com/"
    return base + "a" * (length - len(base))


# --- send: one bad field at a time -------------------------------------------------------------

BAD_FIELDS: list[tuple[str, Any]] = [
    ("receiverId", ABSENT),
    ("receiverId", None),
    ("receiverId", "2"),
    ("receiverId", True),
    ("receiverId", 2.0),
    ("receiverId", 0),
    ("receiverId", -3),
    ("receiverId", 2**63),
    ("receiverId", [2]),
    ("receiverId", {"id": 2}),
    ("content", ABSENT),
    ("content", None),
    ("content", 42),
    ("content", True),
    ("content", ["hello"]),
    ("content", {"text": "hello"}),
    ("content", ""),
    ("content", "   \n\t "),
    ("content", "x" * 10_001),
    ("content", "nul\x00byte"),
    ("attachmentUrl", 5),
    ("attachmentUrl", ["https://example.com/a.png"]),
    ("attachmentUrl", ""),
    ("attachmentUrl", "javascript:alert(1)"),
    ("attachmentUrl", "JavaScript://example.com/%0aalert(1)"),
    ("attachmentUrl", "ftp://example.com/file.png"),
    ("attachmentUrl", "data:text/html,<script>alert(1)</script>"),
    ("attachmentUrl", "file:///etc/passwd"),
    ("attachmentUrl", "//example.com/no-scheme.png"),
    ("attachmentUrl", "example.com/no-scheme.png"),
    ("attachmentUrl", "http://"),
    ("attachmentUrl", "https://exa mple.com/a.png"),
    ("attachmentUrl", "http://[::1"),
    ("attachmentUrl", url_of_length(2049)),
    ("clientMessageId", ""),
    ("clientMessageId", 7),
    ("clientMessageId", ["c"]),
    ("clientMessageId", "c" * 65),
    ("clientMessageId", "nul\x00"),
    ("conversationId", "1"),
    ("conversationId", 0),
    ("conversationId", True),
]


def _field_id(field: str, value: Any) -> str:
    """The same id in every process (pytest-xdist compares them): no object address in it."""
    return f"{field}={'absent' if value is ABSENT else repr(str(value)[:30])}"


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS, ids=[_field_id(f, v) for f, v in BAD_FIELDS])
def test_send_refuses_a_bad_field_with_400_naming_it(as_alice: APIClient, bob: User, field: str, value: Any) -> None:
    response = as_alice.post(SEND, valid_body(bob, **{field: value}), format="json")
    body = assert_failure(response, 400)
    assert list(body["errors"]) == [field]
    assert not Message.objects.exists()
    assert not Conversation.objects.exists()


def test_send_names_every_bad_field_at_once(as_alice: APIClient) -> None:
    body = assert_failure(
        as_alice.post(SEND, {"receiverId": "x", "content": 1, "attachmentUrl": 2}, format="json"), 400
    )
    assert set(body["errors"]) == {"receiverId", "content", "attachmentUrl"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("content", "x" * 10_000),
        ("content", "x"),
        ("attachmentUrl", url_of_length(2048)),
        ("attachmentUrl", "HTTP://EXAMPLE.COM/A.PNG"),
        ("attachmentUrl", "http://localhost:8080/a.png"),
        ("attachmentUrl", None),
        ("clientMessageId", "c" * 64),
        ("clientMessageId", None),
    ],
    ids=["content-10000", "content-1", "url-2048", "url-upper", "url-port", "url-null", "cid-64", "cid-null"],
)
def test_send_accepts_values_at_the_bounds(as_alice: APIClient, bob: User, field: str, value: Any) -> None:
    data_of(as_alice.post(SEND, valid_body(bob, **{field: value}), format="json"), 201)


@pytest.mark.parametrize("body", [[1, 2], "text", 42, None, True])
def test_send_refuses_a_body_that_is_not_an_object(as_alice: APIClient, body: Any) -> None:
    assert_failure(as_alice.post(SEND, body, format="json"), 400)


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        '{"receiverId": 2, "content": "x"',
        "",
        "\x00\x01",
        '{"receiverId": 2, "content": "x"} trailing',
        '{"receiverId": NaN, "content": "x"}',
        '{"receiverId": 1e999, "content": "x"}',
        "[" * 30_000 + "]" * 30_000,
        '{"a":' * 10_000 + "1" + "}" * 10_000,
    ],
    ids=["unclosed", "truncated", "empty", "binary", "trailing", "nan", "infinity", "deep-list", "deep-object"],
)
def test_send_refuses_malformed_json_with_400(as_alice: APIClient, raw: str) -> None:
    assert_failure(as_alice.post(SEND, raw, content_type="application/json"), 400)


def test_send_refuses_a_lone_surrogate_in_content_with_400(as_alice: APIClient, bob: User) -> None:
    raw = f'{{"receiverId": {bob.pk}, "content": "half a pair \\ud800"}}'
    assert "content" in assert_failure(as_alice.post(SEND, raw, content_type="application/json"), 400)["errors"]
    assert not Message.objects.exists()


def test_send_refuses_invalid_utf8_with_400(as_alice: APIClient, bob: User) -> None:
    raw = b'{"receiverId": %d, "content": "\xff\xfe"}' % bob.pk
    assert_failure(as_alice.post(SEND, raw, content_type="application/json"), 400)


def test_send_refuses_a_body_over_the_size_limit_with_413(as_alice: APIClient, bob: User) -> None:
    raw = json.dumps({"receiverId": bob.pk, "content": "x" * settings.MAX_BODY_BYTES})
    assert_failure(as_alice.post(SEND, raw, content_type="application/json"), 413)
    assert not Message.objects.exists()


def test_send_refuses_a_form_body_with_415(as_alice: APIClient, bob: User) -> None:
    response = as_alice.post(SEND, f"receiverId={bob.pk}&content=hi", content_type="application/x-www-form-urlencoded")
    assert_failure(response, 415)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", SEND),
        ("post", CONVERSATIONS),
        ("delete", CONVERSATIONS),
        ("post", UNREAD_COUNT),
        ("put", UNREAD),
        ("get", message_url(1)),
        ("get", read_url(1)),
        ("post", messages_url(1)),
    ],
)
def test_wrong_methods_get_405_in_the_envelope(as_alice: APIClient, method: str, path: str) -> None:
    assert_failure(getattr(as_alice, method)(path), 405)


# --- page, limit and cursors -----------------------------------------------------------------

BAD_PAGING: list[dict[str, str]] = [
    {"page": "0"},
    {"page": "-1"},
    {"page": "abc"},
    {"page": "1.5"},
    {"page": "1e3"},
    {"page": " 1"},
    {"page": "\u0661"},  # ARABIC-INDIC DIGIT ONE
    {"page": "9" * 5000},
    {"limit": "0"},
    {"limit": "101"},
    {"limit": "-5"},
    {"limit": "ten"},
    {"limit": "²"},
]


def paging_id(params: dict[str, str]) -> str:
    return ",".join(f"{k}={v[:12]}" for k, v in params.items())


@pytest.mark.parametrize("params", BAD_PAGING, ids=[paging_id(p) for p in BAD_PAGING])
def test_conversations_refuse_bad_paging_with_400(as_alice: APIClient, params: dict[str, str]) -> None:
    body = assert_failure(as_alice.get(CONVERSATIONS, params), 400)
    assert set(body["errors"]) == set(params)


@pytest.mark.parametrize("params", BAD_PAGING, ids=[paging_id(p) for p in BAD_PAGING])
def test_messages_refuse_bad_paging_with_400(as_alice: APIClient, conversation_id: int, params: dict[str, str]) -> None:
    assert set(assert_failure(as_alice.get(messages_url(conversation_id), params), 400)["errors"]) == set(params)


@pytest.mark.parametrize("params", BAD_PAGING, ids=[paging_id(p) for p in BAD_PAGING])
def test_search_refuses_bad_paging_with_400(as_alice: APIClient, conversation_id: int, params: dict[str, str]) -> None:
    response = as_alice.get(search_url(conversation_id), {"q": "hello", **params})
    assert set(assert_failure(response, 400)["errors"]) == set(params)


@pytest.mark.parametrize(("page", "limit"), [("1", "1"), ("1", "100"), ("999999999", "100")])
def test_paging_accepts_values_at_the_bounds(as_alice: APIClient, conversation_id: int, page: str, limit: str) -> None:
    data = data_of(as_alice.get(messages_url(conversation_id), {"page": page, "limit": limit}))
    assert (data["page"], data["limit"]) == (int(page), int(limit))


BAD_CURSORS: list[dict[str, str]] = [
    {"before": "0"},  # nothing is older than the first message: a client bug, not a position
    {"before": "-1"},
    {"after": "-1"},
    {"after": "00"},
    {"before": "abc"},
    {"before": ""},
    {"after": "1.0"},
    {"after": "²"},  # str.isdigit() says yes, int() says no
    {"after": "\u0661\u0662"},  # int() would read these as 12
    {"after": HUGE_ID},
    {"after": ENORMOUS_ID},
    {"before": "1", "after": "2"},
    {"after": "1", "page": "1"},
]


@pytest.mark.parametrize("params", BAD_CURSORS, ids=[paging_id(p) for p in BAD_CURSORS])
def test_messages_refuse_bad_cursors_with_400(
    as_alice: APIClient, conversation_id: int, params: dict[str, str]
) -> None:
    assert_failure(as_alice.get(messages_url(conversation_id), params), 400)


@pytest.mark.parametrize("params", BAD_CURSORS, ids=[paging_id(p) for p in BAD_CURSORS])
def test_search_refuses_bad_cursors_with_400(as_alice: APIClient, conversation_id: int, params: dict[str, str]) -> None:
    assert_failure(as_alice.get(search_url(conversation_id), {"q": "hello", **params}), 400)


def test_before_and_after_together_name_the_problem(as_alice: APIClient, conversation_id: int) -> None:
    body = assert_failure(as_alice.get(messages_url(conversation_id), {"before": "5", "after": "1"}), 400)
    assert "before" in body["errors"]


def test_a_cursor_with_a_limit_is_fine(as_alice: APIClient, conversation_id: int) -> None:
    assert data_of(as_alice.get(messages_url(conversation_id), {"after": "1", "limit": "100"}))["limit"] == 100


# --- ids in paths ----------------------------------------------------------------------------


@pytest.mark.parametrize("bad_id", ["0", HUGE_ID, ENORMOUS_ID, "-1", "abc", "1.5", "%20"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/chat/conversations/{}/messages"),
        ("put", "/api/chat/conversations/{}/read"),
        ("get", "/api/chat/conversations/{}/search?q=hello"),
        ("delete", "/api/chat/messages/{}"),
    ],
    ids=["messages", "read", "search", "delete"],
)
def test_absurd_ids_in_paths_are_404(
    as_alice: APIClient, conversation_id: int, method: str, path: str, bad_id: str
) -> None:
    assert_failure(getattr(as_alice, method)(path.format(bad_id)), 404)
