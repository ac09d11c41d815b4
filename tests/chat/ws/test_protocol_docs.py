"""The protocol documents say what the code does: docs/websocket.md, docs/asyncapi.yaml, chat/ws/protocol.py.

The event names, each client event's data fields and the error codes must be the same in
the prose document, in the AsyncAPI document, in chat.ws.protocol's tables, and in what the
consumer really handles and sends. The AsyncAPI file must also be valid against the official
AsyncAPI 3.0.0 JSON Schema (vendored in tests/asyncapi/, see its README).
"""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from django.test import Client

from chat.ws.consumer import ChatConsumer
from chat.ws.protocol import CLIENT_EVENT_FIELDS, CLIENT_EVENTS, ERROR_CODES, SERVER_EVENTS, validate_data
from core import errors
from core.errors import Invalid
from tests.support import ROOT

PROSE = ROOT / "docs" / "websocket.md"
ASYNCAPI = ROOT / "docs" / "asyncapi.yaml"
ASYNCAPI_SCHEMA = ROOT / "tests" / "asyncapi" / "asyncapi-3.0.0.schema.json"
ASYNCAPI_SCHEMA_SHA256 = "76d091c9001bd90ae0f92add0f9e31d9517e63bd5ea6e49faa366bcd79d159d4"


# --- Reading the documents ---------------------------------------------------------------------


def _section(text: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/websocket.md has no '## {title}' section"
    return match.group(1)


def _subsections(section: str) -> dict[str, str]:
    """`### \\`name\\`` headings of a section and the text under each."""
    parts = re.split(r"^### `([a-z_]+)`\n", section, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _table_rows(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("|")]
    cells = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]
    return [row for row in cells if not set("".join(row)) <= set("-: ")]


@cache
def prose() -> str:
    return PROSE.read_text()


def prose_client_fields() -> dict[str, tuple[set[str], set[str]]]:
    """event → (required fields, optional fields) from each client event's field table."""
    result = {}
    for event, body in _subsections(_section(prose(), "Client events")).items():
        rows = _table_rows(body)
        assert rows and rows[0] == ["field", "type", "required", "meaning"], f"{event}: no field table"
        required: set[str] = set()
        optional: set[str] = set()
        for row in rows[1:]:
            name = row[0].strip("`")
            assert row[2] in {"yes", "no"}, f"{event}.{name}: required must be yes or no"
            (required if row[2] == "yes" else optional).add(name)
        result[event] = (required, optional)
    return result


@cache
def asyncapi() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ASYNCAPI.read_text())
    return loaded


def _resolve(ref: dict[str, Any]) -> dict[str, Any]:
    node: Any = ref
    while "$ref" in node:
        path = node["$ref"]
        assert path.startswith("#/"), path
        node = asyncapi()
        for part in path[2:].split("/"):
            node = node[part]
    assert isinstance(node, dict)
    return node


def _operation_messages(action: str) -> list[dict[str, Any]]:
    return [
        _resolve(message)
        for operation in asyncapi()["operations"].values()
        if operation["action"] == action
        for message in operation["messages"]
    ]


def _reply_messages() -> list[dict[str, Any]]:
    return [
        _resolve(message)
        for operation in asyncapi()["operations"].values()
        for message in operation.get("reply", {}).get("messages", [])
    ]


# --- What the code handles and sends -----------------------------------------------------------

# Calls whose argument at this position is the name of a server event.
_EVENT_ARGUMENT = {"_send": 0, "_to": 1, "layer_message": 0, "_to_room_and_participants": 1}


def _calls(path: Path) -> list[ast.Call]:
    return [node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)]


def _name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def events_sent_by_code() -> set[str]:
    sent = set()
    for module in ("ws/consumer.py", "events.py"):
        for call in _calls(ROOT / "chat" / module):
            position = _EVENT_ARGUMENT.get(_name(call))
            if position is None or len(call.args) <= position:
                continue
            argument = call.args[position]
            choices = [argument.body, argument.orelse] if isinstance(argument, ast.IfExp) else [argument]
            sent |= {c.value for c in choices if isinstance(c, ast.Constant) and isinstance(c.value, str)}
    return sent


def error_codes_sent_by_code() -> set[str]:
    codes: set[str] = set()
    for call in _calls(ROOT / "chat" / "ws" / "protocol.py"):
        if _name(call) == "FrameError" and isinstance(call.args[0], ast.Constant):
            codes.add(str(call.args[0].value))
    for call in _calls(ROOT / "chat" / "ws" / "consumer.py"):
        if _name(call) == "_error" and call.args and isinstance(call.args[0], ast.Constant):
            codes.add(str(call.args[0].value))
    pending = list(errors.DomainError.__subclasses__())
    while pending:
        cls = pending.pop()
        codes.add(cls.code)
        pending.extend(cls.__subclasses__())
    return codes


def test_protocol_tables_match_what_the_consumer_handles_and_sends() -> None:
    handled = {name.removeprefix("on_") for name in dir(ChatConsumer) if name.startswith("on_")}
    assert handled == CLIENT_EVENTS
    assert events_sent_by_code() == SERVER_EVENTS
    assert error_codes_sent_by_code() == ERROR_CODES


# --- docs/websocket.md -------------------------------------------------------------------------


def test_prose_lists_every_client_event_with_the_fields_protocol_validates() -> None:
    documented = prose_client_fields()
    assert set(documented) == CLIENT_EVENTS
    for event, (required, optional) in documented.items():
        fields = CLIENT_EVENT_FIELDS[event]
        assert (required, optional) == (set(fields.required), set(fields.optional)), event


def test_prose_lists_every_server_event() -> None:
    assert set(_subsections(_section(prose(), "Server events"))) == SERVER_EVENTS


def test_prose_lists_every_error_code() -> None:
    rows = _table_rows(_section(prose(), "Error codes"))
    assert rows[0][0] == "code"
    assert {row[0].strip("`") for row in rows[1:]} == ERROR_CODES


# --- docs/asyncapi.yaml ------------------------------------------------------------------------


def test_asyncapi_is_valid_against_the_official_schema() -> None:
    raw = ASYNCAPI_SCHEMA.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == ASYNCAPI_SCHEMA_SHA256  # the official file, unedited
    schema = json.loads(raw)
    validator = jsonschema.Draft7Validator(schema)
    problems = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(asyncapi())]
    assert problems == []
    broken = copy.deepcopy(asyncapi())  # and the validator does reject a broken document
    broken["operations"]["receive_typing"]["action"] = "shout"
    broken["channels"]["chat"]["messages"]["typing"] = {"payload": 5}
    assert len(list(validator.iter_errors(broken))) >= 2


def test_asyncapi_client_events_and_fields_match_protocol() -> None:
    messages = _operation_messages("receive")
    assert {m["name"] for m in messages} == CLIENT_EVENTS
    for message in messages:
        payload = message["payload"]
        assert payload["properties"]["event"] == {"const": message["name"]}
        data = payload["properties"]["data"]
        fields = CLIENT_EVENT_FIELDS[message["name"]]
        assert set(data["properties"]) == fields.names, message["name"]
        assert set(data.get("required", [])) == set(fields.required), message["name"]


def test_asyncapi_server_events_match_protocol() -> None:
    sent = _operation_messages("send") + _reply_messages()
    assert {m["name"] for m in sent} == SERVER_EVENTS
    for message in sent:
        assert message["payload"].get("$ref") or message["payload"]["properties"]["event"] == {"const": message["name"]}
    used = {id(m) for m in _operation_messages("receive") + sent}
    orphans = [key for key, ref in asyncapi()["channels"]["chat"]["messages"].items() if id(_resolve(ref)) not in used]
    assert orphans == []


def test_asyncapi_error_codes_match_protocol() -> None:
    assert set(asyncapi()["components"]["schemas"]["ErrorCode"]["enum"]) == ERROR_CODES


# --- The fields protocol.py declares are the fields it validates -------------------------------

_VALID = {
    "receiverId": 2,
    "content": "hi",
    "conversationId": 3,
    "token": "abc",
    "upToMessageId": 4,
    "messageId": 4,
    "emoji": "👍",
}


def _invalid_fields(event: str, data: dict[str, Any]) -> set[str]:
    with pytest.raises(Invalid) as refused:
        validate_data(event, data)
    return set(refused.value.errors or {})


@pytest.mark.parametrize("event", sorted(CLIENT_EVENTS))
def test_declared_fields_are_exactly_the_validated_ones(event: str) -> None:
    fields = CLIENT_EVENT_FIELDS[event]
    valid = {name: _VALID[name] for name in fields.required}
    validate_data(event, valid | {"undeclaredField": [object()]})  # fields not named are ignored
    if fields.required:
        assert _invalid_fields(event, {}) == set(fields.required)
    for name in fields.names:
        assert _invalid_fields(event, valid | {name: ["not", "this"]}) == {name}, name


# --- Served at /api/asyncapi.yaml --------------------------------------------------------------


def test_asyncapi_document_is_served_without_a_token(client: Client) -> None:
    response = client.get("/api/asyncapi.yaml")
    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] in {"application/yaml", "text/yaml"}
    assert response.content == ASYNCAPI.read_bytes()
    assert yaml.safe_load(response.content)["asyncapi"] == "3.0.0"
    assert client.post("/api/asyncapi.yaml").status_code == 405
