"""Input validation shared by the REST views and the WebSocket consumer.

Both edges receive the same camelCase fields, so one set of rules decides what is valid
and names the offending field the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import emoji as emoji_data
from django.utils.dateparse import parse_datetime

from chat.models import EMOJI_MAX_LENGTH
from core.db import MAX_ID
from core.errors import Invalid

MAX_CONTENT_LENGTH = 10_000
MAX_URL_LENGTH = 2_048
MAX_CLIENT_ID_LENGTH = 64
MAX_ATTACHMENTS = 10


@dataclass(frozen=True)
class SendRequest:
    receiver_id: int
    content: str
    attachment_url: str | None = None
    client_message_id: str | None = None
    conversation_id: int | None = None
    reply_to_id: int | None = None
    attachment_ids: tuple[int, ...] = ()


def require_mapping(data: Any, what: str = "body") -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise Invalid(
            f"The {what} must be a JSON object.", errors={"non_field_errors": [f"Expected a JSON object as {what}."]}
        )
    return data


def object_id(data: Mapping[str, Any], name: str, *, required: bool = True) -> int | None:
    """A positive integer id; JSON booleans and strings are refused rather than coerced."""
    value = data.get(name)
    if value is None:
        if required:
            raise Invalid.field(name, "This field is required.")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise Invalid.field(name, "Must be a positive integer id.")
    return value


def _storable(name: str, value: str) -> None:
    """Text the database can hold: no NUL (PostgreSQL refuses it) and no lone surrogates
    (JSON's `"\\ud800"` decodes to one, and UTF-8 cannot encode it)."""
    if "\x00" in value:
        raise Invalid.field(name, "Must not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid.field(name, "Must be valid Unicode text (no unpaired surrogates).") from None


def _content(data: Mapping[str, Any], *, with_attachments: bool = False) -> str:
    """The text; with attachments it may be empty (or left out: the empty text)."""
    value = data.get("content")
    if value is None:
        if with_attachments:
            return ""
        raise Invalid.field("content", "This field is required.")
    if not isinstance(value, str):
        raise Invalid.field("content", "Must be a string.")
    if not value.strip() and not with_attachments:
        raise Invalid.field("content", "Must not be blank.")
    if len(value) > MAX_CONTENT_LENGTH:
        raise Invalid.field("content", f"Must be at most {MAX_CONTENT_LENGTH} characters.")
    _storable("content", value)
    return value


def _attachment_url(data: Mapping[str, Any]) -> str | None:
    value = data.get("attachmentUrl")
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid.field("attachmentUrl", "Must be a string URL or null.")
    if len(value) > MAX_URL_LENGTH:
        raise Invalid.field("attachmentUrl", f"Must be at most {MAX_URL_LENGTH} characters.")
    _storable("attachmentUrl", value)
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme.lower() not in {"http", "https"}
        or not parts.netloc
        or any(c.isspace() for c in value)
    ):
        raise Invalid.field("attachmentUrl", "Must be an http or https URL.")
    return value


def _client_message_id(data: Mapping[str, Any]) -> str | None:
    value = data.get("clientMessageId")
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_CLIENT_ID_LENGTH:
        raise Invalid.field(
            "clientMessageId", f"Must be a non-empty string of at most {MAX_CLIENT_ID_LENGTH} characters."
        )
    _storable("clientMessageId", value)
    return value


@dataclass(frozen=True)
class EditRequest:
    message_id: int
    content: str


def parse_edit(data: Any, message_id: int | None = None) -> EditRequest:
    """Validate an edit: REST's body `content` (the id is in the path) or `edit_message` data
    (`messageId`, `content`); the content rules are the send's."""
    body = require_mapping(data)
    errors: dict[str, list[str]] = {}
    if message_id is None:
        try:
            message_id = object_id(body, "messageId")
        except Invalid as exc:
            errors.update(exc.errors or {})
    content = ""
    try:
        content = _content(body)
    except Invalid as exc:
        errors.update(exc.errors or {})
    _raise_first(errors)
    assert message_id is not None  # object_id(required=True) raises instead
    return EditRequest(message_id, content)


def _raise_first(errors: dict[str, list[str]]) -> None:
    if errors:
        name, problems = next(iter(errors.items()))
        raise Invalid(f"{name}: {problems[0]}", errors=errors)


@dataclass(frozen=True)
class ReactionRequest:
    message_id: int
    emoji: str


def parse_emoji(value: Any) -> str:
    """One emoji, in its fully-qualified spelling, or Invalid on `emoji`.

    The `emoji` package decides (Unicode's emoji list, ZWJ sequences, flags and keycaps included), not
    a hand-kept regex. A spelling without its emoji presentation selector (U+2764 for ❤️) is stored as
    the fully-qualified one, so both count as the same reaction; a component alone (a skin tone) is
    not a reaction.
    """
    if not isinstance(value, str) or not value:
        raise Invalid.field("emoji", "Must be one emoji.")
    if len(value) > EMOJI_MAX_LENGTH:
        raise Invalid.field("emoji", "Must be one emoji, not a longer text.")
    _storable("emoji", value)
    qualified = emoji_data.emojize(emoji_data.demojize(value))
    facts = emoji_data.EMOJI_DATA.get(qualified)
    if facts is None or facts["status"] == emoji_data.STATUS["component"]:
        raise Invalid.field("emoji", "Must be one emoji.")
    return qualified


def parse_reaction(data: Any) -> ReactionRequest:
    """Validate `react` / `unreact` data (`messageId`, `emoji`)."""
    body = require_mapping(data)
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for name, parse in (
        ("message_id", lambda: object_id(body, "messageId")),
        ("emoji", lambda: parse_emoji(body.get("emoji"))),
    ):
        try:
            values[name] = parse()
        except Invalid as exc:
            errors.update(exc.errors or {})
    _raise_first(errors)
    return ReactionRequest(**values)


def _attachment_ids(data: Mapping[str, Any]) -> tuple[int, ...]:
    """Up to MAX_ATTACHMENTS distinct upload ids (absent, null or [] for none); whose they are is
    the send's rule (chat.services.messages)."""
    value = data.get("attachmentIds")
    if value is None:
        return ()
    problem = f"Must be a list of at most {MAX_ATTACHMENTS} distinct upload ids."
    if not isinstance(value, list) or len(value) > MAX_ATTACHMENTS:
        raise Invalid.field("attachmentIds", problem)
    if any(isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= MAX_ID for v in value):
        raise Invalid.field("attachmentIds", problem)
    if len(set(value)) != len(value):
        raise Invalid.field("attachmentIds", problem)
    return tuple(value)


def parse_send(data: Any) -> SendRequest:
    """Validate a send body (REST) or `send_message` data (socket)."""
    body = require_mapping(data)
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    try:
        values["attachment_ids"] = _attachment_ids(body)
    except Invalid as exc:
        errors.update(exc.errors or {})
    with_attachments = bool(values.get("attachment_ids")) or "attachmentIds" in errors
    fields: dict[str, Callable[[], object]] = {
        "receiver_id": lambda: object_id(body, "receiverId"),
        "content": lambda: _content(body, with_attachments=with_attachments),
        "attachment_url": lambda: _attachment_url(body),
        "client_message_id": lambda: _client_message_id(body),
        "conversation_id": lambda: object_id(body, "conversationId", required=False),
        "reply_to_id": lambda: object_id(body, "replyToId", required=False),
    }
    for attribute, parse in fields.items():
        try:
            values[attribute] = parse()
        except Invalid as exc:
            errors.update(exc.errors or {})
    _raise_first(errors)
    return SendRequest(**values)


# --- Conversation state and reports --------------------------------------------------------

MAX_REPORT_NOTE_LENGTH = 1_000
REPORT_REASONS = ("spam", "abuse", "other")


def parse_mute_until(data: Any) -> datetime | None:
    """`until` of a mute: an ISO 8601 time with its offset (`Z` or ±hh:mm), or absent/null for
    until unmuted. Whether it lies ahead is the service's rule (it knows the time)."""
    value = require_mapping(data).get("until")
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid.field("until", "Must be an ISO 8601 time or null.")
    try:
        moment = parse_datetime(value.strip())
    except ValueError:
        moment = None
    if moment is None:
        raise Invalid.field("until", "Must be an ISO 8601 time or null.")
    if moment.tzinfo is None:
        raise Invalid.field("until", "Must carry a UTC offset (for example 2026-01-31T18:00:00Z).")
    try:
        # Stored in UTC: PostgreSQL refuses offsets beyond ±15:59 that Python parses.
        return moment.astimezone(UTC)
    except OverflowError:
        raise Invalid.field("until", "Must be an ISO 8601 time or null.") from None


def parse_message_id(data: Any, name: str) -> int:
    """A required message id field (`fromMessageId`, `upToMessageId`)."""
    value = object_id(require_mapping(data), name)
    assert value is not None  # required=True raises instead of returning None
    return value


@dataclass(frozen=True)
class ReportRequest:
    reason: str
    note: str = ""


def parse_report(data: Any) -> ReportRequest:
    body = require_mapping(data)
    reason = body.get("reason")
    if reason is None:
        raise Invalid.field("reason", "This field is required.")
    if not isinstance(reason, str) or reason not in REPORT_REASONS:
        raise Invalid.field("reason", f"Must be one of: {', '.join(REPORT_REASONS)}.")
    note = body.get("note")
    if note is None:
        return ReportRequest(reason)
    if not isinstance(note, str):
        raise Invalid.field("note", "Must be a string or null.")
    if len(note) > MAX_REPORT_NOTE_LENGTH:
        raise Invalid.field("note", f"Must be at most {MAX_REPORT_NOTE_LENGTH} characters.")
    _storable("note", note)
    return ReportRequest(reason, note)
