"""WebSocket frame parsing and validation: text → (event, data, ref) → typed arguments.

The single source of the protocol's vocabulary: the client events and the data fields each
one takes, the server events, and the error codes. docs/websocket.md and docs/asyncapi.yaml
are checked against these sets (tests/chat/ws/test_protocol_docs.py). Kept free of I/O so every
malformed-frame rule can be tested (and fuzzed) directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from chat.validation import object_id, parse_edit, parse_message_id, parse_reaction, parse_send
from core.errors import Invalid

MAX_REF_LENGTH = 64


@dataclass(frozen=True)
class EventFields:
    """The `data` fields a client event reads; fields it does not name are ignored."""

    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.required + self.optional)


_CONVERSATION = EventFields(required=("conversationId",))
_REACTION = EventFields(required=("messageId", "emoji"))

CLIENT_EVENT_FIELDS: dict[str, EventFields] = {
    "authenticate": EventFields(required=("token",)),
    "join_personal_room": EventFields(),
    "join_conversation": _CONVERSATION,
    "leave_conversation": _CONVERSATION,
    "send_message": EventFields(
        # content may be left out when attachmentIds names at least one upload.
        required=("receiverId", "content"),
        optional=("conversationId", "attachmentUrl", "clientMessageId", "replyToId", "attachmentIds"),
    ),
    "typing": _CONVERSATION,
    "stop_typing": _CONVERSATION,
    "mark_as_read": _CONVERSATION,
    "mark_delivered": EventFields(required=("conversationId", "upToMessageId")),
    "edit_message": EventFields(required=("messageId", "content")),
    "react": _REACTION,
    "unreact": _REACTION,
}

CLIENT_EVENTS = frozenset(CLIENT_EVENT_FIELDS)

SERVER_EVENTS = frozenset(
    {
        "connected",
        "ack",
        "error",
        "new_message",
        "message_notification",
        "user_typing",
        "user_stopped_typing",
        "messages_read",
        "user_joined",
        "user_left",
        "message_deleted",
        "message_edited",
        "reaction_added",
        "reaction_removed",
        "presence",
        "conversation_unread",
        "messages_delivered",
    }
)

# The codes of `error` frames (a subset of core.errors.ERROR_CODES, which metrics are bounded by).
ERROR_CODES = frozenset(
    {
        "invalid_json",
        "unknown_event",
        "invalid",
        "forbidden",
        "not_found",
        "rate_limited",
        "unauthenticated",
        # The database is unreachable for a moment: nothing was stored, retry (same clientMessageId).
        "unavailable",
        # A server bug: logged; the socket stays open.
        "internal",
    }
)


class FrameError(Exception):
    """A frame that cannot be handled; answered with an `error` event, the socket stays open."""

    def __init__(self, code: str, message: str, ref: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref


@dataclass(frozen=True)
class Frame:
    event: str
    data: dict[str, Any] = field(default_factory=dict)
    ref: str | int | None = None


def _ref(frame: dict[str, Any]) -> str | int | None:
    ref = frame.get("ref")
    if ref is None:
        return None
    if isinstance(ref, bool) or not isinstance(ref, (str, int)):
        raise FrameError("invalid", "ref must be a string or an integer.")
    if isinstance(ref, str) and len(ref) > MAX_REF_LENGTH:
        raise FrameError("invalid", f"ref must be at most {MAX_REF_LENGTH} characters.")
    if isinstance(ref, int) and abs(ref) > 2**53:
        raise FrameError("invalid", "ref is out of range.")
    return ref


def parse_frame(text: str) -> Frame:
    """Decode one text frame; raise FrameError with the code the contract names."""
    if not text or not text.strip():
        raise FrameError("invalid_json", "Empty frame; expected a JSON object.")
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise FrameError("invalid_json", "Frame is not valid JSON.") from None
    if not isinstance(frame, dict):
        raise FrameError("invalid", "Frame must be a JSON object with an event.")
    ref = _ref(frame)
    event = frame.get("event")
    if not isinstance(event, str):
        raise FrameError("invalid", "Frame needs an event name (a string).", ref)
    if event not in CLIENT_EVENTS:
        raise FrameError("unknown_event", f"Unknown event {event[:64]!r}.", ref)
    data = frame.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FrameError("invalid", "data must be a JSON object.", ref)
    return Frame(event=event, data=data, ref=ref)


def _token(data: dict[str, Any]) -> str:
    token = data.get("token")
    if not isinstance(token, str) or not token:
        raise Invalid.field("token", "Must be a non-empty string.")
    return token


def _conversation_id(data: dict[str, Any]) -> int:
    value = object_id(data, "conversationId")
    assert value is not None  # required=True raises instead of returning None
    return value


def _delivered(data: dict[str, Any]) -> tuple[int, int]:
    """(conversationId, upToMessageId), every bad field named at once."""
    errors: dict[str, list[str]] = {}
    values: list[int] = []
    parsers: tuple[Callable[[], int], ...] = (
        lambda: _conversation_id(data),
        lambda: parse_message_id(data, "upToMessageId"),
    )
    for parse in parsers:
        try:
            values.append(parse())
        except Invalid as exc:
            errors.update(exc.errors or {})
    if errors:
        name, problems = next(iter(errors.items()))
        raise Invalid(f"{name}: {problems[0]}", errors=errors)
    return values[0], values[1]


def validate_data(event: str, data: dict[str, Any]) -> Any:
    """The typed argument of a client event's handler, or Invalid naming the offending field.

    authenticate → the token; send_message → a SendRequest (the same rules as REST /send);
    mark_delivered → (conversation id, message id); edit_message → an EditRequest (as REST PATCH
    /messages/:id); react / unreact → a ReactionRequest; the conversation events → the conversation
    id; join_personal_room → None.
    """
    fields = CLIENT_EVENT_FIELDS[event]
    if event == "authenticate":
        return _token(data)
    if event == "send_message":
        return parse_send(data)
    if event == "mark_delivered":
        return _delivered(data)
    if event == "edit_message":
        return parse_edit(data)
    if fields == _REACTION:
        return parse_reaction(data)
    if fields == _CONVERSATION:
        return _conversation_id(data)
    return None


def encode(event: str, data: Any, ref: str | int | None = None) -> str:
    body: dict[str, Any] = {"event": event}
    if ref is not None:
        body["ref"] = ref
    body["data"] = data
    return orjson.dumps(body, option=orjson.OPT_UTC_Z).decode()
