"""WebSocket fuzzing: random and malformed frames never make a server error, and other sockets carry on.

A fuzzing socket (alice) sends hypothesis-generated frames: random JSON of every type at
every field, unknown and look-alike event names, wrong types, deep nesting, huge strings,
raw text and binary. Each batch ends with a sentinel frame that must be acked; every frame
before it must be answered with a contract event and an error code from the contract (never
`internal`), the socket must stay open, nothing may be logged as a failed frame, and a
bystander socket (bob, in the same conversation) must still get alice's next message.
Hand-written cases cover what random generation rarely reaches: nesting past the parser's
depth limit, frames just under and over 64 KiB, and floods.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.auth import tokens_for
from accounts.models import User
from chat.models import Conversation, Message
from chat.ws.protocol import CLIENT_EVENTS, ERROR_CODES, SERVER_EVENTS
from chatproject.asgi import application
from chatproject.env import RateLimit
from tests.support.api import send
from tests.support.figures import figure

pytestmark = [pytest.mark.django_db(transaction=True)]

FUZZ_EXAMPLES = 40
ANSWER_TIMEOUT = 5.0

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=25,
)
event_names = st.one_of(
    st.sampled_from(sorted(CLIENT_EVENTS)),
    st.sampled_from(
        [
            "",
            " ",
            "chat_event",
            "chat.close",
            "chat_close",
            "connect",
            "disconnect",
            "receive",
            "websocket.disconnect",
            "on_send_message",
            "__class__",
            "SEND_MESSAGE",
            "send_message ",
        ]
    ),
    st.text(max_size=30),
    json_values,
)
FIELDS = ["conversationId", "receiverId", "content", "attachmentUrl", "clientMessageId", "token", "ref", "event"]


def field_values(ids: dict[str, int]) -> st.SearchStrategy[Any]:
    """Values that are sometimes right (real ids, text), mostly wrong (types, ranges, shapes)."""
    return st.one_of(
        json_values,
        st.sampled_from(
            [ids["bob"], ids["alice"], ids["conversation"], ids["other_conversation"], 0, -1, 2**63, 2**64]
        ),
        st.sampled_from(["1", "1.0", "true", "https://example.com/a.png", "javascript:alert(1)", "\x00", "\ud800"]),
        st.text(min_size=1, max_size=200),
    )


def frames(ids: dict[str, int]) -> st.SearchStrategy[tuple[str, str | bytes]]:
    data = st.one_of(json_values, st.dictionaries(st.sampled_from(FIELDS), field_values(ids), max_size=5))
    shaped = st.fixed_dictionaries(
        {"event": event_names}, optional={"data": data, "ref": st.one_of(json_values, st.text(max_size=80))}
    ).map(lambda frame: ("text", json.dumps(frame)))
    raw = st.text(max_size=200).map(lambda text: ("text", text))
    binary = st.binary(max_size=200).map(lambda blob: ("bytes", blob))
    non_object = json_values.map(lambda value: ("text", json.dumps(value)))
    return st.one_of(shaped, shaped, shaped, raw, binary, non_object)


class Socket:
    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.c = communicator

    async def frame(self, timeout: float = ANSWER_TIMEOUT) -> dict[str, Any]:
        output = await self.c.receive_output(timeout=timeout)
        assert output["type"] == "websocket.send", f"the socket closed: {output}"
        return dict(json.loads(output["text"]))

    async def until(
        self, predicate: Any, timeout: float = ANSWER_TIMEOUT
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Frames until one matches; returns it and the ones before it."""
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.frame(max(0.1, deadline - time.monotonic()))
            if predicate(frame):
                return frame, seen
            seen.append(frame)


async def raw_send(socket: Socket, kind: str, payload: str | bytes) -> None:
    """Any frame, empty ones included (the communicator's send_to refuses those)."""
    key = "bytes" if kind == "bytes" else "text"
    await socket.c.send_input({"type": "websocket.receive", key: payload})


async def open_socket(user: User) -> Socket:
    token = await _token(user)
    communicator = WebsocketCommunicator(application, f"/ws/chat/?token={token}")
    connected, _ = await communicator.connect()
    assert connected
    socket = Socket(communicator)
    assert (await socket.frame())["event"] == "connected"
    return socket


async def _token(user: User) -> str:
    from channels.db import database_sync_to_async

    return str(await database_sync_to_async(lambda: tokens_for(user)["access"])())


def assert_contract(answers: list[dict[str, Any]]) -> None:
    for frame in answers:
        assert frame["event"] in SERVER_EVENTS, frame
        if frame["event"] == "error":
            assert frame["data"]["code"] in ERROR_CODES - {"internal", "unavailable"}, frame
            assert isinstance(frame["data"]["message"], str) and frame["data"]["message"]


@pytest.fixture
def world(no_rate_limit: None, make_user: Any) -> dict[str, Any]:
    # No rate limit: floods of valid sends are the flood test's business.
    alice, bob, carol, dave = (make_user(n) for n in ("alice", "bob", "carol", "dave"))
    conversation = send(alice, bob, "hello").conversation_id
    other = send(carol, dave, "private").conversation_id
    return {
        "alice": alice,
        "bob": bob,
        "ids": {"alice": alice.pk, "bob": bob.pk, "conversation": conversation, "other_conversation": other},
    }


@pytest.fixture(autouse=True)
def _no_failed_frames(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Whatever a test sends, the consumer never logs a frame it failed to handle."""
    with caplog.at_level(logging.WARNING, logger="chat.socket"):
        yield
    failed = [r.getMessage() for r in caplog.records if r.name == "chat.socket" and r.levelno >= logging.ERROR]
    assert failed == [], "the consumer logged a failed frame"


class LoopThread:
    """One event loop in a thread for the whole hypothesis run, so its examples share two sockets.

    A socket per example (80 of them) each left a pooled database connection behind in the test
    process (a leak of the in-process test setup, seen in tests/chat/ws/test_consumer.py too), enough
    to exhaust the pool in the full suite.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


async def open_pair(world: dict[str, Any]) -> tuple[Socket, Socket]:
    fuzzer = await open_socket(world["alice"])
    bystander = await open_socket(world["bob"])
    join = {"event": "join_conversation", "ref": "j", "data": {"conversationId": world["ids"]["conversation"]}}
    await bystander.c.send_to(text_data=json.dumps(join))
    await bystander.until(lambda f: f.get("ref") == "j")
    return fuzzer, bystander


async def close_pair(pair: tuple[Socket, Socket]) -> None:
    for socket in pair:
        await socket.c.disconnect()


async def fuzz_batch(world: dict[str, Any], pair: tuple[Socket, Socket], batch: list[tuple[str, str | bytes]]) -> None:
    ids = world["ids"]
    fuzzer, bystander = pair
    for kind, payload in batch:
        await raw_send(fuzzer, kind, payload)
    await fuzzer.c.send_to(text_data=json.dumps({"event": "join_personal_room", "ref": "sentinel"}))
    sentinel, answers = await fuzzer.until(lambda f: f.get("ref") == "sentinel")
    assert sentinel["event"] == "ack", sentinel
    assert_contract(answers)
    # The fuzzer's socket still sends, and the bystander still receives.
    marker = f"after-fuzz-{time.monotonic_ns()}"
    real = {"receiverId": ids["bob"], "conversationId": ids["conversation"], "content": marker}
    await fuzzer.c.send_to(text_data=json.dumps({"event": "send_message", "ref": "real", "data": real}))
    ack, _ = await fuzzer.until(lambda f: f.get("ref") == "real")
    assert ack["event"] == "ack", ack
    pushed, _ = await bystander.until(lambda f: f["event"] == "new_message" and f["data"]["content"] == marker)
    assert pushed["data"]["id"] == ack["data"]["id"]


def test_random_frames_never_make_a_server_error(
    world: dict[str, Any],
) -> None:
    started = time.monotonic()
    sent = 0
    runner = LoopThread()
    pair = runner.run(open_pair(world))

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
    )
    @given(batch=st.lists(frames(world["ids"]), min_size=1, max_size=15))
    def run(batch: list[tuple[str, str | bytes]]) -> None:
        nonlocal sent
        sent += len(batch)
        runner.run(fuzz_batch(world, pair, batch))

    try:
        run()
    finally:
        runner.run(close_pair(pair))
        runner.stop()
    # Nothing the fuzzer sent reached the conversation of other people.
    other = Conversation.objects.get(pk=world["ids"]["other_conversation"])
    assert other.last_message == "private" and Message.objects.filter(conversation=other).count() == 1
    figure(
        f"\nws fuzz: {sent} random frames in {FUZZ_EXAMPLES} batches over one socket, "
        f"{time.monotonic() - started:.1f} s, 0 server errors"
    )


# --- hand-written hostile frames ----------------------------------------------------------------


def _send_frame(ref: str, **data: Any) -> str:
    return json.dumps({"event": "send_message", "ref": ref, "data": data}, ensure_ascii=False)


HOSTILE: list[tuple[str, str | bytes, str]] = [
    ("text", "[" * 30_000 + "]" * 30_000, "invalid_json"),  # nesting past orjson's 1024 limit, under 64 KiB
    ("text", '{"event": "send_message", "data": ' + '{"a": ' * 2000 + "1" + "}" * 2000 + "}", "invalid_json"),
    (
        "text",
        json.dumps({"event": "send_message", "ref": "n", "data": {"receiverId": 1, "content": [[[[[[["x"]]]]]]]}}),
        "invalid",
    ),
    ("text", json.dumps({"event": "x" * 60_000}), "unknown_event"),
    ("text", json.dumps({"event": "typing", "ref": "r" * 65}), "invalid"),
    (
        "text",
        json.dumps({"event": "send_message", "ref": "big", "data": {"receiverId": 2, "content": "y" * 10_001}}),
        "invalid",
    ),
    ("text", _send_frame("huge", receiverId=2, content="é" * 30_000), "invalid"),  # 60 KB of UTF-8
    ("text", "\x00", "invalid_json"),
    ("text", "", "invalid_json"),
    ("text", "   ", "invalid_json"),
    ("text", '{"event": "typing", "event": "typing", "data": {"conversationId": 1e400}}', "invalid_json"),
    ("text", '{"event": "mark_as_read", "data": {"conversationId": 1' + "0" * 5000 + "}}", "invalid_json"),
    ("bytes", b"\xff\xfe\x00garbage", "invalid"),
    ("bytes", json.dumps({"event": "join_personal_room"}).encode(), "invalid"),
]


async def test_hostile_frames_get_contract_errors_and_the_socket_stays_open(
    world: dict[str, Any],
) -> None:
    for index, (kind, payload, code) in enumerate(HOSTILE):
        try:
            await fuzz_one(world, kind, payload, code)
        except AssertionError as exc:
            raise AssertionError(f"hostile frame {index} ({str(payload)[:60]!r}...): {exc}") from exc


async def fuzz_one(world: dict[str, Any], kind: str, payload: str | bytes, code: str) -> None:
    socket = await open_socket(world["alice"])
    try:
        await raw_send(socket, kind, payload)
        await socket.c.send_to(text_data=json.dumps({"event": "join_personal_room", "ref": "sentinel"}))
        sentinel, answers = await socket.until(lambda f: f.get("ref") == "sentinel")
        assert sentinel["event"] == "ack"
        assert_contract(answers)
        assert [a["data"]["code"] for a in answers if a["event"] == "error"] == [code], (str(payload)[:80], answers)
    finally:
        await socket.c.disconnect()


@pytest.mark.parametrize("size", [64 * 1024 + 1, 1024 * 1024])
async def test_frames_over_64_kib_close_with_1009_and_others_are_unaffected(world: dict[str, Any], size: int) -> None:
    fuzzer = await open_socket(world["alice"])
    bystander = await open_socket(world["bob"])
    try:
        await fuzzer.c.send_to(text_data="x" * size)
        output = await fuzzer.c.receive_output(timeout=ANSWER_TIMEOUT)
        while output["type"] == "websocket.send":  # a server event (the bystander's presence) may come first
            assert json.loads(output["text"])["event"] not in {"ack", "error"}, output
            output = await fuzzer.c.receive_output(timeout=ANSWER_TIMEOUT)
        assert output == {"type": "websocket.close", "code": 1009}
        await bystander.c.send_to(text_data=json.dumps({"event": "join_personal_room", "ref": "alive"}))
        ack, _ = await bystander.until(lambda f: f.get("ref") == "alive")
        assert ack["event"] == "ack"
    finally:
        await fuzzer.c.disconnect()
        await bystander.c.disconnect()


async def test_a_flood_of_bad_and_valid_frames_is_answered_frame_by_frame(world: dict[str, Any], settings: Any) -> None:
    """500 frames at once: every one answered in order, sends past the rate limit refused, none lost."""
    settings.MESSAGE_RATE_LIMIT = RateLimit(30, 10)
    ids = world["ids"]
    fuzzer = await open_socket(world["alice"])
    bystander = await open_socket(world["bob"])
    started = time.monotonic()
    try:
        kinds = ["{", "[]", json.dumps({"event": "nope", "ref": 0}), "SEND"]
        for index in range(500):
            if index % 5 == 4:
                data = {"receiverId": ids["bob"], "content": f"flood {index}", "clientMessageId": f"f{index}"}
                frame = json.dumps({"event": "send_message", "ref": f"s{index}", "data": data})
            elif index % 5 == 3:
                frame = json.dumps(
                    {"event": "typing", "ref": f"t{index}", "data": {"conversationId": ids["conversation"]}}
                )
            else:
                frame = kinds[index % 3]
            await fuzzer.c.send_to(text_data=frame)
        await fuzzer.c.send_to(text_data=json.dumps({"event": "join_personal_room", "ref": "sentinel"}))
        _, answers = await fuzzer.until(lambda f: f.get("ref") == "sentinel", timeout=60)
        assert_contract(answers)
        answered = [a for a in answers if a["event"] in {"ack", "error"}]
        assert len(answered) == 500
        acked_sends = [a for a in answered if str(a.get("ref", "")).startswith("s") and a["event"] == "ack"]
        limited = [a for a in answered if a["event"] == "error" and a["data"]["code"] == "rate_limited"]
        typing = [a for a in answered if str(a.get("ref", "")).startswith("t")]
        assert len(acked_sends) == 30 and len(limited) == 70
        forwarded = sum(1 for a in typing if a["data"].get("forwarded"))
        elapsed = time.monotonic() - started
        assert 1 <= forwarded <= int(elapsed) + 1, (forwarded, elapsed)  # at most one a second per conversation
        stored = await _count(sender=world["alice"], content__startswith="flood")
        assert stored == 30
        await bystander.c.send_to(text_data=json.dumps({"event": "join_personal_room", "ref": "alive"}))
        ack, _ = await bystander.until(lambda f: f.get("ref") == "alive")
        assert ack["event"] == "ack"
        figure(
            f"\nflood: 500 frames answered in {elapsed:.1f} s; 30 sends stored, 70 rate limited, typing {forwarded}/100"
        )
    finally:
        await fuzzer.c.disconnect()
        await bystander.c.disconnect()


async def _count(**filters: Any) -> int:
    from channels.db import database_sync_to_async

    return int(await database_sync_to_async(lambda: Message.objects.filter(**filters).count())())
