"""The OpenAPI schema at /api/schema/: valid, complete, and true to what the endpoints return.

Every response below comes from the real view through the test client and is validated
against the schema documented for its path, method and status, with every object closed
(`additionalProperties: false`), so an undocumented field or status fails here.
"""

from __future__ import annotations

import copy
import io
import json
import re
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import OperationalError
from django.db.backends.utils import CursorWrapper
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from openapi_spec_validator import validate as validate_spec
from rest_framework.test import APIClient

from accounts.auth import tokens_for
from accounts.models import User
from chatproject.env import RateLimit
from tests.accounts.test_passwords import hash_queue_full
from tests.support.api import ATTACHMENTS, SEND, messages_url, read_url, search_url, send
from tests.support.files import png

FILES = "/api/chat/files/{token}"

pytestmark = pytest.mark.django_db

# Routes under /api/ that serve documentation, not the REST API itself.
DOC_ROUTES = re.compile(r"^/api/(schema/|docs/|asyncapi\.yaml$)")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200, response.content[:300]
    return dict(json.loads(response.content))


def _closed(schema: Any) -> Any:
    """A copy where every object schema with properties refuses keys it does not list."""
    if isinstance(schema, dict):
        out = {key: _closed(value) for key, value in schema.items()}
        if "properties" in out and out.get("type") == "object":
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    return schema


def response_validator(spec: dict[str, Any]) -> Callable[[Any, str, str], None]:
    components = _closed(spec["components"])

    def check(response: Any, path: str, method: str) -> None:
        operation = spec["paths"][path][method.lower()]
        status = str(response.status_code)
        assert status in operation["responses"], f"{method} {path} answered {status}, which is not documented"
        content = operation["responses"][status]["content"]
        if "application/json" not in content:  # a file's bytes (GET /api/chat/files/{token})
            assert not response["Content-Type"].startswith("application/json"), (method, path, status)
            checked.add((path, method.lower(), status))
            return
        schema = content["application/json"]["schema"]
        document = {**_closed(copy.deepcopy(schema)), "components": components}
        OAS30Validator(document, format_checker=oas30_format_checker).validate(json.loads(response.content))
        checked.add((path, method.lower(), status))

    checked: set[tuple[str, str, str]] = set()
    check.checked = checked  # type: ignore[attr-defined]
    return check


def _routes(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield "/" + route, entry.callback


def _openapi_path(route: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


# --- the document ----------------------------------------------------------------------------


def test_schema_is_a_valid_openapi_3_document(spec: dict[str, Any]) -> None:
    validate_spec(spec)
    assert spec["openapi"].startswith("3.")


def test_schema_needs_no_auth_even_with_a_bad_token() -> None:
    response = Client().get("/api/schema/", HTTP_AUTHORIZATION="Bearer not-a-token")
    assert response.status_code == 200
    assert b"openapi: 3" in response.content  # YAML by default


def test_every_api_route_and_method_is_documented(spec: dict[str, Any]) -> None:
    api_routes = {
        _openapi_path(route): callback
        for route, callback in _routes(get_resolver().url_patterns)
        if route.startswith("/api/") and not DOC_ROUTES.match(route)
    }
    assert len(api_routes) == 25
    assert set(api_routes) == set(spec["paths"])
    for path, callback in api_routes.items():
        view = callback.view_class
        methods = {m for m in view.http_method_names if hasattr(view, m) and m not in {"options", "head"}}
        assert methods == set(spec["paths"][path]), path


def test_bearer_scheme_and_public_auth_endpoints(spec: dict[str, Any]) -> None:
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            public = path in {"/api/auth/register", "/api/auth/token", "/api/auth/token/refresh", FILES}
            assert operation["security"] == ([{}] if public else [{"bearerAuth": []}]), (method, path)
            if not public:
                assert "401" in operation["responses"], (method, path)


def test_query_parameters_carry_their_bounds(spec: dict[str, Any]) -> None:
    params = {
        p["name"]: p for p in spec["paths"]["/api/chat/conversations/{conversation_id}/search"]["get"]["parameters"]
    }
    assert params["page"]["schema"]["minimum"] == 1
    assert (params["limit"]["schema"]["minimum"], params["limit"]["schema"]["maximum"]) == (1, 100)
    assert params["before"]["schema"]["minimum"] == 1
    assert params["after"]["schema"]["minimum"] == 0  # after=0: from the very first message
    assert params["q"]["required"] is True
    # `?page=` and `?limit=` mean the defaults (docs/rest.md), so the schema allows empty values.
    assert params["page"]["allowEmptyValue"] is True and params["limit"]["allowEmptyValue"] is True
    assert "allowEmptyValue" not in params["q"]
    assert params["q"]["schema"]["maxLength"] == 200
    send_body = spec["components"]["schemas"]["SendRequest"]
    # content may be left out when attachmentIds names an upload: a rule the server checks.
    assert send_body["required"] == ["receiverId"]
    assert send_body["properties"]["content"]["maxLength"] == 10_000
    assert send_body["properties"]["attachmentIds"]["maxItems"] == 10
    headers = spec["paths"]["/api/chat/send"]["post"]["responses"]["429"]["headers"]
    assert "Retry-After" in headers
    for item in spec["paths"].values():
        for operation in item.values():
            assert "Retry-After" in operation["responses"]["503"]["headers"]


def test_spectacular_command_validates_without_warnings(tmp_path: Any) -> None:
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out), stderr=io.StringIO())
    assert out.read_text().startswith("openapi: 3")


def test_swagger_ui_is_served_from_our_own_static_files() -> None:
    client = Client()
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    # The split view: the init script, naming the schema, is a file of its own (no inline script).
    assert '<script src="/api/docs/?script="></script>' in html
    assert "/api/schema/" in client.get("/api/docs/?script=").content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+swagger-ui[^"]+)"', html)
    assert assets, html[:500]
    assert not [a for a in assets if a.startswith(("http:", "https:", "//"))], assets
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


# --- real responses against the documented schemas -----------------------------------------


def _client(user: User) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for(user)['access']}")
    return api


def test_every_endpoint_answers_what_the_schema_documents(
    spec: dict[str, Any], settings: Any, make_user: Callable[..., User]
) -> None:
    settings.MESSAGE_RATE_LIMIT = RateLimit(100, 60)
    check = response_validator(spec)
    anon = APIClient()
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    as_alice, as_bob, as_carol = _client(alice), _client(bob), _client(carol)
    conv = "/api/chat/conversations/{conversation_id}"

    # auth
    r = anon.post("/api/auth/register", {"username": "dave", "password": "a-strong-pass-123"}, format="json")
    check(r, "/api/auth/register", "POST")
    assert r.status_code == 201
    check(anon.post("/api/auth/register", {"username": "", "password": 1}, format="json"), "/api/auth/register", "POST")
    big = json.dumps({"username": "x" * 70_000})
    for path in ("/api/auth/register", "/api/auth/token", "/api/auth/token/refresh", SEND):
        check(as_alice.post(path, "x", content_type="text/plain"), path, "POST")  # 415
        check(as_alice.post(path, big, content_type="application/json"), path, "POST")  # 413
    pair = anon.post("/api/auth/token", {"username": "dave", "password": "a-strong-pass-123"}, format="json")
    check(pair, "/api/auth/token", "POST")
    check(
        anon.post("/api/auth/token", {"username": "dave", "password": "wrong"}, format="json"),
        "/api/auth/token",
        "POST",
    )
    check(anon.post("/api/auth/token", {}, format="json"), "/api/auth/token", "POST")
    refresh = pair.json()["data"]["refresh"]
    check(anon.post("/api/auth/token/refresh", {"refresh": refresh}, format="json"), "/api/auth/token/refresh", "POST")
    check(anon.post("/api/auth/token/refresh", {"refresh": refresh}, format="json"), "/api/auth/token/refresh", "POST")
    check(anon.post("/api/auth/token/refresh", {"refresh": 5}, format="json"), "/api/auth/token/refresh", "POST")
    check(as_alice.get("/api/auth/me"), "/api/auth/me", "GET")
    check(anon.get("/api/auth/me"), "/api/auth/me", "GET")
    check(as_alice.get("/api/auth/users", {"search": "bo", "limit": "5"}), "/api/auth/users", "GET")
    check(as_alice.get("/api/auth/users", {"search": "b"}), "/api/auth/users", "GET")
    check(as_alice.get("/api/auth/users", {"limit": 101}), "/api/auth/users", "GET")
    check(anon.get("/api/auth/users"), "/api/auth/users", "GET")
    settings.PASSWORD_HASH_WAIT_SECONDS = 1
    with hash_queue_full():  # 429: a sign-up or login whose hash waited too long
        erin = {"username": "erin", "password": "a-strong-pass-123"}
        check(anon.post("/api/auth/register", erin, format="json"), "/api/auth/register", "POST")
        dave = {"username": "dave", "password": "a-strong-pass-123"}
        check(anon.post("/api/auth/token", dave, format="json"), "/api/auth/token", "POST")

    # send
    first = as_alice.post(SEND, {"receiverId": bob.pk, "content": "hi <b>", "clientMessageId": "c1"}, format="json")
    check(first, SEND, "POST")
    assert first.status_code == 201
    again = as_alice.post(SEND, {"receiverId": bob.pk, "content": "hi <b>", "clientMessageId": "c1"}, format="json")
    check(again, SEND, "POST")
    assert again.status_code == 200
    check(as_alice.post(SEND, {"receiverId": bob.pk, "content": " "}, format="json"), SEND, "POST")
    check(as_alice.post(SEND, {"receiverId": 999_999, "content": "x"}, format="json"), SEND, "POST")
    check(anon.post(SEND, {"receiverId": bob.pk, "content": "x"}, format="json"), SEND, "POST")
    message = send(bob, alice, "reply", attachment_url="https://example.com/a.png")
    settings.MESSAGE_RATE_LIMIT = RateLimit(1, 60)
    as_carol.post(SEND, {"receiverId": bob.pk, "content": "one"}, format="json")
    limited = as_carol.post(SEND, {"receiverId": bob.pk, "content": "two"}, format="json")
    check(limited, SEND, "POST")
    assert limited.status_code == 429 and limited["Retry-After"]

    # uploads and their links
    uploaded = as_alice.post(ATTACHMENTS, {"file": SimpleUploadedFile("a.png", png())}, format="multipart")
    check(uploaded, ATTACHMENTS, "POST")
    assert uploaded.status_code == 201
    check(
        as_alice.post(ATTACHMENTS, {"file": SimpleUploadedFile("a.txt", b"")}, format="multipart"), ATTACHMENTS, "POST"
    )
    check(as_alice.post(ATTACHMENTS, {"file": "x"}, format="json"), ATTACHMENTS, "POST")  # 415
    check(anon.post(ATTACHMENTS, {"file": SimpleUploadedFile("a.txt", b"x")}, format="multipart"), ATTACHMENTS, "POST")
    settings.ATTACHMENT_MAX_BYTES = 10
    check(
        as_alice.post(ATTACHMENTS, {"file": SimpleUploadedFile("a.txt", b"x" * 11)}, format="multipart"),
        ATTACHMENTS,
        "POST",
    )
    settings.ATTACHMENT_UPLOAD_RATE_LIMIT = RateLimit(1, 60)
    check(
        as_bob.post(ATTACHMENTS, {"file": SimpleUploadedFile("a.txt", b"x")}, format="multipart"), ATTACHMENTS, "POST"
    )
    limited_upload = as_bob.post(ATTACHMENTS, {"file": SimpleUploadedFile("a.txt", b"x")}, format="multipart")
    check(limited_upload, ATTACHMENTS, "POST")
    assert limited_upload.status_code == 429
    url = uploaded.json()["data"]["url"]
    check(anon.get(url), FILES, "GET")
    check(anon.get(url + "x"), FILES, "GET")
    with_file = as_alice.post(
        SEND, {"receiverId": bob.pk, "attachmentIds": [uploaded.json()["data"]["id"]]}, format="json"
    )
    check(with_file, SEND, "POST")

    # lists
    cid = message.conversation_id
    check(as_alice.get("/api/chat/conversations"), "/api/chat/conversations", "GET")
    check(as_alice.get("/api/chat/conversations", {"page": 0}), "/api/chat/conversations", "GET")
    empty = as_alice.get("/api/chat/conversations", {"page": "", "limit": ""})
    check(empty, "/api/chat/conversations", "GET")
    assert empty.status_code == 200
    check(as_alice.get(messages_url(cid)), f"{conv}/messages", "GET")
    check(as_alice.get(messages_url(cid), {"after": 1, "limit": 1}), f"{conv}/messages", "GET")
    check(as_alice.get(messages_url(cid), {"after": 1, "before": 5}), f"{conv}/messages", "GET")
    check(as_carol.get(messages_url(cid)), f"{conv}/messages", "GET")
    check(as_alice.get(search_url(cid), {"q": "HI"}), f"{conv}/search", "GET")
    check(as_alice.get(search_url(cid), {"q": "re", "before": str(message.pk + 1)}), f"{conv}/search", "GET")
    check(as_alice.get(search_url(cid), {"q": " "}), f"{conv}/search", "GET")
    check(as_carol.get(search_url(cid), {"q": "hi"}), f"{conv}/search", "GET")
    check(as_alice.get("/api/chat/unread-count"), "/api/chat/unread-count", "GET")
    check(as_alice.get("/api/chat/unread"), "/api/chat/unread", "GET")
    check(anon.get("/api/chat/unread"), "/api/chat/unread", "GET")
    check(anon.get("/api/chat/unread-count"), "/api/chat/unread-count", "GET")
    check(anon.get("/api/chat/conversations"), "/api/chat/conversations", "GET")
    check(anon.get(messages_url(cid)), f"{conv}/messages", "GET")
    check(anon.get(search_url(cid), {"q": "x"}), f"{conv}/search", "GET")

    # message actions (bob sent `message` to alice)
    one = "/api/chat/messages/{message_id}"
    edit_url, history = f"/api/chat/messages/{message.pk}", f"/api/chat/messages/{message.pk}/history"
    check(as_bob.patch(edit_url, {"content": "reply, edited"}, format="json"), one, "PATCH")
    check(as_bob.patch(edit_url, {"content": " "}, format="json"), one, "PATCH")  # 400
    check(as_alice.patch(edit_url, {"content": "not mine"}, format="json"), one, "PATCH")  # 403
    check(as_carol.patch(edit_url, {"content": "outsider"}, format="json"), one, "PATCH")  # 404
    check(anon.patch(edit_url, {"content": "x"}, format="json"), one, "PATCH")
    check(as_bob.patch(edit_url, "x", content_type="text/plain"), one, "PATCH")  # 415
    check(as_bob.patch(edit_url, big, content_type="application/json"), one, "PATCH")  # 413
    check(as_alice.get(history), f"{one}/history", "GET")
    check(as_carol.get(history), f"{one}/history", "GET")
    check(anon.get(history), f"{one}/history", "GET")
    check(as_alice.get("/api/chat/search", {"q": "reply"}), "/api/chat/search", "GET")
    check(
        as_alice.get("/api/chat/search", {"q": "re", "before": str(message.pk + 1), "limit": "1"}),
        "/api/chat/search",
        "GET",
    )
    check(as_alice.get("/api/chat/search", {"q": " "}), "/api/chat/search", "GET")
    check(anon.get("/api/chat/search", {"q": "x"}), "/api/chat/search", "GET")
    reaction = f"{one}/reactions/{{emoji}}"
    thumbs = f"/api/chat/messages/{message.pk}/reactions/%F0%9F%91%8D"
    for method in ("put", "delete"):
        check(getattr(as_alice, method)(thumbs), reaction, method.upper())
        check(getattr(as_alice, method)(f"/api/chat/messages/{message.pk}/reactions/no"), reaction, method.upper())
        check(getattr(as_carol, method)(thumbs), reaction, method.upper())
        check(getattr(anon, method)(thumbs), reaction, method.upper())

    # read and delete
    check(as_alice.put(read_url(cid)), f"{conv}/read", "PUT")
    check(as_carol.put(read_url(cid)), f"{conv}/read", "PUT")
    check(anon.put(read_url(cid)), f"{conv}/read", "PUT")
    own = first.json()["data"]["id"]
    check(as_bob.delete(f"/api/chat/messages/{own}"), "/api/chat/messages/{message_id}", "DELETE")  # 403
    check(as_alice.delete(f"/api/chat/messages/{own}"), "/api/chat/messages/{message_id}", "DELETE")
    check(as_alice.delete(f"/api/chat/messages/{own}"), "/api/chat/messages/{message_id}", "DELETE")  # 404
    check(anon.delete(f"/api/chat/messages/{own}"), "/api/chat/messages/{message_id}", "DELETE")

    # conversation state and safety
    blocks, block = "/api/chat/blocks", "/api/chat/blocks/{user_id}"
    for method in ("put", "delete"):
        check(getattr(as_alice, method)(f"/api/chat/blocks/{carol.pk}"), block, method.upper())
        check(getattr(as_alice, method)(f"/api/chat/blocks/{alice.pk}"), block, method.upper())  # 400
        check(getattr(as_alice, method)("/api/chat/blocks/999999"), block, method.upper())  # 404
        check(getattr(anon, method)(f"/api/chat/blocks/{carol.pk}"), block, method.upper())
    as_alice.put(f"/api/chat/blocks/{carol.pk}")
    check(as_alice.get(blocks), blocks, "GET")
    check(anon.get(blocks), blocks, "GET")
    state_calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("mute", "PUT", {"until": "2999-01-01T00:00:00Z"}),
        ("mute", "DELETE", None),
        ("archive", "PUT", None),
        ("archive", "DELETE", None),
        ("unread", "PUT", {"fromMessageId": message.pk}),
        ("delivered", "PUT", {"upToMessageId": message.pk}),
    ]
    for what, method, body in state_calls:
        path, url = f"{conv}/{what}", f"/api/chat/conversations/{cid}/{what}"
        call = getattr(as_alice, method.lower())
        check(call(url, body, format="json"), path, method)
        check(getattr(as_carol, method.lower())(url, body, format="json"), path, method)  # 404
        check(getattr(anon, method.lower())(url, body, format="json"), path, method)
        if body is not None:
            check(call(url, {"until": 5, "fromMessageId": "x", "upToMessageId": "x"}, format="json"), path, method)
            check(call(url, "x", content_type="text/plain"), path, method)  # 415
            check(call(url, big, content_type="application/json"), path, method)  # 413
    report, report_path = f"/api/chat/messages/{message.pk}/report", "/api/chat/messages/{message_id}/report"
    check(as_alice.post(report, {"reason": "spam"}, format="json"), report_path, "POST")  # 201
    check(as_alice.post(report, {"reason": "spam"}, format="json"), report_path, "POST")  # 200
    check(as_alice.post(report, {"reason": "rude"}, format="json"), report_path, "POST")  # 400
    check(as_bob.post(report, {"reason": "spam"}, format="json"), report_path, "POST")  # 403: his own
    check(as_carol.post(report, {"reason": "spam"}, format="json"), report_path, "POST")  # 404
    check(anon.post(report, {"reason": "spam"}, format="json"), report_path, "POST")
    check(as_alice.post(report, "x", content_type="text/plain"), report_path, "POST")
    check(as_alice.post(report, big, content_type="application/json"), report_path, "POST")

    # Every endpoint answers 503 (with Retry-After) while the database is unreachable.
    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("connection refused")

    calls: list[tuple[APIClient, str, str, dict[str, Any] | None]] = [
        (anon, "POST", "/api/auth/register", {"username": "erin", "password": "a-strong-pass-123"}),
        (anon, "POST", "/api/auth/token", {"username": "dave", "password": "a-strong-pass-123"}),
        (anon, "POST", "/api/auth/token/refresh", {"refresh": refresh}),
        (as_alice, "GET", "/api/auth/me", None),
        (as_alice, "GET", "/api/auth/users", None),
        (as_alice, "POST", SEND, {"receiverId": bob.pk, "content": "x"}),
        (as_alice, "GET", "/api/chat/conversations", None),
        (as_alice, "GET", f"{conv}/messages", None),
        (as_alice, "GET", f"{conv}/search", {"q": "x"}),
        (as_alice, "GET", "/api/chat/search", {"q": "x"}),
        (as_alice, "PUT", f"{conv}/read", None),
        (as_alice, "GET", "/api/chat/unread-count", None),
        (as_alice, "GET", "/api/chat/unread", None),
        (as_alice, "DELETE", "/api/chat/messages/{message_id}", None),
        (as_bob, "PATCH", "/api/chat/messages/{message_id}", {"content": "x"}),
        (as_alice, "GET", "/api/chat/messages/{message_id}/history", None),
        (as_alice, "PUT", "/api/chat/messages/{message_id}/reactions/{emoji}", None),
        (as_alice, "DELETE", "/api/chat/messages/{message_id}/reactions/{emoji}", None),
        (as_alice, "GET", "/api/chat/blocks", None),
        (as_alice, "PUT", "/api/chat/blocks/{user_id}", None),
        (as_alice, "DELETE", "/api/chat/blocks/{user_id}", None),
        (as_alice, "PUT", f"{conv}/mute", {"until": None}),
        (as_alice, "DELETE", f"{conv}/mute", None),
        (as_alice, "PUT", f"{conv}/archive", None),
        (as_alice, "DELETE", f"{conv}/archive", None),
        (as_alice, "PUT", f"{conv}/unread", {"fromMessageId": message.pk}),
        (as_alice, "PUT", f"{conv}/delivered", {"upToMessageId": message.pk}),
        (as_alice, "POST", "/api/chat/messages/{message_id}/report", {"reason": "spam"}),
        (as_alice, "POST", ATTACHMENTS, None),
        (anon, "GET", FILES, None),
    ]
    with mock.patch.object(CursorWrapper, "execute", unreachable):
        for api, method, path, body in calls:
            url = path.replace("{conversation_id}", str(cid)).replace("{message_id}", str(message.pk))
            url = url.replace("{emoji}", "%F0%9F%91%8D")
            url = url.replace("{user_id}", str(carol.pk))
            url = url.replace(FILES, uploaded.json()["data"]["url"])
            if path == ATTACHMENTS:
                response = api.post(url, {"file": SimpleUploadedFile("a.txt", b"x")}, format="multipart")
            elif method == "GET":
                response = api.get(url, body or {})
            else:
                response = getattr(api, method.lower())(url, body, format="json")
            assert response.status_code == 503, (path, response.content)
            assert response["Retry-After"]
            check(response, path, method)

    documented = {
        (path, method, status)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        for status in operation["responses"]
    }
    missing = documented - check.checked  # type: ignore[attr-defined]
    assert not missing, f"documented but never exercised: {sorted(missing)}"


def test_an_undocumented_field_fails_the_response_check(spec: dict[str, Any], alice: User) -> None:
    """The check above is not vacuous: a body with an extra key or a wrong type is refused."""
    from jsonschema.exceptions import ValidationError

    check = response_validator(spec)

    class Fake:
        status_code = 200
        content = json.dumps({"success": True, "data": {"unreadCount": 0, "extra": 1}}).encode()

    with pytest.raises(ValidationError):
        check(Fake(), "/api/chat/unread-count", "GET")
    Fake.content = json.dumps({"success": True, "data": {"unreadCount": "0"}}).encode()
    with pytest.raises(ValidationError):
        check(Fake(), "/api/chat/unread-count", "GET")
