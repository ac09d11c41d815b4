"""Sends racing each other in real threads and transactions: one conversation, gap-free seq,
id order equal to commit order, cursors that never skip, idempotency under retries.

These need a database that lets several connections write concurrently and makes them wait for
each other's locks: PostgreSQL (CI), or an SQLite file (tests/conftest.py gives each local run
one). Django's default in-memory SQLite test database is one shared cache in which a second
writer fails at once ("database table is locked"), so there they skip.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteDatabaseWrapper
from rest_framework.test import APIClient

from accounts.models import User
from chat.models import Conversation, Message, Reaction
from chat.selectors.messages import messages_in
from chat.services.messages import SendResult, send_message
from chat.services.reactions import MAX_DISTINCT_REACTIONS
from chat.validation import SendRequest
from core.pagination import Cursor, PageRequest
from tests.support.api import assert_failure, message_url
from tests.support.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _concurrent_writers(no_rate_limit: None) -> None:
    """Skip on in-memory SQLite (decided here, once the test database is in place); no rate limit."""
    db = connections[DEFAULT_DB_ALIAS]
    if isinstance(db, SQLiteDatabaseWrapper) and db.is_in_memory_db():
        pytest.skip("in-memory SQLite fails a second writer at once instead of making it wait")


def in_threads[T](count: int, work: Callable[[int], T], timeout: float = 30.0) -> list[T]:
    """Run `work(0..count-1)` in threads released together; re-raise the first failure."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout)
            results[index] = work(index)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    if errors:
        raise errors[0]
    return results


def send(sender: User, receiver: User, content: str = "hi", **fields: Any) -> SendResult:
    return send_message(sender=sender, request=SendRequest(receiver_id=receiver.pk, content=content, **fields))


def test_racing_first_messages_create_exactly_one_conversation(alice: User, bob: User) -> None:
    def first_message(i: int) -> int:
        sender, receiver = (alice, bob) if i % 2 else (bob, alice)
        return send(sender, receiver, f"first {i}").message.conversation_id

    conversation_ids = in_threads(12, first_message)
    assert Conversation.objects.count() == 1
    assert set(conversation_ids) == {Conversation.objects.get().pk}
    assert Message.objects.count() == 12


def test_concurrent_senders_get_seq_1_to_n_without_gaps(alice: User, bob: User) -> None:
    per_thread = 8

    def burst(i: int) -> None:
        sender, receiver = (alice, bob) if i % 2 else (bob, alice)
        for n in range(per_thread):
            send(sender, receiver, f"{i}.{n}")

    in_threads(6, burst)
    seqs = sorted(Message.objects.values_list("seq", flat=True))
    assert seqs == list(range(1, 6 * per_thread + 1))
    assert Conversation.objects.get().last_seq == 6 * per_thread


def test_concurrent_senders_get_ids_in_the_same_order_as_seq(alice: User, bob: User) -> None:
    def burst(i: int) -> None:
        sender, receiver = (alice, bob) if i % 2 else (bob, alice)
        for n in range(8):
            send(sender, receiver, f"{i}.{n}")

    in_threads(6, burst)
    by_id = list(Message.objects.order_by("id").values_list("seq", flat=True))
    assert by_id == sorted(by_id)


def test_the_preview_is_the_message_with_the_highest_seq_after_a_race(alice: User, bob: User) -> None:
    in_threads(8, lambda i: send(alice, bob, f"message {i}"))
    newest = Message.objects.order_by("-seq").first()
    assert newest is not None
    assert Conversation.objects.get().last_message == newest.content


def test_the_same_client_message_id_sent_concurrently_is_stored_once(alice: User, bob: User) -> None:
    results = in_threads(8, lambda i: send(alice, bob, "only once", client_message_id="retry-me"))
    assert Message.objects.count() == 1
    assert {r.message.pk for r in results} == {Message.objects.get().pk}
    assert [r.created for r in results].count(True) == 1


def test_a_lost_idempotent_race_leaves_no_gap_in_seq(alice: User, bob: User) -> None:
    in_threads(6, lambda i: send(alice, bob, "dup", client_message_id="same"))
    assert send(alice, bob, "next").message.seq == 2
    assert Conversation.objects.get().last_seq == 2


@pytest.fixture
def already_read(alice: User, bob: User) -> Message:
    return send(alice, bob, "already read").message


def backend_pid() -> int | None:
    """This thread's database session on PostgreSQL (None elsewhere)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def blocking(pid: int) -> list[int]:
    """The sessions whose locks PostgreSQL says `pid` is waiting for."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_blocking_pids(%s)", [pid])
        return list(cursor.fetchone()[0])


def waits_on_a_conversation_row(pid: int) -> bool:
    """A session blocked on a row takes that row's tuple lock while it waits (a wait on a unique
    index, say, takes none): is `pid`'s on a conversation row?"""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT FROM pg_locks WHERE pid = %s AND locktype = 'tuple' AND relation = %s::regclass)",
            [pid, Conversation._meta.db_table],
        )
        return bool(cursor.fetchone()[0])


@dataclass
class Held:
    """A send whose transaction has inserted its message (lock held, id taken) but not committed:
    setting `release` lets it commit; `messages[0]` is its message, `pid` its database session."""

    release: threading.Event
    messages: list[Message]
    pid: int | None


@pytest.fixture
def held_send(alice: User, bob: User, already_read: Message) -> Iterator[Held]:
    inserted = threading.Event()
    held = Held(threading.Event(), [], None)

    def hold() -> None:
        try:
            with transaction.atomic():
                held.pid = backend_pid()
                held.messages.append(send(alice, bob, "committed late").message)
                inserted.set()
                held.release.wait(20)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert inserted.wait(20), "the held send never inserted"
    yield held
    held.release.set()
    thread.join(20)


@dataclass
class Started:
    thread: threading.Thread
    sent: list[Message]  # its message, once it has committed
    pid: int | None


def start_send(sender: User, receiver: User, content: str) -> Started:
    """Start a send in a thread; returns once the thread has its database session."""
    connected = threading.Event()
    started = Started(threading.Thread(), [], None)

    def run() -> None:
        try:
            started.pid = backend_pid()
            connected.set()
            started.sent.append(send(sender, receiver, content).message)
        finally:
            connection.close()

    started.thread = threading.Thread(target=run)
    started.thread.start()
    assert connected.wait(20), "the send's thread never reached the database"
    return started


def wait_blocked_by(started: Started, held: Held) -> None:
    """Until the started send waits for the held send's locks (PostgreSQL shows who waits for whom);
    fails if it finishes instead. SQLite shows no waits: there the send is only given its start."""
    if started.pid is None or held.pid is None:
        return
    pid = started.pid
    blockers = wait_until(lambda: started.sent or blocking(pid), 20, "the send to finish or wait for a lock")
    assert started.sent == [], "the second send did not wait for the conversation lock"
    assert blockers == [held.pid]
    assert waits_on_a_conversation_row(pid), "the second send waits, but not for the conversation row"


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite has one lock for the whole file and shows no waits"
)
def test_a_send_waits_for_the_conversation_lock_of_an_uncommitted_send(
    storage_path: None, alice: User, bob: User, held_send: Held
) -> None:
    started = start_send(bob, alice, "sent while locked")
    wait_blocked_by(started, held_send)
    held_send.release.set()
    started.thread.join(20)
    assert [m.seq for m in [*held_send.messages, *started.sent]] == [2, 3]


def test_a_cursor_read_never_skips_a_message_that_commits_late(
    storage_path: None, alice: User, bob: User, already_read: Message, held_send: Held
) -> None:
    """The hazard: A takes id 10, B takes id 11 and commits, a reader sees 11 and asks after=11,
    then A commits 10 and is never fetched. The conversation lock makes B wait for A before it
    takes an id, so a reader polling `after=<last id seen>` meanwhile sees neither, then both."""
    started = start_send(bob, alice, "sent while locked")
    wait_blocked_by(started, held_send)
    received: list[Message] = []
    page = PageRequest(page=1, limit=50)

    def poll() -> None:
        last = received[-1].pk if received else already_read.pk
        result = messages_in(alice, already_read.conversation_id, page=page, cursor=Cursor(after=last))
        received.extend(result.items)

    poll()  # while A holds the lock: B is waiting, so nothing is visible yet
    held_send.release.set()
    started.thread.join(20)
    poll()
    assert [m.content for m in received] == ["committed late", "sent while locked"]
    (late,), (waiting,) = held_send.messages, started.sent
    assert late.pk < waiting.pk
    assert (late.seq, waiting.seq) == (2, 3)


def test_a_reader_polling_after_its_last_id_during_a_burst_sees_every_message_in_order(alice: User, bob: User) -> None:
    conversation_id = send(alice, bob, "start").message.conversation_id
    writers, per_writer = 4, 15
    finished = threading.Event()
    received: list[int] = []

    def write(i: int) -> None:
        sender, receiver = (alice, bob) if i % 2 else (bob, alice)
        for n in range(per_writer):
            send(sender, receiver, f"{i}.{n}")

    def read() -> None:
        last = Message.objects.get(seq=1).pk
        page = PageRequest(page=1, limit=7)
        try:
            while True:
                done = finished.is_set()  # read once more after the writers finish
                result = messages_in(alice, conversation_id, page=page, cursor=Cursor(after=last))
                for message in result.items:
                    received.append(message.seq)
                    last = message.pk
                if done and not result.items:
                    return
        finally:
            connection.close()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        in_threads(writers, write)
    finally:
        finished.set()
        reader.join(30)
    assert received == list(range(2, writers * per_writer + 2))


def test_concurrent_batches_over_the_same_conversations_in_any_order_never_deadlock_or_skip(
    alice: User, bob: User, carol: User
) -> None:
    """Each batch touches both conversations, in opposite orders: the batches wait for each
    other's row locks (taken in id order) instead of deadlocking, and seq stays gap-free."""
    from chat.services.messages import Send, send_messages

    send(alice, bob, "first")
    send(alice, carol, "first")
    rounds = 6

    def batches(i: int) -> None:
        pairs = [(alice, bob), (carol, alice)] if i % 2 else [(alice, carol), (bob, alice)]
        for n in range(rounds):
            sends = [Send(s, SendRequest(receiver_id=r.pk, content=f"{i}.{n}")) for s, r in pairs * 2]
            assert all(isinstance(answer, SendResult) for answer in send_messages(sends=sends))

    in_threads(6, batches)
    for conversation in Conversation.objects.all():
        seqs = list(Message.objects.filter(conversation=conversation).order_by("id").values_list("seq", flat=True))
        assert seqs == list(range(1, len(seqs) + 1))  # gap-free, and id order is seq order
        assert conversation.last_seq == len(seqs) == 1 + 6 * rounds * 2


def _react_new(clients: list[APIClient], message_id: int, i: int) -> Any:
    """Racer i adds its own new emoji (🐀, 🐁, ...)."""
    return clients[i].put(f"{message_url(message_id)}/reactions/{quote(chr(0x1F400 + i), safe='')}")


def test_racing_new_reactions_store_exactly_twenty_distinct_and_refuse_the_rest(
    alice: User, bob: User, client_for: Callable[[User], APIClient]
) -> None:
    """With 19 distinct emoji on a message, eight requests each adding a new one race (released
    together by a barrier, each on its own connection): the message's row lock lets exactly one
    become the 20th; the others see 20 and get a 400. Several messages, so that a race lost
    without the lock shows up rather than depending on one lucky interleaving."""
    racers = 8
    clients = [client_for(alice if i % 2 else bob) for i in range(racers)]
    for round_ in range(4):
        message = send(alice, bob, f"react to me {round_}").message
        Reaction.objects.bulk_create(
            Reaction(message=message, user=bob, emoji=chr(0x1F600 + i)) for i in range(MAX_DISTINCT_REACTIONS - 1)
        )
        answers = in_threads(racers, partial(_react_new, clients, message.pk))
        assert sorted(a.status_code for a in answers) == [200] + [400] * (racers - 1), [a.content for a in answers]
        for refused in (a for a in answers if a.status_code == 400):
            assert "emoji" in assert_failure(refused, 400)["errors"]
        stored = Reaction.objects.filter(message=message).values_list("emoji", flat=True)
        assert len(set(stored)) == len(stored) == MAX_DISTINCT_REACTIONS
        (winner,) = (a for a in answers if a.status_code == 200)
        assert len(winner.json()["data"]["reactions"]) == MAX_DISTINCT_REACTIONS
