"""Schemathesis against /api/schema/: every operation, positive and negative cases, as a real user.

The schema is loaded from the app itself (WSGI, in-process) and every operation is called
with generated valid and invalid input, authenticated as a user who has a conversation, so
ids in paths sometimes hit real rows (the user's own conversation and message, someone
else's, missing ones). Every default check runs on every response: no 5xx, status code,
content type, headers and body as the schema documents them, invalid input rejected,
valid input accepted, and `ignored_auth` (the same request without a token must be refused
where the schema declares security). The number of examples per operation is bounded so
the whole run stays under a minute.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from accounts.auth import tokens_for
from tests.support.api import send
from tests.support.figures import figure

EXAMPLES_PER_OPERATION = 25

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
# Negative cases change declared parameters and bodies; unknown extra query parameters and
# headers are ignored by the API, as HTTP servers do, so they are not counted as invalid input.
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], allow_extra_parameters=False)
# A body over MAX_BODY_BYTES is refused with 413 before it is parsed, which is a rejection too: a text
# over its maxLength in 4-byte characters, JSON-escaped, can pass 64 KiB before its field is read.
_rejection = schema.config.checks.negative_data_rejection
_rejection.expected_statuses = [*_rejection.expected_statuses, "413"]

# Rules OpenAPI cannot state, each pinned by its own tests: Django's password validators and
# NUL-free text (register, token), and "one emoji" (reactions: Unicode's emoji list, not a pattern),
# so schema-valid requests may still be refused with 400 there.
# A file link's signed token is its credential: no bearer token.
PUBLIC_PATHS = {"/api/auth/register", "/api/auth/token", "/api/auth/token/refresh", "/api/chat/files/{token}"}
# Conversation state has its own (tests/chat/rest/test_conversation_state.py): blocking yourself,
# a mute `until` in the past, and an unread mark from a message of another conversation are 400s.
# An upload's type is sniffed from its bytes (drawn bytes are seldom an allowed type), and a file
# link's token is signed (a drawn one is always a 404).
_REACTION = "/api/chat/messages/{message_id}/reactions/{emoji}"
BUSINESS_RULES = {
    ("POST", "/api/auth/register"),
    ("POST", "/api/auth/token"),
    ("PUT", _REACTION),
    ("DELETE", _REACTION),
    ("PUT", "/api/chat/blocks/{user_id}"),
    ("DELETE", "/api/chat/blocks/{user_id}"),
    ("PUT", "/api/chat/conversations/{conversation_id}/mute"),
    ("PUT", "/api/chat/conversations/{conversation_id}/unread"),
    ("POST", "/api/chat/attachments"),
    ("GET", "/api/chat/files/{token}"),
}

_calls: dict[str, int] = {}
_current: dict[str, str] = {}
_probes: dict[str, int] = {}


def _requires_auth(operation: Any) -> bool:
    """The operation declares bearer auth (register, token and refresh declare none)."""
    security = operation.definition.raw.get("security", operation.schema.raw_schema.get("security"))
    return any(requirement for requirement in security or [])


def _route_matches(case: Any) -> bool:
    """A path id that is not a non-negative integer misses the route (404 before any auth), and so
    does an empty text segment or one with a slash (the reaction's emoji)."""
    params = case.path_parameters or {}
    ids = [v for name, v in params.items() if name.endswith("_id")]
    texts = [v for name, v in params.items() if not name.endswith("_id")]
    return all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in ids) and all(
        isinstance(v, str) and v and "/" not in v for v in texts
    )


def _call_without_auth(case: Any) -> Any:
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    return case.call()


_elapsed = [0.0]  # seconds spent in the cases themselves (other tests may run in between)


@pytest.fixture
def caller(db: None, no_rate_limit: None, make_user: Any) -> Iterator[dict[str, Any]]:
    """An active user with a conversation and a message; someone else's conversation beside it.
    No rate limit: generated sends would trip it (it has its own tests)."""
    me, friend = make_user("fuzz-me"), make_user("fuzz-friend")
    stranger, other = make_user("fuzz-stranger"), make_user("fuzz-other")
    mine = send(me, friend, "hello")
    send(stranger, other, "private")
    # The WSGI handler closes the connection after each request; inside the test's transaction
    # that would end the test. Django's own test client detaches the same receivers.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    _current["token"] = tokens_for(me)["access"]
    try:
        yield {"user": me, "friend": friend.pk, "conversation": mine.conversation_id, "message": mine.pk}
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _negative_at(case: Any, location: ParameterLocation) -> bool:
    return case.meta is not None and case.meta.is_negative_at(location)


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    return value


def _no_nul(case: Any) -> None:
    """allow_x00 does not reach every string (query values, some body fields); drop NUL from valid
    components. A negative one keeps it: the schema forbids NUL in every text input, so removing it
    could turn the case valid while schemathesis still expects a 4xx."""
    if isinstance(case.query, dict) and not _negative_at(case, ParameterLocation.QUERY):
        case.query = _without_nul(case.query)
    if isinstance(case.body, (dict, list, str)) and not _negative_at(case, ParameterLocation.BODY):
        case.body = _without_nul(case.body)


def _one_cursor(case: Any) -> None:
    """`before`, `after` and `page` exclude each other (400, see docs/rest.md); OpenAPI 3.0 cannot
    say so, so a generated valid query keeps only one of them. A negative query is left whole:
    dropping its mutated parameter would make it valid while schemathesis still expects a 4xx,
    and the combination is refused with 400 anyway."""
    query = case.query
    if not isinstance(query, dict) or _negative_at(case, ParameterLocation.QUERY):
        return
    if "before" in query and "after" in query:
        del query["before"]
    if "page" in query and ("before" in query or "after" in query):
        del query["page"]


def _mutation_vanishes(case: Any) -> bool:
    """A negative query whose only trace is an empty object or list (`limit={}`) is sent without
    that parameter at all, so the request the server gets is valid: it cannot be asked to refuse it."""
    query = case.query
    if not isinstance(query, dict) or not _negative_at(case, ParameterLocation.QUERY):
        return False
    return any(value in ({}, [], None) for value in query.values())


def _ids(case: Any, caller: dict[str, Any]) -> None:
    """Path ids drawn by schemathesis mostly miss every row; point half of them at real ones.

    A valid send body whose receiverId happens to be the caller's own id (1 on a fresh SQLite
    database, schemathesis' favourite integer) is a 400 by a rule OpenAPI cannot state; it is
    pointed at the caller's friend instead."""
    params = case.path_parameters or {}
    for name, real in (("conversation_id", caller["conversation"]), ("message_id", caller["message"])):
        value = params.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value % 2 == 0:
            params[name] = real
    body = case.body
    mine = isinstance(body, dict) and body.get("receiverId") == caller["user"].pk
    if mine and not _negative_at(case, ParameterLocation.BODY):
        body["receiverId"] = caller["friend"]
    if (
        case.operation.path == "/api/chat/send"
        and isinstance(body, dict)
        and not _negative_at(case, ParameterLocation.BODY)
    ):
        # attachmentIds must name the caller's own unsent uploads, and without any the text must not
        # be blank: rules OpenAPI cannot state. Drawn ids name none, so a valid body sends text.
        body.pop("attachmentIds", None)
        if not isinstance(body.get("content"), str) or not body["content"].strip():
            body["content"] = "schemathesis"


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,  # the same cases on every run: CI is reproducible; new seeds are for local runs
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_keeps_to_its_schema(case: Any, caller: dict[str, Any]) -> None:
    label = f"{case.operation.method.upper()} {case.operation.path}"
    started = time.monotonic()
    _ids(case, caller)
    _one_cursor(case)
    _no_nul(case)
    excluded = (
        [positive_data_acceptance] if (case.operation.method.upper(), case.operation.path) in BUSINESS_RULES else []
    )
    if _mutation_vanishes(case):
        excluded.append(negative_data_rejection)
    case.call_and_validate(headers={"Authorization": f"Bearer {_current['token']}"}, excluded_checks=excluded)
    if _requires_auth(case.operation) and _route_matches(case):
        # schemathesis' own ignored_auth stands aside when the token comes from the test (it did not
        # catch a view stripped of its authentication in a trial), so the probe is made here: the
        # same request with no token and with a forged one must be refused.
        for probe in ({}, {"Authorization": "Bearer not.a.token"}):
            headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"} | probe
            response = case.call(headers=headers) if probe else _call_without_auth(case)
            # A body over MAX_BODY_BYTES is refused (413) before anything else is looked at, the token too.
            body = response.request.body or b""
            size = len(body.encode() if isinstance(body, str) else body)
            refusals = {401, 413} if size > django_settings.MAX_BODY_BYTES else {401}
            assert response.status_code in refusals, (label, probe or "no token", response.status_code)
            _probes[label] = _probes.get(label, 0) + 1
    _calls[label] = _calls.get(label, 0) + 1
    _elapsed[0] += time.monotonic() - started


def _operations() -> list[APIOperation[Any, Any, Any, Any]]:
    found: list[APIOperation[Any, Any, Any, Any]] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the schema has an operation schemathesis cannot read: {result}"
        found.append(result.ok())
    return found


def test_schemathesis_covered_every_operation() -> None:
    """Runs after the parametrized test (same module, defined later): every operation was called."""
    operations = {f"{op.method.upper()} {op.path}" for op in _operations()}
    assert operations, "the schema lists no operations"
    missing = operations - set(_calls)
    assert not missing, f"never called: {missing}"
    secured = {label for label in operations if label.split(" ", 1)[1] not in PUBLIC_PATHS}
    assert secured and secured <= set(_probes), f"auth never probed: {secured - set(_probes)}"
    figure(
        f"\nschemathesis: {sum(_calls.values())} calls over {len(operations)} operations "
        f"(positive and negative) in {_elapsed[0]:.1f} s, 0 failures; "
        f"{sum(_probes.values())} calls without or with a forged token on {len(secured)} secured operations, all 401"
    )
